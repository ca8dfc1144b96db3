//! `GET /search?q=`: full-text search over the caller's own messages.

use warp::Filter;
use warp::reply::Response;

use super::query::{Query, params};
use super::table::{Operation, at};
use super::{page, respond};
use crate::auth::{AuthUser, with_auth};
use crate::context::ApiContext;
use crate::error::ApiError;
use crate::store;

pub fn routes(
    ctx: ApiContext,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    let auth = with_auth(ctx.auth.clone());
    at(Operation::Search)
        .and(auth)
        .and(params())
        .and(warp::any().map(move || ctx.clone()))
        .then(|user, q, ctx| async move { respond(search(user, q, ctx).await) })
}

#[tracing::instrument(level = "debug", name = "Searching messages", skip_all)]
async fn search(user: AuthUser, q: Query, ctx: ApiContext) -> Result<impl warp::Reply, ApiError> {
    let text = q
        .get("q")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::BadRequest("the query parameter q is required".into()))?;
    if text.chars().count() > ctx.limits.max_search_chars {
        return Err(ApiError::invalid(
            "q",
            format!("must be at most {} characters", ctx.limits.max_search_chars),
        ));
    }
    if text.contains('\0') {
        return Err(ApiError::invalid("q", "must not contain NUL characters"));
    }
    let size = page::size(&q, &ctx)?;
    let Some(_turn) = ctx.search_gate.enter(&user.id) else {
        return Err(ApiError::RateLimited {
            retry_after: std::time::Duration::from_secs(1),
        });
    };
    let hits = store::search::messages(
        &ctx.db,
        &user.id,
        text,
        size,
        ctx.limits.search_statement_timeout,
    )
    .await?;
    Ok(warp::reply::json(&hits))
}
