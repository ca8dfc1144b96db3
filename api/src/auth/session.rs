//! The verified fallback for clients that hold a Better Auth *session token* instead of a JWT:
//! the auth server's `get-session` says whose it is. Answers are cached (keyed by a SHA-256 of the
//! token, never the token itself) for at most `SESSION_CACHE_TTL_SECS` (≤ 60 s), so a signed-out
//! session stops working within that time.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use url::Url;

use super::ttl_cache::{TtlCache, hash};
use super::{AuthFailure, AuthSettings, AuthUser, Unverified};
use crate::domain::Profile;

const MAX_ENTRIES: usize = 10_000;

pub struct SessionVerifier {
    url: Url,
    client: reqwest::Client,
    ttl: Duration,
    /// `None` caches "not a session" too: a token cannot become valid later.
    cache: TtlCache<Option<AuthUser>>,
}

#[derive(Deserialize)]
struct SessionResponse {
    session: SessionInfo,
    user: SessionUser,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionInfo {
    expires_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct SessionUser {
    id: String,
    #[serde(flatten)]
    profile: Profile,
}

impl SessionVerifier {
    pub fn new(settings: &AuthSettings) -> Result<Self, reqwest::Error> {
        Ok(Self {
            url: settings.session_url(),
            client: reqwest::Client::builder()
                .timeout(settings.upstream_timeout)
                .build()?,
            ttl: settings.session_cache_ttl,
            cache: TtlCache::new(MAX_ENTRIES),
        })
    }

    pub async fn verify(&self, token: &str) -> Result<AuthUser, Unverified> {
        let key = hash(token);
        if let Some(cached) = self.cache.get(&key) {
            return cached.ok_or(Unverified::Refused(AuthFailure::InvalidSession));
        }
        let (user, valid_for) = self.ask(token).await?;
        self.cache
            .insert(key, user.clone(), valid_for.min(self.ttl));
        user.ok_or(Unverified::Refused(AuthFailure::InvalidSession))
    }

    /// Asks the auth server; `None` means "not a valid session", which is cached too.
    async fn ask(&self, token: &str) -> Result<(Option<AuthUser>, Duration), Unverified> {
        let res = self
            .client
            .get(self.url.clone())
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| Unverified::Unavailable(format!("get-session request failed: {e}")))?;
        let status = res.status();
        if status.is_server_error() {
            return Err(Unverified::Unavailable(format!(
                "get-session answered {status}"
            )));
        }
        if !status.is_success() {
            return Ok((None, self.ttl));
        }
        let body = res
            .bytes()
            .await
            .map_err(|e| Unverified::Unavailable(format!("get-session body: {e}")))?;
        // Better Auth answers `null` for a token that is not (or no longer) a session.
        let Ok(Some(found)) = serde_json::from_slice::<Option<SessionResponse>>(&body) else {
            return Ok((None, self.ttl));
        };
        let remaining = (found.session.expires_at - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        if remaining.is_zero() {
            return Ok((None, self.ttl));
        }
        let user = AuthUser::verified(found.user.id, found.user.profile)?;
        Ok((Some(user), remaining))
    }
}
