//! The one error type of the HTTP layer, rendered as RFC 9457 `application/problem+json`.
//!
//! Handlers return `Result<impl Reply, ApiError>`; filters that must stop a request (auth, body
//! parsing) reject with an `ApiError`, and [`recover`] renders those and warp's own rejections.
//! Internal causes are logged here and never sent to the client.

use std::convert::Infallible;
use std::time::Duration;

use serde::Serialize;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reject::Rejection;
use warp::reply::{Reply, Response};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The caller is not authenticated; why went to the security log where it was found.
    #[error("unauthorized")]
    Unauthorized,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("invalid field {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    /// The request body did not arrive within `HTTP_BODY_TIMEOUT_SECS`.
    #[error("request body timed out")]
    RequestTimeout,
    #[error("rate limited")]
    RateLimited { retry_after: Duration },
    /// A dependency (database, auth server) cannot answer now; the detail is for the log.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The language model failed (an HTTP error after retries, a broken answer); the detail
    /// is for the log.
    #[error("model failed: {0}")]
    ModelFailed(String),
    #[error("model timed out")]
    ModelTimeout,
    /// A write that would duplicate what exists (a unique constraint).
    #[error("conflict: {0}")]
    Conflict(String),
    /// An `Idempotency-Key` already used with another request (another body, route or
    /// conversation).
    #[error("idempotency key reused with another request")]
    IdempotencyKeyReused,
    /// The first request with this `Idempotency-Key` is still being answered.
    #[error("idempotency key in flight")]
    IdempotencyKeyInFlight { retry_after: Duration },
    /// The conversation holds `MAX_MESSAGES_PER_CONVERSATION` messages (or would, with the
    /// answer an `/agents/run` needs room for).
    #[error("conversation full ({max} messages)")]
    ConversationFull { max: i32 },
    /// Built only by `From<sqlx::Error>`, which decides what a database error means.
    #[error("database error")]
    Database(sqlx::Error),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl warp::reject::Reject for ApiError {}

/// The problem document (RFC 9457). `type` is a stable URI per kind of problem.
#[derive(Debug, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
}

impl Problem {
    pub fn new(status: StatusCode, slug: &str, title: &'static str, detail: String) -> Self {
        Self {
            kind: format!("https://chatplane.dev/problems/{slug}"),
            title,
            status: status.as_u16(),
            detail,
            field: None,
        }
    }

    pub fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut res = Response::new(body.into());
        *res.status_mut() = status;
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        res
    }
}

