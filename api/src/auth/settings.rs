use std::time::Duration;

use url::Url;

use crate::base_url::join;

/// How callers are verified: the Better Auth server, the claims a token must carry, caching.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Base URL of the Better Auth server; JWKS and get-session hang off it.
    pub url: Url,
    pub issuer: String,
    pub audience: String,
    /// Clock-skew allowance for `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    pub jwks_refresh: Duration,
    /// The shortest gap between two JWKS fetches caused by an unknown `kid`.
    pub jwks_min_refetch: Duration,
    pub session_cache_ttl: Duration,
    /// How long a token the auth server refused is refused unasked.
    pub session_refusal_ttl: Duration,
    /// `get-session` calls in flight at most.
    pub session_check_concurrency: usize,
    pub upstream_timeout: Duration,
    /// The longest `Authorization` header read; a longer one is refused unread.
    pub max_token_bytes: usize,
}

impl AuthSettings {
    pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;

    pub fn jwks_url(&self) -> Url {
        join(&self.url, "api/auth/jwks")
    }

    pub fn session_url(&self) -> Url {
        join(&self.url, "api/auth/get-session")
    }
}
