//! `/conversations/{id}/messages`: a page of messages (oldest first within the page, older
//! pages through `before`), and append.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use warp::Filter;
use warp::http::StatusCode;
use warp::reply::Response;

use super::query::{Query, params};
use super::table::{self, Operation, at_id};
use super::{body, conversation_id, encoded_json, idempotency, message_json, page, respond};
use crate::auth::{AuthUser, with_auth};
use crate::chat::{self, Idempotency, Once};
use crate::context::ApiContext;
use crate::domain::{IdempotencyKey, MessageContent, MessageStatus, Role, Sources};
use crate::error::ApiError;
use crate::store;
use crate::store::messages::{NewMessage, Slots};

/// Serialized (canonically) for the fingerprint of an idempotent append.
#[derive(Debug, Deserialize, Serialize)]
struct AppendMessage {
    role: String,
    content: String,
    /// `null` is kept as `Some(Null)` (and refused): absent means none, null is a mistake.
    #[serde(default, deserialize_with = "present")]
    sources: Option<Value>,
    #[serde(default)]
    agent_type: Option<String>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

pub fn routes(
    ctx: ApiContext,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    let limits = ctx.limits;
    let auth = with_auth(ctx.auth.clone());
    let with_ctx = warp::any().map(move || ctx.clone());
    let list = at_id(Operation::ListMessages)
        .and(auth.clone())
        .and(params())
        .and(with_ctx.clone())
        .then(|id, user, q, ctx| async move { respond(list(id, user, q, ctx).await) });
    let append =
        at_id(Operation::AppendMessage)
            .and(auth)
            .and(idempotency::key())
            .and(body::json::<AppendMessage>(limits))
            .and(with_ctx)
            .then(|id, user, key, body, ctx| async move {
                respond(append(id, user, key, body, ctx).await)
            });
    list.or(append).unify()
}

#[tracing::instrument(level = "debug", name = "Reading messages", skip_all)]
async fn list(id: String, user: AuthUser, q: Query, ctx: ApiContext) -> Result<Response, ApiError> {
    let id = conversation_id(&id)?;
    let size = page::size(&q, &ctx)?;
    let before = page::cursor(&q, "before")?;
    let mut rows = store::messages::page(&ctx.db, &user.id, id, size, before)
        .await?
        .ok_or(ApiError::NotFound("conversation"))?;
    // Rows come newest first; the extra one only says an older page exists.
    let next = page::trim(&mut rows, size, |oldest| {
        format!(
            "/conversations/{id}/messages?limit={}&before={}",
            size.get(),
            oldest.cursor().encode()
        )
    });
    rows.reverse();
    Ok(page::reply_encoded(message_json::page(&rows), next))
}

#[tracing::instrument(level = "debug", name = "Appending a message", skip_all)]
async fn append(
    id: String,
    user: AuthUser,
    key: Option<IdempotencyKey>,
    body: AppendMessage,
    ctx: ApiContext,
) -> Result<Response, ApiError> {
    let id = conversation_id(&id)?;
    let idem = key.map(|key| {
        let route = table::template(Operation::AppendMessage);
        Idempotency::new(key, "POST", route, Some(id), &body)
    });
    let message = NewMessage {
        role: Role::parse(&body.role).map_err(|e| ApiError::invalid("role", e))?,
        content: MessageContent::parse(body.content, ctx.limits.max_message_chars)
            .map_err(|e| ApiError::invalid("content", e))?,
        sources: Sources::parse(body.sources).map_err(|e| ApiError::invalid("sources", e))?,
        agent_type: match body.agent_type {
            Some(a)
                if a.len() > 32 || a.chars().any(|c| !c.is_ascii_alphanumeric() && c != '_') =>
            {
                return Err(ApiError::invalid(
                    "agent_type",
                    "must be a short identifier",
                ));
            }
            other => other,
        },
        status: MessageStatus::Complete,
    };
    if let Some(idem) = idem {
        return Ok(
            match chat::append_once(&ctx, &user, id, message, &idem).await? {
                Once::Fresh(body) => encoded_json(StatusCode::CREATED.as_u16(), body),
                Once::Replayed(replay) => idempotency::replayed(replay),
            },
        );
    }
    let max = ctx.limits.max_messages_per_conversation;
    let mut conn = ctx.db.acquire().await?;
    let appended =
        store::messages::append(&mut conn, &user.id, id, message, Slots::one(max)).await?;
    conn.done();
    let row = chat::stored(appended, max)?;
    Ok(encoded_json(
        StatusCode::CREATED.as_u16(),
        message_json::one(&row),
    ))
}
