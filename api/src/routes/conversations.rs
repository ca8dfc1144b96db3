//! `/conversations`: list (keyset pages, newest first), create, read, rename, delete.

use serde::Deserialize;
use warp::Filter;
use warp::http::StatusCode;
use warp::reply::Response;

use super::query::{Query, params};
use super::table::{Operation, at, at_id};
use super::{body, conversation_id, page, respond};
use crate::auth::{AuthUser, with_auth};
use crate::chat::start_conversation;
use crate::context::ApiContext;
use crate::domain::Title;
use crate::error::ApiError;
use crate::store;

#[derive(Debug, Deserialize)]
struct NewConversation {
    #[serde(default)]
    title: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RenameConversation {
    title: String,
}

pub fn routes(
    ctx: ApiContext,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    let limits = ctx.limits;
    let auth = with_auth(ctx.auth.clone());
    let with_ctx = warp::any().map(move || ctx.clone());

    let list = at(Operation::ListConversations)
        .and(auth.clone())
        .and(params())
        .and(with_ctx.clone())
        .then(|user, q, ctx| async move { respond(list(user, q, ctx).await) });
    let create = at(Operation::CreateConversation)
        .and(auth.clone())
        .and(body::json::<NewConversation>(limits))
        .and(with_ctx.clone())
        .then(|user, body, ctx| async move { respond(create(user, body, ctx).await) });
    let get = at_id(Operation::GetConversation)
        .and(auth.clone())
        .and(with_ctx.clone())
        .then(|id, user, ctx| async move { respond(get(id, user, ctx).await) });
    let rename = at_id(Operation::RenameConversation)
        .and(auth.clone())
        .and(body::json::<RenameConversation>(limits))
        .and(with_ctx.clone())
        .then(|id, user, body, ctx| async move { respond(rename(id, user, body, ctx).await) });
    let delete = at_id(Operation::DeleteConversation)
        .and(auth)
        .and(with_ctx)
        .then(|id, user, ctx| async move { respond(delete(id, user, ctx).await) });
    list.or(create)
        .unify()
        .or(get)
        .unify()
        .or(rename)
        .unify()
        .or(delete)
        .unify()
}

#[tracing::instrument(level = "debug", name = "Listing conversations", skip_all)]
async fn list(user: AuthUser, q: Query, ctx: ApiContext) -> Result<Response, ApiError> {
    let size = page::size(&q, &ctx)?;
    let after = page::cursor(&q, "cursor")?;
    let mut rows = store::conversations::list(&ctx.db, &user.id, size, after).await?;
    let next = page::trim(&mut rows, size, |last| {
        format!(
            "/conversations?limit={}&cursor={}",
            size.get(),
            last.cursor().encode()
        )
    });
    Ok(page::reply(&rows, next))
}

#[tracing::instrument(level = "debug", name = "Creating a conversation", skip_all)]
async fn create(
    user: AuthUser,
    body: NewConversation,
    ctx: ApiContext,
) -> Result<Response, ApiError> {
    let title = match body.title.as_deref() {
        None => Title::parse("New conversation", ctx.limits.max_title_chars),
        Some(raw) => Title::parse(raw, ctx.limits.max_title_chars),
    }
    .map_err(|e| ApiError::invalid("title", e))?;
    let row = start_conversation(&ctx, &user, &title).await?;
    let mut res = warp::Reply::into_response(warp::reply::with_status(
        warp::reply::json(&row),
        StatusCode::CREATED,
    ));
    if let Ok(v) = warp::http::HeaderValue::from_str(&format!("/conversations/{}", row.id)) {
        res.headers_mut().insert(warp::http::header::LOCATION, v);
    }
    Ok(res)
}

#[tracing::instrument(level = "debug", name = "Reading a conversation", skip_all)]
async fn get(id: String, user: AuthUser, ctx: ApiContext) -> Result<impl warp::Reply, ApiError> {
    let id = conversation_id(&id)?;
    let row = store::conversations::get(&ctx.db, &user.id, id)
        .await?
        .ok_or(ApiError::NotFound("conversation"))?;
    Ok(warp::reply::json(&row))
}

#[tracing::instrument(level = "debug", name = "Renaming a conversation", skip_all)]
async fn rename(
    id: String,
    user: AuthUser,
    body: RenameConversation,
    ctx: ApiContext,
) -> Result<impl warp::Reply, ApiError> {
    let id = conversation_id(&id)?;
    let title = Title::parse(&body.title, ctx.limits.max_title_chars)
        .map_err(|e| ApiError::invalid("title", e))?;
    let row = store::conversations::rename(&ctx.db, &user.id, id, &title)
        .await?
        .ok_or(ApiError::NotFound("conversation"))?;
    Ok(warp::reply::json(&row))
}

#[tracing::instrument(level = "debug", name = "Deleting a conversation", skip_all)]
async fn delete(id: String, user: AuthUser, ctx: ApiContext) -> Result<impl warp::Reply, ApiError> {
    let id = conversation_id(&id)?;
    if store::conversations::delete(&ctx.db, &user.id, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("conversation"))
    }
}
