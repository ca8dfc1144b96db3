//! The HTTP surface: each module serves its operations of the route table (`table.rs`); this
//! file merges them and adds CORS and the one place where rejections become problem documents.

mod agents;
mod body;
mod conversations;
mod health;
mod idempotency;
mod message_json;
mod messages;
mod metrics;
mod openapi;
mod page;
mod query;
mod search;
mod search_gate;
mod table;
mod users;
mod web;

use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, Method, StatusCode, header};
use warp::reply::Response;

use crate::context::ApiContext;
use crate::domain::ConversationId;
use crate::error::{ApiError, recover};

pub use search_gate::SearchGate;
pub use table::label as route_label;
pub use table::{Matched, allowed_methods};
pub use web::WebSettings;

/// The whole API as one filter, with the web UI (when `web` is set) behind every API route.
pub fn routes(
    ctx: ApiContext,
    cors_origins: &[String],
    web: Option<&WebSettings>,
) -> anyhow::Result<BoxedFilter<(Response,)>> {
    let api = health::routes(ctx.clone())
        .or(openapi::routes(ctx.limits))
        .unify()
        .or(users::routes(ctx.clone()))
        .unify()
        .or(conversations::routes(ctx.clone()))
        .unify()
        .or(messages::routes(ctx.clone()))
        .unify()
        .or(search::routes(ctx.clone()))
        .unify()
        .or(agents::routes(ctx))
        .unify()
        .or(web::routes(web)?)
        .unify()
        .recover(recover)
        .unify();
    let cors = warp::cors()
        .allow_origins(cors_origins.iter().map(String::as_str))
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            "authorization",
            "content-type",
            "accept",
            "x-user-id",
            "x-request-id",
            idempotency::REQUEST_HEADER,
        ])
        .expose_headers([
            "link",
            "location",
            "retry-after",
            "x-request-id",
            idempotency::REPLAYED_HEADER,
        ])
        .max_age(600);
    Ok(api
        .with(cors)
        .map(warp::Reply::into_response)
        .recover(recover)
        .unify()
        .boxed())
}

/// What the metrics listener (`METRICS_ADDR`) serves: `/metrics` and JSON 404s.
pub fn metrics_routes(ctx: ApiContext) -> BoxedFilter<(Response,)> {
    metrics::routes(ctx).recover(recover).unify().boxed()
}

/// Handlers return `Result<impl Reply, ApiError>`; this makes one `Response` of either side.
fn respond<T: warp::Reply>(result: Result<T, ApiError>) -> Response {
    match result {
        Ok(reply) => reply.into_response(),
        Err(e) => warp::Reply::into_response(e),
    }
}

/// A response whose body is JSON already encoded (a stored replay, or rows written by
/// `message_json`); an error status gets the problem media type.
fn encoded_json(status: u16, body: impl Into<bytes::Bytes>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = Response::new(body.into().into());
    *res.status_mut() = status;
    let kind = if status.is_client_error() || status.is_server_error() {
        "application/problem+json"
    } else {
        "application/json"
    };
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    res
}

/// Parses a conversation id from the path; a malformed one is a 400 with a reason.
fn conversation_id(raw: &str) -> Result<ConversationId, ApiError> {
    ConversationId::parse(raw)
        .map_err(|_| ApiError::BadRequest("conversation id must be a UUID".into()))
}
