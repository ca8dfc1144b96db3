use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use super::Db;
use uuid::Uuid;

use super::{StoredJson, Text, Timestamp};
use crate::domain::{
    ConversationId, Cursor, MessageContent, MessageStatus, PageSize, Role, Sources, UserId,
};

#[derive(Debug, Clone, Serialize)]
pub struct MessageRow {
    pub id: Uuid,
    pub conversation_id: ConversationId,
    pub role: Role,
    pub content: String,
    /// Passed through as stored: history reads never need to look inside.
    pub sources: StoredJson,
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

/// The newest `size` messages before `before` (newest first, plus one to detect a next page),
/// or `None` when the conversation is not the owner's. One round trip: the ownership check
/// and the page come from the same statement. The message columns are NULL for a conversation
/// without messages (the `?` overrides). The macro decodes columns by position, as this hot read
/// path wants (by-name lookups showed in its profile). The connection is taken first rather than
/// the query run on the pool: the pool's executor wraps the connection's row stream in a stream
/// of its own, which every row passes through (with the request's span entered and left again).
/// The text and timestamp columns decode through `store::columns`; the conversation's id is not
/// selected, as every row's is the one asked for.
pub async fn page(
    db: &Db,
    owner: &UserId,
    conversation: ConversationId,
    size: PageSize,
    before: Option<Cursor>,
) -> Result<Option<Vec<MessageRow>>, sqlx::Error> {
    let mut conn = db.acquire().await?;
    let rows = sqlx::query!(
        r#"SELECT m.id AS "id?", m.role AS "role?: Role", m.content AS "content?: Text",
                m.sources AS "sources?: StoredJson", m.agent_type AS "agent_type?: Text",
                m.status AS "status?: MessageStatus", m.created_at AS "created_at?: Timestamp"
           FROM conversations c
           LEFT JOIN LATERAL (
                SELECT id, role, content, sources, agent_type, status, created_at
                  FROM messages
                 WHERE conversation_id = c.id
                   AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
                 ORDER BY created_at DESC, id DESC
                 LIMIT $5) m ON true
          WHERE c.id = $1 AND c.user_id = $2"#,
        conversation.as_uuid(),
        owner.as_ref(),
        before.map(|c| c.at),
        before.map(|c| c.id),
        size.fetch(),
    )
    .fetch_all(&mut *conn)
    .await?;
    conn.done();
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        rows.into_iter()
            .filter_map(|r| {
                Some(MessageRow {
                    id: r.id?,
                    conversation_id: conversation,
                    role: r.role?,
                    content: r.content?.0,
                    sources: r.sources?,
                    agent_type: r.agent_type.map(|a| a.0),
                    status: r.status?,
                    created_at: r.created_at?.0,
                })
            })
            .collect(),
    ))
}

/// What an append did.
#[derive(Debug)]
pub enum Appended {
    Stored(MessageRow),
    /// The conversation is not the owner's (nothing is written).
    NotFound,
    /// The conversation has no room under the cap (nothing is written).
    Full,
}

/// How an append counts against the conversation's message cap (`conversations.message_count`).
#[derive(Debug, Clone, Copy)]
pub struct Slots {
    /// Added to the count: 1 for a message, 2 for an `/agents/run` question (it reserves its
    /// answer's slot), 0 for that answer (it fills the slot reserved for it).
    pub take: i32,
    /// The cap; checked only when `take` is above 0.
    pub max: i32,
}

impl Slots {
    pub fn one(max: i32) -> Self {
        Self { take: 1, max }
    }
}

/// Appends a message and touches the conversation in one statement. The `UPDATE` locks the
/// conversation's row and re-checks the count under the lock, so concurrent appends never take
/// it past the cap. When nothing was written, a second statement tells a full conversation
/// from one that is not the owner's.
pub async fn append(
    conn: &mut PgConnection,
    owner: &UserId,
    conversation: ConversationId,
    message: NewMessage,
    slots: Slots,
) -> Result<Appended, sqlx::Error> {
    let row = sqlx::query_as!(
        MessageRow,
        r#"WITH c AS (
            UPDATE conversations
               SET updated_at = now(), message_count = message_count + $9
             WHERE id = $1 AND user_id = $2 AND ($9 = 0 OR message_count + $9 <= $10)
            RETURNING id)
         INSERT INTO messages (id, conversation_id, role, content, sources, agent_type, status)
         SELECT $3, c.id, $4, $5, $6, $7, $8 FROM c
         RETURNING id, conversation_id AS "conversation_id: ConversationId", role AS "role: Role",
                   content, sources AS "sources: StoredJson", agent_type,
                   status AS "status: MessageStatus", created_at"#,
        conversation.as_uuid(),
        owner.as_ref(),
        Uuid::now_v7(),
        message.role.as_str(),
        message.content.as_ref(),
        message.sources.into_value(),
        message.agent_type,
        message.status.as_str(),
        slots.take,
        slots.max,
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = row {
        return Ok(Appended::Stored(row));
    }
    let exists = sqlx::query_scalar!(
        r#"SELECT true AS "exists!" FROM conversations WHERE id = $1 AND user_id = $2"#,
        conversation.as_uuid(),
        owner.as_ref(),
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(if exists.is_some() {
        Appended::Full
    } else {
        Appended::NotFound
    })
}

/// The owner's last `limit` complete messages of a conversation other than `except` (the
/// question being answered), oldest first: the history given to the model.
pub async fn recent_turns(
    db: &Db,
    owner: &UserId,
    conversation: ConversationId,
    except: Uuid,
    limit: i64,
) -> Result<Vec<(Role, String)>, sqlx::Error> {
    let mut rows = sqlx::query!(
        r#"SELECT m.role AS "role: Role", m.content
           FROM conversations c
           JOIN messages m ON m.conversation_id = c.id
          WHERE c.id = $1 AND c.user_id = $2 AND m.id <> $3 AND m.status = 'complete'
          ORDER BY m.created_at DESC, m.id DESC
          LIMIT $4"#,
        conversation.as_uuid(),
        owner.as_ref(),
        except,
        limit,
    )
    .map(|r| (r.role, r.content))
    .fetch_all(db)
    .await?;
    rows.reverse();
    Ok(rows)
}
