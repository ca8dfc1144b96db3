//! Liveness and readiness. Ready means: the database answers, the JWKS has been loaded, and
//! the corpus of `RAG_CORPUS_DIR` (when set) has been ingested.

use std::time::Duration;

use serde_json::json;
use warp::Filter;
use warp::http::StatusCode;
use warp::reply::Response;

use super::table::{Operation, at};
use crate::context::ApiContext;

pub fn routes(
    ctx: ApiContext,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    let healthz = at(Operation::Liveness)
        .map(|| warp::Reply::into_response(warp::reply::json(&json!({"status": "ok"}))));
    let readyz = at(Operation::Readiness).then(move || readiness(ctx.clone()));
    healthz.or(readyz).unify()
}

async fn readiness(ctx: ApiContext) -> Response {
    let database = tokio::time::timeout(
        Duration::from_secs(2),
        sqlx::query_scalar!("SELECT 1").fetch_one(&ctx.db),
    )
    .await;
    let database_ok = matches!(database, Ok(Ok(_)));
    let jwks_ok = ctx.jwks.is_loaded();
    let corpus_ok = ctx.rag.corpus_ready();
    let status = if database_ok && jwks_ok && corpus_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if status == StatusCode::OK { "ready" } else { "not ready" },
        "database": if database_ok { "ok" } else { "unreachable" },
        "jwks": if jwks_ok { "ok" } else { "not loaded" },
        "corpus": if corpus_ok { "ok" } else { "not ingested" },
    });
    warp::Reply::into_response(warp::reply::with_status(warp::reply::json(&body), status))
}