impl ApiError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        ApiError::Invalid {
            field,
            reason: reason.into(),
        }
    }

    /// The problem document of this error as it is sent: its status and body (what an
    /// idempotent request's record keeps of a failure).
    pub fn problem_body(&self) -> (StatusCode, String) {
        let problem = self.problem();
        (
            self.status(),
            serde_json::to_string(&problem).unwrap_or_default(),
        )
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Conflict(_)
            | ApiError::IdempotencyKeyInFlight { .. }
            | ApiError::ConversationFull { .. } => StatusCode::CONFLICT,
            ApiError::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::ModelFailed(_) => StatusCode::BAD_GATEWAY,
            ApiError::ModelTimeout => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Database(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn problem(&self) -> Problem {
        let status = self.status();
        match self {
            // Nothing about why: an attacker learns nothing from a 401.
            ApiError::Unauthorized => Problem::new(
                status,
                "unauthorized",
                "Unauthorized",
                "a valid bearer token is required".into(),
            ),
            ApiError::NotFound(what) => Problem::new(
                status,
                "not-found",
                "Not Found",
                format!("{what} not found"),
            ),
            ApiError::BadRequest(detail) => {
                Problem::new(status, "bad-request", "Bad Request", detail.clone())
            }
            ApiError::Invalid { field, reason } => {
                let mut p = Problem::new(
                    status,
                    "invalid-field",
                    "Unprocessable Content",
                    format!("{field}: {reason}"),
                );
                p.field = Some(field);
                p
            }
            ApiError::PayloadTooLarge { limit } => Problem::new(
                status,
                "payload-too-large",
                "Content Too Large",
                format!("the request body must be at most {limit} bytes"),
            ),
            ApiError::RequestTimeout => Problem::new(
                status,
                "request-timeout",
                "Request Timeout",
                "the request body did not arrive in time".into(),
            ),
            ApiError::RateLimited { retry_after } => Problem::new(
                status,
                "rate-limited",
                "Too Many Requests",
                format!("retry after {} s", retry_after.as_secs().max(1)),
            ),
            ApiError::Unavailable(_) => Problem::new(
                status,
                "unavailable",
                "Service Unavailable",
                "the service is temporarily unavailable".into(),
            ),
            ApiError::Conflict(_) => Problem::new(
                status,
                "conflict",
                "Conflict",
                "this would duplicate something that exists".into(),
            ),
            ApiError::IdempotencyKeyReused => Problem::new(
                status,
                "idempotency-key-reused",
                "Unprocessable Content",
                "this Idempotency-Key was already used with another request; a new request needs a new key"
                    .into(),
            ),
            ApiError::IdempotencyKeyInFlight { retry_after } => Problem::new(
                status,
                "idempotency-key-in-flight",
                "Conflict",
                format!(
                    "the first request with this Idempotency-Key is still being answered; retry after {} s",
                    retry_after.as_secs().max(1)
                ),
            ),
            ApiError::ConversationFull { max } => Problem::new(
                status,
                "conversation-full",
                "Conflict",
                format!(
                    "the conversation holds the most messages allowed ({max}); start a new conversation"
                ),
            ),
            ApiError::ModelFailed(_) => Problem::new(
                status,
                "model-failed",
                "Bad Gateway",
                "the language model failed to answer; the question is saved in the conversation"
                    .into(),
            ),
            ApiError::ModelTimeout => Problem::new(
                status,
                "model-timeout",
                "Gateway Timeout",
                "the language model did not answer in time; the question is saved in the conversation"
                    .into(),
            ),
            ApiError::Database(_) | ApiError::Internal(_) => Problem::new(
                status,
                "internal",
                "Internal Server Error",
                "an unexpected error occurred".into(),
            ),
        }
    }
}

impl Reply for ApiError {
    fn into_response(self) -> Response {
        // Auth failures were logged (security stream) where they were detected.
        if matches!(
            self,
            ApiError::Database(_)
                | ApiError::Internal(_)
                | ApiError::Unavailable(_)
                | ApiError::ModelFailed(_)
                | ApiError::ModelTimeout
        ) {
            tracing::error!(error = %error_chain(&self), "request failed");
        }
        let mut res = self.problem().into_response();
        match self {
            ApiError::Unauthorized => {
                res.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            // The rest of the body may still come; this connection is done.
            ApiError::RequestTimeout => {
                res.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            ApiError::RateLimited { retry_after }
            | ApiError::IdempotencyKeyInFlight { retry_after } => {
                if let Ok(v) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string()) {
                    res.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            ApiError::Unavailable(_) => {
                res.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_static(RETRY_UNAVAILABLE),
                );
            }
            _ => {}
        }
        res
    }
}

/// Formats an error with its whole `source()` chain for the log.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(cause) = cur {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        cur = cause.source();
    }
    out
}

/// Seconds a client is asked to wait after a 503: about the pool's acquire timeout.
const RETRY_UNAVAILABLE: &str = "5";

/// The one place that decides what a database error means to the client: a database that
/// cannot serve now (no connection from the pool, a refused or broken connection, too many
/// clients, a server shutting down) is a 503 with `Retry-After`; a unique violation is a 409;
/// anything else is a 500.
impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if unavailable(&e) {
            return ApiError::Unavailable(format!("database: {}", error_chain(&e)));
        }
        if let sqlx::Error::Database(d) = &e
            && d.kind() == sqlx::error::ErrorKind::UniqueViolation
        {
            return ApiError::Conflict(d.constraint().unwrap_or("unique").to_owned());
        }
        ApiError::Database(e)
    }
}

fn unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => true,
        // SQLSTATE classes 08 (connection exception), 53 (insufficient resources, e.g. too
        // many connections) and 57P (operator intervention: shutdown, cannot connect now).
        sqlx::Error::Database(d) => d.code().is_some_and(|code| {
            // 57014: a statement cancelled by its statement_timeout (a bounded /search).
            code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P")
                || code == "57014"
        }),
        _ => false,
    }
}

