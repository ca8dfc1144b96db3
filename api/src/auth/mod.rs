//! Who is calling: Better Auth JWTs verified against the JWKS, or Better Auth session tokens
//! verified by the auth server, and nothing else (DESIGN.md §3).
//!
//! A handler that needs a user takes an [`AuthUser`] from [`with_auth`]; without one it has no
//! user id to query with, so the check cannot be forgotten.

mod jwks;
mod jwt;
mod metrics;
mod session;
mod settings;
mod ttl_cache;
mod user_sync;

use std::sync::Arc;

use warp::Filter;
use warp::http::HeaderMap;

pub use jwks::{JwksCache, JwksError, VerifyingKey, parse_key_set};
pub use jwt::JwtVerifier;
pub use metrics::AuthMetrics;
pub use session::SessionVerifier;
pub use settings::AuthSettings;
pub use user_sync::UserSync;

use crate::domain::{Profile, UserId};
use crate::error::ApiError;

/// The verified caller: the id from the token's subject and the profile claims that came with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    pub id: UserId,
    pub profile: Profile,
}

impl AuthUser {
    /// The caller from a verified subject (`sub`, or the session's user id) and its profile.
    fn verified(subject: String, profile: Profile) -> Result<Self, AuthFailure> {
        let id = UserId::parse(subject).map_err(|_| AuthFailure::InvalidClaims)?;
        Ok(Self { id, profile })
    }
}

/// Why a request was not authenticated. Goes to the security log and the metrics, never to the
/// client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("no bearer token")]
    MissingToken,
    #[error("X-User-ID without a verified identity")]
    UserIdWithoutToken,
    #[error("X-User-ID differs from the verified subject")]
    UserIdMismatch,
    #[error("authorization header is not a bearer token")]
    NotBearer,
    #[error("token too large")]
    TokenTooLarge,
    #[error("malformed token")]
    Malformed,
    #[error("token header names a critical extension (crit)")]
    UnknownCritical,
    #[error("token header names no key id")]
    MissingKid,
    #[error("no key with this key id")]
    UnknownKid,
    #[error("token algorithm differs from the key's")]
    AlgorithmMismatch,
    #[error("bad signature")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token not valid yet")]
    NotYetValid,
    #[error("token issued in the future")]
    IssuedInFuture,
    #[error("wrong issuer")]
    WrongIssuer,
    #[error("wrong audience")]
    WrongAudience,
    #[error("required claim missing or invalid")]
    InvalidClaims,
    #[error("no valid key set from the auth server")]
    JwksUnavailable,
    #[error("session token not valid")]
    InvalidSession,
}

impl AuthFailure {
    /// A stable label for metrics and the security log.
    pub fn label(&self) -> &'static str {
        match self {
            AuthFailure::MissingToken => "missing_token",
            AuthFailure::UserIdWithoutToken => "user_id_without_token",
            AuthFailure::UserIdMismatch => "user_id_mismatch",
            AuthFailure::NotBearer => "not_bearer",
            AuthFailure::TokenTooLarge => "token_too_large",
            AuthFailure::Malformed => "malformed",
            AuthFailure::UnknownCritical => "unknown_crit",
            AuthFailure::MissingKid => "missing_kid",
            AuthFailure::UnknownKid => "unknown_kid",
            AuthFailure::AlgorithmMismatch => "algorithm_mismatch",
            AuthFailure::BadSignature => "bad_signature",
            AuthFailure::Expired => "expired",
            AuthFailure::NotYetValid => "not_yet_valid",
            AuthFailure::IssuedInFuture => "issued_in_future",
            AuthFailure::WrongIssuer => "wrong_issuer",
            AuthFailure::WrongAudience => "wrong_audience",
            AuthFailure::InvalidClaims => "invalid_claims",
            AuthFailure::JwksUnavailable => "jwks_unavailable",
            AuthFailure::InvalidSession => "invalid_session",
        }
    }
}

/// A verification that could not be completed (as opposed to one that failed).
#[derive(Debug, Clone)]
pub enum Unverified {
    Refused(AuthFailure),
    /// The auth server could not be asked; the caller gets a 503, not a 401 that would log them out.
    Unavailable(String),
}

impl From<AuthFailure> for Unverified {
    fn from(f: AuthFailure) -> Self {
        Unverified::Refused(f)
    }
}

/// Everything identity needs, built once at start-up.
pub struct Authenticator {
    jwt: JwtVerifier,
    sessions: SessionVerifier,
    users: UserSync,
    metrics: Arc<AuthMetrics>,
    max_token_bytes: usize,
}

impl Authenticator {
    pub fn new(
        settings: &AuthSettings,
        jwks: Arc<JwksCache>,
        db: crate::store::Db,
        metrics: Arc<AuthMetrics>,
    ) -> Result<Self, reqwest::Error> {
        Ok(Self {
            jwt: JwtVerifier::new(jwks, settings),
            sessions: SessionVerifier::new(settings)?,
            users: UserSync::new(db),
            metrics,
            max_token_bytes: settings.max_token_bytes,
        })
    }

