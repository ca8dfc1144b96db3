//! The `Idempotency-Key` request header and the `Idempotent-Replayed` response header of the
//! routes that append (`POST /conversations/{id}/messages`, `POST /agents/run`).

use warp::Filter;
use warp::http::{HeaderMap, HeaderValue};
use warp::reply::Response;

use crate::chat::Replay;
use crate::domain::IdempotencyKey;
use crate::error::ApiError;

pub const REQUEST_HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// The request's key, if it sent one; a malformed or repeated header is a 400 with the reason.
pub fn key() -> impl Filter<Extract = (Option<IdempotencyKey>,), Error = warp::Rejection> + Clone {
    warp::header::headers_cloned().and_then(|headers: HeaderMap| async move {
        IdempotencyKey::from_header_values(
            headers
                .get_all(REQUEST_HEADER)
                .iter()
                .map(HeaderValue::as_bytes),
        )
        .map_err(|reason| warp::reject::custom(ApiError::BadRequest(reason)))
    })
}

/// The first response to a key, sent again, marked `Idempotent-Replayed: true`.
pub fn replayed(replay: Replay) -> Response {
    mark(super::encoded_json(replay.status, replay.body))
}

pub fn mark(mut res: Response) -> Response {
    res.headers_mut()
        .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    res
}