/// Turns every rejection (ours and warp's) into a problem document.
pub async fn recover(rejection: Rejection) -> Result<Response, Infallible> {
    if let Some(e) = rejection.find::<ApiError>() {
        // `find` only lends the error; rebuild an owned one for the reply.
        return Ok(clone_for_reply(e).into_response());
    }
    let problem = if rejection.is_not_found() {
        Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not Found",
            "no such resource".into(),
        )
    } else if let Some(e) = rejection.find::<warp::reject::InvalidQuery>() {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad Request",
            format!("invalid query string: {e}"),
        )
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Content Too Large",
            "the request body is too large".into(),
        )
    } else if rejection.find::<warp::reject::LengthRequired>().is_some() {
        Problem::new(
            StatusCode::LENGTH_REQUIRED,
            "length-required",
            "Length Required",
            "a Content-Length header is required".into(),
        )
    } else if rejection
        .find::<warp::reject::UnsupportedMediaType>()
        .is_some()
    {
        Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported Media Type",
            "the request body must be application/json".into(),
        )
    } else if let Some(e) = rejection.find::<warp::reject::InvalidHeader>() {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad Request",
            e.to_string(),
        )
    } else if let Some(e) = rejection.find::<warp::reject::MissingHeader>() {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad Request",
            e.to_string(),
        )
    } else if let Some(e) = rejection.find::<warp::filters::cors::CorsForbidden>() {
        tracing::info!(target: "security", event = "cors_forbidden", reason = %e, "CORS request refused");
        Problem::new(
            StatusCode::FORBIDDEN,
            "cors-forbidden",
            "Forbidden",
            "this origin, method or header is not allowed".into(),
        )
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method Not Allowed",
            "this method is not allowed on this resource".into(),
        )
    } else {
        tracing::error!(rejection = ?rejection, "unhandled rejection");
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal Server Error",
            "an unexpected error occurred".into(),
        )
    };
    Ok(problem.into_response())
}

fn clone_for_reply(e: &ApiError) -> ApiError {
    match e {
        ApiError::Unauthorized => ApiError::Unauthorized,
        ApiError::NotFound(w) => ApiError::NotFound(w),
        ApiError::BadRequest(d) => ApiError::BadRequest(d.clone()),
        ApiError::Invalid { field, reason } => ApiError::Invalid {
            field,
            reason: reason.clone(),
        },
        ApiError::PayloadTooLarge { limit } => ApiError::PayloadTooLarge { limit: *limit },
        ApiError::RequestTimeout => ApiError::RequestTimeout,
        ApiError::RateLimited { retry_after } => ApiError::RateLimited {
            retry_after: *retry_after,
        },
        ApiError::Unavailable(d) => ApiError::Unavailable(d.clone()),
        ApiError::ModelFailed(d) => ApiError::ModelFailed(d.clone()),
        ApiError::ModelTimeout => ApiError::ModelTimeout,
        ApiError::Conflict(d) => ApiError::Conflict(d.clone()),
        ApiError::IdempotencyKeyReused => ApiError::IdempotencyKeyReused,
        ApiError::IdempotencyKeyInFlight { retry_after } => ApiError::IdempotencyKeyInFlight {
            retry_after: *retry_after,
        },
        ApiError::ConversationFull { max } => ApiError::ConversationFull { max: *max },
        other => ApiError::Internal(anyhow::anyhow!(error_chain(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_that_cannot_serve_now_is_a_503_with_retry_after_and_the_rest_a_500() {
        for e in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(std::io::ErrorKind::ConnectionRefused.into()),
        ] {
            let res = ApiError::from(e).into_response();
            assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(
                res.headers().get(header::RETRY_AFTER),
                Some(&HeaderValue::from_static(RETRY_UNAVAILABLE))
            );
        }
        let res = ApiError::from(sqlx::Error::RowNotFound).into_response();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(res.headers().get(header::RETRY_AFTER).is_none());
    }
}
