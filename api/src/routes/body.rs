//! JSON request bodies: size-limited, and every parse failure is a 400 (not JSON) or a 422
//! (JSON of the wrong shape) naming the field.

use serde::de::DeserializeOwned;
use warp::Filter;

use crate::config::Limits;
use crate::error::ApiError;

pub fn json<T: DeserializeOwned + Send>(
    limits: Limits,
) -> impl Filter<Extract = (T,), Error = warp::Rejection> + Clone {
    let (limit, timeout) = (limits.max_body_bytes, limits.body_timeout);
    warp::header::optional::<u64>("content-length")
        .and(warp::body::stream())
        .and_then(move |length: Option<u64>, body| async move {
            // A body trickled in a byte at a time must not hold the request forever.
            tokio::time::timeout(timeout, read(length, body, limit))
                .await
                .unwrap_or(Err(ApiError::RequestTimeout))
                .and_then(|bytes| parse(&bytes))
                .map_err(warp::reject::custom)
        })
}

/// Reads the body, refusing it as soon as it is known to exceed `limit`: from the
/// Content-Length when there is one, else while the chunks arrive.
async fn read<S, B>(length: Option<u64>, body: S, limit: u64) -> Result<Vec<u8>, ApiError>
where
    S: futures::Stream<Item = Result<B, warp::Error>>,
    B: bytes::Buf,
{
    use futures::StreamExt;
    if length.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut out = Vec::with_capacity(length.unwrap_or(0) as usize);
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        let mut chunk =
            chunk.map_err(|e| ApiError::BadRequest(format!("the body could not be read: {e}")))?;
        if out.len() as u64 + chunk.remaining() as u64 > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            out.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    Ok(out)
}

/// Every body the API takes is a JSON object; serde would also fill a struct from an array
/// (`[]` for one whose fields are optional), which no client means.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if let Some(first) = bytes.iter().find(|b| !b.is_ascii_whitespace())
        && *first != b'{'
        && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
    {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => ApiError::Invalid {
                field: "body",
                reason: if path == "." {
                    inner.to_string()
                } else {
                    format!("{path}: {inner}")
                },
            },
            _ => ApiError::BadRequest(format!("the body is not valid JSON: {inner}")),
        }
    })?;
    de.end()
        .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        title: Option<String>,
    }

    #[test]
    fn syntax_errors_are_400_and_shape_errors_422() {
        assert!(parse::<Body>(br#"{"title":"a"}"#).is_ok());
        assert!(matches!(parse::<Body>(b"{"), Err(ApiError::BadRequest(_))));
        assert!(matches!(parse::<Body>(b""), Err(ApiError::BadRequest(_))));
        match parse::<Body>(br#"{"title":5}"#) {
            Err(ApiError::Invalid { reason, .. }) => assert!(reason.contains("title"), "{reason}"),
            other => panic!("expected a 422, got {other:?}"),
        }
        for not_an_object in [&b"[1]"[..], b"[]", b"null", b"\"x\"", b" [ ] "] {
            assert!(
                matches!(parse::<Body>(not_an_object), Err(ApiError::Invalid { .. })),
                "{not_an_object:?}"
            );
        }
    }
}
