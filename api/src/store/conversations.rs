use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use super::Db;

use crate::domain::{ConversationId, Cursor, PageSize, Title, UserId};

#[derive(Debug, Clone, Serialize)]
pub struct ConversationRow {
    pub id: ConversationId,
    pub title: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ConversationRow {
    pub fn cursor(&self) -> Cursor {
        Cursor {
            at: self.updated_at,
            id: self.id.as_uuid(),
        }
    }
}

pub const USER_FK: &str = "conversations_user_id_fkey";

pub async fn create<'e, E>(
    db: E,
    owner: &UserId,
    title: &Title,
) -> Result<ConversationRow, sqlx::Error>
where
    E: sqlx::PgExecutor<'e>,
{
    sqlx::query_as!(
        ConversationRow,
        r#"INSERT INTO conversations (id, user_id, title) VALUES ($1, $2, $3)
         RETURNING id AS "id: ConversationId", title, created_at, updated_at"#,
        ConversationId::new().as_uuid(),
        owner.as_ref(),
        title.as_ref(),
    )
    .fetch_one(db)
    .await
}

/// The owner's conversation bound to the client session key `key`, created (titled `title`)
/// when the key is new. Two first uses at once create one conversation: the loser of the
/// insert finds the winner's row.
pub async fn for_client_key(
    db: &mut PgConnection,
    owner: &UserId,
    key: &str,
    title: &Title,
) -> Result<ConversationRow, sqlx::Error> {
    let created = sqlx::query_as!(
        ConversationRow,
        r#"INSERT INTO conversations (id, user_id, title, client_key) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id, client_key) DO NOTHING
         RETURNING id AS "id: ConversationId", title, created_at, updated_at"#,
        ConversationId::new().as_uuid(),
        owner.as_ref(),
        title.as_ref(),
        key,
    )
    .fetch_optional(&mut *db)
    .await?;
    if let Some(row) = created {
        return Ok(row);
    }
    sqlx::query_as!(
        ConversationRow,
        r#"SELECT id AS "id: ConversationId", title, created_at, updated_at FROM conversations
          WHERE user_id = $1 AND client_key = $2"#,
        owner.as_ref(),
        key,
    )
    .fetch_one(&mut *db)
    .await
}

/// The owner's conversations, most recently updated first, after `after` when given. Fetches
/// one row more than the page so the caller knows whether a next page exists.
pub async fn list(
    db: &Db,
    owner: &UserId,
    size: PageSize,
    after: Option<Cursor>,
) -> Result<Vec<ConversationRow>, sqlx::Error> {
    sqlx::query_as!(
        ConversationRow,
        r#"SELECT id AS "id: ConversationId", title, created_at, updated_at FROM conversations
          WHERE user_id = $1
            AND ($2::timestamptz IS NULL OR (updated_at, id) < ($2, $3))
          ORDER BY updated_at DESC, id DESC
          LIMIT $4"#,
        owner.as_ref(),
        after.map(|c| c.at),
        after.map(|c| c.id),
        size.fetch(),
    )
    .fetch_all(db)
    .await
}

pub async fn get(
    db: &Db,
    owner: &UserId,
    id: ConversationId,
) -> Result<Option<ConversationRow>, sqlx::Error> {
    sqlx::query_as!(
        ConversationRow,
        r#"SELECT id AS "id: ConversationId", title, created_at, updated_at FROM conversations
          WHERE id = $1 AND user_id = $2"#,
        id.as_uuid(),
        owner.as_ref(),
    )
    .fetch_optional(db)
    .await
}

pub async fn rename(
    db: &Db,
    owner: &UserId,
    id: ConversationId,
    title: &Title,
) -> Result<Option<ConversationRow>, sqlx::Error> {
    sqlx::query_as!(
        ConversationRow,
        r#"UPDATE conversations SET title = $3, updated_at = now()
          WHERE id = $1 AND user_id = $2
          RETURNING id AS "id: ConversationId", title, created_at, updated_at"#,
        id.as_uuid(),
        owner.as_ref(),
        title.as_ref(),
    )
    .fetch_optional(db)
    .await
}

pub async fn delete(db: &Db, owner: &UserId, id: ConversationId) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "DELETE FROM conversations WHERE id = $1 AND user_id = $2",
        id.as_uuid(),
        owner.as_ref(),
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}
