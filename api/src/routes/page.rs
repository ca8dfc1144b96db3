//! Keyset pages: `limit` and cursor parameters, the extra row that tells whether a next page
//! exists, and the JSON array reply with its RFC 8288 `Link: <…>; rel="next"` header.

use warp::reply::Response;

use super::query::Query;
use crate::context::ApiContext;
use crate::domain::{Cursor, PageSize};
use crate::error::ApiError;

/// A JSON array reply with an RFC 8288 `Link: <…>; rel="next"` header when there is more.
pub fn reply<T: serde::Serialize>(items: &[T], next: Option<String>) -> Response {
    with_link(warp::Reply::into_response(warp::reply::json(&items)), next)
}

/// [`reply`] for an array already encoded.
pub fn reply_encoded(json: Vec<u8>, next: Option<String>) -> Response {
    with_link(super::encoded_json(200, json), next)
}

fn with_link(mut res: Response, next: Option<String>) -> Response {
    if let Some(next) = next
        && let Ok(v) = warp::http::HeaderValue::from_str(&format!("<{next}>; rel=\"next\""))
    {
        res.headers_mut().insert(warp::http::header::LINK, v);
    }
    res
}

pub fn size(q: &Query, ctx: &ApiContext) -> Result<PageSize, ApiError> {
    PageSize::parse(
        q.get("limit").map(String::as_str),
        ctx.limits.default_page_size,
        ctx.limits.max_page_size,
    )
    .map_err(ApiError::BadRequest)
}

pub fn cursor(q: &Query, name: &str) -> Result<Option<Cursor>, ApiError> {
    q.get(name)
        .map(|raw| Cursor::parse(raw).map_err(|e| ApiError::BadRequest(format!("{name}: {e}"))))
        .transpose()
}

/// Drops the extra row fetched to detect a next page and returns the link to that page, built
/// from the last row kept.
pub fn trim<T>(
    rows: &mut Vec<T>,
    size: PageSize,
    link: impl FnOnce(&T) -> String,
) -> Option<String> {
    if rows.len() <= size.get() as usize {
        return None;
    }
    rows.truncate(size.get() as usize);
    rows.last().map(link)
}
