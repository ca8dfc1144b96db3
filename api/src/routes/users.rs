//! `GET /users/me` (the caller, as synced from the token) and `DELETE /users/me` (erase all of
//! the caller's chat data).

use warp::Filter;
use warp::http::StatusCode;
use warp::reply::Response;

use super::respond;
use super::table::{Operation, at};
use crate::auth::{AuthUser, with_auth};
use crate::context::ApiContext;
use crate::error::ApiError;
use crate::store;

pub fn routes(
    ctx: ApiContext,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    let auth = with_auth(ctx.auth.clone());
    let with_ctx = warp::any().map(move || ctx.clone());
    let get = at(Operation::GetMe)
        .and(auth.clone())
        .and(with_ctx.clone())
        .then(|user, ctx| async move { respond(get_me(user, ctx).await) });
    let delete = at(Operation::EraseMe)
        .and(auth)
        .and(with_ctx)
        .then(|user, ctx| async move { respond(delete_me(user, ctx).await) });
    get.or(delete).unify()
}

#[tracing::instrument(level = "debug", name = "Reading the caller's profile", skip_all)]
async fn get_me(user: AuthUser, ctx: ApiContext) -> Result<impl warp::Reply, ApiError> {
    if let Some(row) = store::users::get(&ctx.db, &user.id).await? {
        return Ok(warp::reply::json(&row));
    }
    // Erased by another replica since this one last synced: write the row again.
    ctx.auth.users().write(&user).await?;
    let row = store::users::get(&ctx.db, &user.id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    Ok(warp::reply::json(&row))
}

#[tracing::instrument(level = "debug", name = "Erasing the caller's chat data", skip_all)]
async fn delete_me(user: AuthUser, ctx: ApiContext) -> Result<impl warp::Reply, ApiError> {
    store::users::delete(&ctx.db, &user.id).await?;
    ctx.auth.users().forget(&user.id);
    tracing::info!(target: "security", event = "user_data_erased", user_id = user.id.as_ref(), "user erased their chat data");
    Ok(StatusCode::NO_CONTENT)
}
