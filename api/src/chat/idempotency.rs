//! Idempotent writes: a request sent with an `Idempotency-Key` is done once; its retries get the
//! first response back (status and body, byte for byte) instead of a second write.
//!
//! The key's record is written in the transaction of the write it stands for, so there is never
//! a message without its record or a record without its message. A concurrent retry of
//! `POST …/messages` waits for the first one's transaction (the key's primary key) and then
//! replays it; a retry of an `/agents/run` whose answer is still being written gets a 409 with
//! `Retry-After`.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::context::ApiContext;
use crate::domain::{ConversationId, IdempotencyKey};
use crate::error::ApiError;
use crate::store;
use crate::store::idempotency::KeyRecord;
use crate::store::messages::{NewMessage, Slots};

/// How long a client is asked to wait before retrying a key that is in flight.
const RETRY_IN_FLIGHT_SECS: u64 = 1;

/// A request's key and the fingerprint of what it asks.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub key: IdempotencyKey,
    pub fingerprint: [u8; 32],
}

impl Idempotency {
    /// Fingerprints the request: SHA-256 over the method, the route template, the conversation
    /// of the path (if any) and the canonical JSON (object keys sorted, no whitespace) of the
    /// parsed body, so a retry that spells the same body differently is still the same request.
    pub fn new(
        key: IdempotencyKey,
        method: &str,
        route: &str,
        conversation: Option<ConversationId>,
        body: &impl Serialize,
    ) -> Self {
        let body = serde_json::to_value(body)
            .map(canonical)
            .unwrap_or(Value::Null);
        let mut h = Sha256::new();
        for part in [
            method,
            route,
            &conversation.map(|c| c.to_string()).unwrap_or_default(),
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.update(body.to_string().as_bytes());
        Self {
            key,
            fingerprint: h.finalize().into(),
        }
    }
}

/// Sorts object keys at every depth (serde_json keeps them sorted unless its `preserve_order`
/// feature is on somewhere in the build; this does not depend on that).
fn canonical(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, canonical(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

/// A response stored for a key, sent again to a retry.
#[derive(Debug, Clone)]
pub struct Replay {
    pub status: u16,
    pub body: String,
    /// `/agents/run`: the stored question (the `sources` event of a replayed stream names it).
    pub question_id: Option<Uuid>,
}

/// The outcome of a write done once per key.
#[derive(Debug)]
pub enum Once {
    /// Done now: the response body (as stored for retries).
    Fresh(String),
    /// Done before: the first response.
    Replayed(Replay),
}

/// What a claimed key already holds, decided from its record.
pub(super) enum Held {
    Replay(Replay),
    /// An `/agents/run` abandoned in flight, taken over by this request: resume from its
    /// stored question.
    Resume {
        conversation: ConversationId,
        question: Uuid,
    },
}

/// Decides what a retry gets from the record of its key.
pub(super) async fn held(
    ctx: &ApiContext,
    user: &AuthUser,
    idem: &Idempotency,
    record: Option<KeyRecord>,
) -> Result<Held, ApiError> {
    let in_flight = ApiError::IdempotencyKeyInFlight {
        retry_after: std::time::Duration::from_secs(RETRY_IN_FLIGHT_SECS),
    };
    // Gone between the claim and the read (expired and swept, or its conversation deleted):
    // the client retries and claims it anew.
    let Some(record) = record else {
        return Err(in_flight);
    };
    if record.fingerprint != idem.fingerprint {
        return Err(ApiError::IdempotencyKeyReused);
    }
    if let Some((status, body)) = record.response {
        return Ok(Held::Replay(Replay {
            status,
            body,
            question_id: record.question_id,
        }));
    }
    if record.abandoned
        && let (Some(conversation), Some(question)) = (record.conversation_id, record.question_id)
        && store::idempotency::take_over(
            &ctx.db,
            &user.id,
            &idem.key,
            ctx.limits.idempotency_in_flight,
        )
        .await?
    {
        tracing::warn!("resuming an /agents/run whose first attempt was abandoned");
        return Ok(Held::Resume {
            conversation,
            question,
        });
    }
    Err(in_flight)
}

/// Appends a message once per key: the first request stores it and its record in one
/// transaction; a retry gets the first response.
pub async fn append_once(
    ctx: &ApiContext,
    user: &AuthUser,
    conversation: ConversationId,
    message: NewMessage,
    idem: &Idempotency,
) -> Result<Once, ApiError> {
    let mut conn = ctx.db.acquire().await?;
    let mut tx = conn.begin().await?;
    let claimed = match store::idempotency::claim(
        &mut tx,
        &user.id,
        &idem.key,
        &idem.fingerprint,
        ctx.limits.idempotency_ttl,
    )
    .await
    {
        Ok(claimed) => claimed,
        // No user row: the caller has no conversation at all.
        Err(e) if store::violates(&e, store::idempotency::USER_FK) => {
            return Err(ApiError::NotFound("conversation"));
        }
        Err(e) => return Err(e.into()),
    };
    if !claimed {
        let record = store::idempotency::find(
            &mut tx,
            &user.id,
            &idem.key,
            ctx.limits.idempotency_in_flight,
        )
        .await?;
        tx.rollback().await?;
        conn.done();
        return match held(ctx, user, idem, record).await? {
            Held::Replay(replay) => Ok(Once::Replayed(replay)),
            // A message append is never left in flight; a key in flight is an /agents/run's,
            // whose fingerprint differs.
            Held::Resume { .. } => Err(ApiError::IdempotencyKeyReused),
        };
    }
    let max = ctx.limits.max_messages_per_conversation;
    let appended =
        store::messages::append(&mut tx, &user.id, conversation, message, Slots::one(max)).await?;
    let row = super::stored(appended, max)?;
    let body = serde_json::to_string(&row)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("cannot encode the message: {e}")))?;
    store::idempotency::complete(&mut tx, &user.id, &idem.key, conversation, 201, &body).await?;
    tx.commit().await?;
    conn.done();
    Ok(Once::Fresh(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> IdempotencyKey {
        IdempotencyKey::parse(b"k").unwrap()
    }

    #[test]
    fn the_fingerprint_ignores_spelling_and_sees_every_part() {
        let c = ConversationId::new();
        let a = Idempotency::new(
            key(),
            "POST",
            "/r",
            Some(c),
            &json!({"a": 1, "b": {"y": 2, "x": 1}}),
        );
        let b = Idempotency::new(
            key(),
            "POST",
            "/r",
            Some(c),
            &json!({"b": {"x": 1, "y": 2}, "a": 1}),
        );
        assert_eq!(a.fingerprint, b.fingerprint);
        for other in [
            Idempotency::new(
                key(),
                "POST",
                "/r",
                Some(c),
                &json!({"a": 2, "b": {"y": 2, "x": 1}}),
            ),
            Idempotency::new(
                key(),
                "POST",
                "/s",
                Some(c),
                &json!({"a": 1, "b": {"y": 2, "x": 1}}),
            ),
            Idempotency::new(
                key(),
                "POST",
                "/r",
                None,
                &json!({"a": 1, "b": {"y": 2, "x": 1}}),
            ),
            Idempotency::new(
                key(),
                "POST",
                "/r",
                Some(ConversationId::new()),
                &json!({"a": 1, "b": {"y": 2, "x": 1}}),
            ),
        ] {
            assert_ne!(a.fingerprint, other.fingerprint);
        }
    }
}