    pub fn users(&self) -> &UserSync {
        &self.users
    }

    /// Verifies the request's credentials and brings the caller's users row up to date.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<AuthUser, ApiError> {
        // Two of either are ambiguous: a proxy that reads the last one would see another user.
        for name in ["authorization", "x-user-id"] {
            if headers.get_all(name).iter().nth(1).is_some() {
                tracing::warn!(target: "security", event = "duplicate_credential_header", header = name, "request refused: {name} sent twice");
                return Err(ApiError::BadRequest(format!(
                    "the {name} header must be sent at most once"
                )));
            }
        }
        let claimed = headers.get("x-user-id");
        let user = match self.verify(headers).await {
            Ok(user) => user,
            Err(Unverified::Refused(failure)) => {
                // X-User-ID with no verified identity is the hackathon bypass: name it as such.
                let failure = match (failure, claimed) {
                    (AuthFailure::MissingToken, Some(_)) => AuthFailure::UserIdWithoutToken,
                    (f, _) => f,
                };
                return Err(self.refuse(failure));
            }
            Err(Unverified::Unavailable(why)) => {
                tracing::warn!(target: "security", event = "auth_unavailable", error = %why, "could not verify credentials");
                return Err(ApiError::Unavailable(why));
            }
        };
        if let Some(claimed) = claimed
            && claimed.as_bytes() != user.id.as_ref().as_bytes()
        {
            return Err(self.refuse(AuthFailure::UserIdMismatch));
        }
        self.users.ensure(&user).await?;
        Ok(user)
    }

    async fn verify(&self, headers: &HeaderMap) -> Result<AuthUser, Unverified> {
        let token = bearer_token(headers, self.max_token_bytes)?;
        // A JWT has three dot-separated parts; a Better Auth session token has at most two.
        if token.bytes().filter(|b| *b == b'.').count() == 2 {
            // No key set yet (the auth server was down since start-up) says nothing about the
            // token: a 503 the client retries, not a 401 that logs its user out.
            self.jwt.verify(token).await.map_err(|f| match f {
                AuthFailure::JwksUnavailable => {
                    Unverified::Unavailable("no key set loaded from the auth server yet".into())
                }
                f => Unverified::Refused(f),
            })
        } else {
            self.sessions.verify(token).await
        }
    }

    fn refuse(&self, failure: AuthFailure) -> ApiError {
        self.metrics.failure(failure.label());
        tracing::warn!(target: "security", event = "auth_failure", reason = failure.label(), "request refused: {failure}");
        ApiError::Unauthorized
    }
}

/// The token of an `Authorization: Bearer …` header, refused when absent, oversized or not a
/// plain printable token.
pub fn bearer_token(headers: &HeaderMap, max_bytes: usize) -> Result<&str, AuthFailure> {
    let Some(value) = headers.get(warp::http::header::AUTHORIZATION) else {
        return Err(AuthFailure::MissingToken);
    };
    if value.len() > max_bytes {
        return Err(AuthFailure::TokenTooLarge);
    }
    let value = value.to_str().map_err(|_| AuthFailure::Malformed)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthFailure::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthFailure::NotBearer);
    }
    let token = token.trim();
    if token.is_empty() || token.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err(AuthFailure::Malformed);
    }
    Ok(token)
}

/// The filter every protected route adds: it yields the verified caller or rejects with a 401.
pub fn with_auth(
    auth: Arc<Authenticator>,
) -> impl Filter<Extract = (AuthUser,), Error = warp::Rejection> + Clone {
    warp::header::headers_cloned().and_then(move |headers: HeaderMap| {
        let auth = auth.clone();
        async move {
            auth.authenticate(&headers)
                .await
                .map_err(warp::reject::custom)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use warp::http::HeaderValue;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_str(auth).expect("header"),
        );
        h
    }

    #[test]
    fn bearer_tokens_are_extracted_strictly() {
        assert_eq!(bearer_token(&headers("Bearer abc.def"), 100), Ok("abc.def"));
        assert_eq!(bearer_token(&headers("bearer abc"), 100), Ok("abc"));
        assert_eq!(
            bearer_token(&HeaderMap::new(), 100),
            Err(AuthFailure::MissingToken)
        );
        assert_eq!(
            bearer_token(&headers("Basic dXNlcjpwdw=="), 100),
            Err(AuthFailure::NotBearer)
        );
        assert_eq!(
            bearer_token(&headers("Bearer "), 100),
            Err(AuthFailure::Malformed)
        );
        assert_eq!(
            bearer_token(&headers(&format!("Bearer {}", "a".repeat(200))), 100),
            Err(AuthFailure::TokenTooLarge)
        );
    }
}
