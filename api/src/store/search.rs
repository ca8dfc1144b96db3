use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::Db;

use crate::domain::{PageSize, UserId};

#[derive(Debug, Serialize)]
pub struct SearchHit {
    pub message_id: Uuid,
    pub conversation_id: Uuid,
    pub conversation_title: String,
    pub role: String,
    pub snippet: String,
    pub rank: f32,
    pub created_at: DateTime<Utc>,
}

/// Full-text search over the owner's messages only, best match first; the statement is
/// cancelled after `timeout` (SQLSTATE 57014, a 503 to the client).
pub async fn messages(
    db: &Db,
    owner: &UserId,
    query: &str,
    size: PageSize,
    timeout: std::time::Duration,
) -> Result<Vec<SearchHit>, sqlx::Error> {
    let mut conn = db.acquire().await?;
    let mut tx = conn.begin().await?;
    sqlx::query("SELECT set_config('statement_timeout', $1, true)")
        .bind(format!("{}ms", timeout.as_millis()))
        .execute(&mut *tx)
        .await?;
    // `"rank!"`, `"snippet!"`: function results, which the macro cannot prove non-null.
    let hits = sqlx::query_as!(
        SearchHit,
        r#"SELECT m.id AS message_id, c.id AS conversation_id, c.title AS conversation_title,
                m.role, m.created_at,
                ts_rank(m.search, q) AS "rank!",
                ts_headline('english', m.content, q,
                            'MaxWords=30, MinWords=10, StartSel=**, StopSel=**') AS "snippet!"
           FROM conversations c
           JOIN messages m ON m.conversation_id = c.id,
                websearch_to_tsquery('english', $2) q
          WHERE c.user_id = $1 AND m.search @@ q
          ORDER BY "rank!" DESC, m.created_at DESC
          LIMIT $3"#,
        owner.as_ref(),
        query,
        i64::from(size.get()),
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    conn.done();
    Ok(hits)
}
