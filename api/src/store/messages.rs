use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::{
    ConversationId, Cursor, MessageContent, MessageStatus, PageSize, Role, Sources, UserId,
};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct MessageRow {
    pub id: Uuid,
    pub conversation_id: ConversationId,
    pub role: Role,
    pub content: String,
    /// Passed through as stored: history reads never need to look inside.
    pub sources: Box<RawValue>,
    pub agent_type: Option<String>,
    pub status: MessageStatus,
    pub created_at: DateTime<Utc>,
}

impl MessageRow {
    pub fn cursor(&self) -> Cursor {
        Cursor {
            at: self.created_at,
            id: self.id,
        }
    }
}

/// A message to append. `status` is `complete` unless a stream or a model failed.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub role: Role,
    pub content: MessageContent,
    pub sources: Sources,
    pub agent_type: Option<String>,
    pub status: MessageStatus,
}

/// A row of the page query, decoded by position (the hot read path; by-name lookups showed in
/// its profile). The message columns are NULL for a conversation without messages.
type PageRow = (
    Option<Uuid>,
    ConversationId,
    Option<Role>,
    Option<String>,
    Option<Box<RawValue>>,
    Option<String>,
    Option<MessageStatus>,
    Option<DateTime<Utc>>,
);

/// The newest `size` messages before `before` (newest first, plus one to detect a next page),
/// or `None` when the conversation is not the owner's. One round trip: the ownership check
/// and the page come from the same statement.
pub async fn page(
    db: &PgPool,
    owner: &UserId,
    conversation: ConversationId,
    size: PageSize,
    before: Option<Cursor>,
) -> Result<Option<Vec<MessageRow>>, sqlx::Error> {
    let rows: Vec<PageRow> = sqlx::query_as(
        "SELECT m.id, c.id AS conversation_id, m.role, m.content, m.sources, m.agent_type,
                m.status, m.created_at
           FROM conversations c
           LEFT JOIN LATERAL (
                SELECT id, role, content, sources, agent_type, status, created_at
                  FROM messages
                 WHERE conversation_id = c.id
                   AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
                 ORDER BY created_at DESC, id DESC
                 LIMIT $5) m ON true
          WHERE c.id = $1 AND c.user_id = $2",
    )
    .bind(conversation)
    .bind(owner.as_ref())
    .bind(before.map(|c| c.at))
    .bind(before.map(|c| c.id))
    .bind(size.fetch())
    .fetch_all(db)
    .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        rows.into_iter()
            .filter_map(
                |(id, conversation_id, role, content, sources, agent_type, status, created_at)| {
                    Some(MessageRow {
                        id: id?,
                        conversation_id,
                        role: role?,
                        content: content?,
                        sources: sources?,
                        agent_type,
                        status: status?,
                        created_at: created_at?,
                    })
                },
            )
            .collect(),
    ))
}

/// Appends a message and touches the conversation in one statement; `None` when the
/// conversation is not the owner's (nothing is written then).
pub async fn append<'e, E>(
    db: E,
    owner: &UserId,
    conversation: ConversationId,
    message: NewMessage,
) -> Result<Option<MessageRow>, sqlx::Error>
where
    E: sqlx::PgExecutor<'e>,
{
    sqlx::query_as(
        "WITH c AS (
            UPDATE conversations SET updated_at = now()
             WHERE id = $1 AND user_id = $2
            RETURNING id)
         INSERT INTO messages (id, conversation_id, role, content, sources, agent_type, status)
         SELECT $3, c.id, $4, $5, $6, $7, $8 FROM c
         RETURNING id, conversation_id, role, content, sources, agent_type, status, created_at",
    )
    .bind(conversation)
    .bind(owner.as_ref())
    .bind(Uuid::now_v7())
    .bind(message.role.as_str())
    .bind(message.content.as_ref())
    .bind(message.sources.into_value())
    .bind(message.agent_type)
    .bind(message.status.as_str())
    .fetch_optional(db)
    .await
}

/// The owner's last `limit` complete messages of a conversation other than `except` (the
/// question being answered), oldest first: the history given to the model.
pub async fn recent_turns(
    db: &PgPool,
    owner: &UserId,
    conversation: ConversationId,
    except: Uuid,
    limit: i64,
) -> Result<Vec<(Role, String)>, sqlx::Error> {
    let mut rows: Vec<(Role, String)> = sqlx::query_as(
        "SELECT m.role, m.content
           FROM conversations c
           JOIN messages m ON m.conversation_id = c.id
          WHERE c.id = $1 AND c.user_id = $2 AND m.id <> $3 AND m.status = 'complete'
          ORDER BY m.created_at DESC, m.id DESC
          LIMIT $4",
    )
    .bind(conversation)
    .bind(owner.as_ref())
    .bind(except)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.reverse();
    Ok(rows)
}
