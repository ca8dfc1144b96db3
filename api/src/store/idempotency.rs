//! `idempotency_keys`: what a request sent with an `Idempotency-Key` did, so a retry of it gets
//! the first result instead of a second write. Every statement is scoped by the owner: one
//! user's key never meets another user's.

use std::time::Duration;

use sqlx::PgConnection;

use super::Db;
use uuid::Uuid;

use crate::domain::{ConversationId, IdempotencyKey, UserId};

pub const USER_FK: &str = "idempotency_keys_user_id_fkey";

/// A key already claimed, as the claimer left it.
#[derive(Debug)]
pub struct KeyRecord {
    pub fingerprint: Vec<u8>,
    pub conversation_id: Option<ConversationId>,
    pub question_id: Option<Uuid>,
    /// `None` while the first request is in flight.
    pub response: Option<(u16, String)>,
    /// In flight for longer than the in-flight bound: its request is presumed lost.
    pub abandoned: bool,
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Claims `key` for a new request: `true` when this call created the record (or replaced one
/// older than `ttl`, which counts as gone). A concurrent claim of the same key waits here until
/// the first transaction ends (the primary key's uniqueness check), then sees its record.
pub async fn claim(
    conn: &mut PgConnection,
    owner: &UserId,
    key: &IdempotencyKey,
    fingerprint: &[u8],
    ttl: Duration,
) -> Result<bool, sqlx::Error> {
    let claimed = sqlx::query_scalar!(
        r#"INSERT INTO idempotency_keys (user_id, key, fingerprint) VALUES ($1, $2, $3)
         ON CONFLICT (user_id, key) DO UPDATE
            SET fingerprint = EXCLUDED.fingerprint, conversation_id = NULL, question_id = NULL,
                response_status = NULL, response_body = NULL, created_at = now(),
                locked_at = now()
          WHERE idempotency_keys.created_at < now() - make_interval(secs => $4)
         RETURNING true AS "claimed!""#,
        owner.as_ref(),
        key.as_ref(),
        fingerprint,
        secs(ttl),
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(claimed.is_some())
}

/// The record of `key`, when there is one.
pub async fn find(
    conn: &mut PgConnection,
    owner: &UserId,
    key: &IdempotencyKey,
    in_flight: Duration,
) -> Result<Option<KeyRecord>, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT fingerprint, conversation_id AS "conversation_id: ConversationId", question_id,
                  response_status, response_body,
                  locked_at < now() - make_interval(secs => $3) AS "abandoned!"
             FROM idempotency_keys WHERE user_id = $1 AND key = $2"#,
        owner.as_ref(),
        key.as_ref(),
        secs(in_flight),
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| KeyRecord {
        fingerprint: r.fingerprint,
        conversation_id: r.conversation_id,
        question_id: r.question_id,
        response: match (r.response_status, r.response_body) {
            (Some(status), Some(body)) => Some((u16::try_from(status).unwrap_or(500), body)),
            _ => None,
        },
        abandoned: r.abandoned,
    }))
}

/// Notes what the request in flight has written so far (an `/agents/run` question).
pub async fn note_progress(
    conn: &mut PgConnection,
    owner: &UserId,
    key: &IdempotencyKey,
    conversation: ConversationId,
    question: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE idempotency_keys SET conversation_id = $3, question_id = $4
          WHERE user_id = $1 AND key = $2",
        owner.as_ref(),
        key.as_ref(),
        conversation.as_uuid(),
        question,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records the response of the request that holds `key`; in the transaction of its last write.
pub async fn complete(
    conn: &mut PgConnection,
    owner: &UserId,
    key: &IdempotencyKey,
    conversation: ConversationId,
    status: u16,
    body: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE idempotency_keys
            SET conversation_id = $3, response_status = $4, response_body = $5
          WHERE user_id = $1 AND key = $2",
        owner.as_ref(),
        key.as_ref(),
        conversation.as_uuid(),
        i16::try_from(status).unwrap_or(500),
        body,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Takes over a key whose request was abandoned (in flight for longer than `in_flight`):
/// `true` for the one caller that won it.
pub async fn take_over(
    db: &Db,
    owner: &UserId,
    key: &IdempotencyKey,
    in_flight: Duration,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "UPDATE idempotency_keys SET locked_at = now()
          WHERE user_id = $1 AND key = $2 AND response_status IS NULL
            AND locked_at < now() - make_interval(secs => $3)",
        owner.as_ref(),
        key.as_ref(),
        secs(in_flight),
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes records older than `ttl`, at most `batch` rows per statement so a large backlog
/// never holds long locks; returns how many went.
pub async fn sweep(db: &Db, ttl: Duration, batch: i64) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    loop {
        let done = sqlx::query!(
            "DELETE FROM idempotency_keys WHERE ctid IN (
                SELECT ctid FROM idempotency_keys
                 WHERE created_at < now() - make_interval(secs => $1) LIMIT $2)",
            secs(ttl),
            batch,
        )
        .execute(db)
        .await?;
        total += done.rows_affected();
        if done.rows_affected() < u64::try_from(batch).unwrap_or(0).max(1) {
            return Ok(total);
        }
    }
}

/// How often expired keys are deleted.
pub const SWEEP_EVERY: Duration = Duration::from_secs(15 * 60);

/// Deletes expired keys now and every [`SWEEP_EVERY`] until `shutdown` changes. A key past its
/// `ttl` already counts as unused before the sweep reaches it (see [`claim`]).
pub fn spawn_sweeper(
    db: Db,
    ttl: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match sweep(&db, ttl, 10_000).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "expired idempotency keys deleted"),
                Err(e) => tracing::warn!(error = %e, "cannot delete expired idempotency keys"),
            }
            tokio::select! {
                _ = tokio::time::sleep(SWEEP_EVERY) => {}
                _ = shutdown.changed() => return,
            }
        }
    })
}
