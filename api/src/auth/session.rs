//! The verified fallback for clients that hold a Better Auth *session token* instead of a JWT:
//! the auth server's `get-session` says whose it is. Answers are cached (keyed by a SHA-256 of the
//! token, never the token itself) for at most `SESSION_CACHE_TTL_SECS` (≤ 60 s), so a signed-out
//! session stops working within that time.
//!
//! The auth server is asked as little as possible (issue 13): a token that cannot be a Better
//! Auth session token is refused unasked; refusals are remembered for `SESSION_REFUSAL_TTL_SECS`
//! in a cache of their own (a flood of junk cannot evict real sessions); one check per token is
//! in flight, concurrent requests with it await that answer; and at most
//! `SESSION_CHECK_CONCURRENCY` checks run at once (a request that cannot get a turn within the
//! upstream timeout gets a 503).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio::sync::{OnceCell, Semaphore};
use url::Url;

use super::ttl_cache::{CredentialHash, TtlCache, hash};
use super::{AuthFailure, AuthSettings, AuthUser, Unverified};
use crate::domain::Profile;

const MAX_ENTRIES: usize = 10_000;
const MAX_REFUSALS: usize = 50_000;

/// What one `get-session` call found: the user (or `None`, not a session) and for how long
/// that answer holds.
type Answer = Result<(Option<AuthUser>, Duration), Unverified>;

/// Whether `token` has the shape of what Better Auth's bearer plugin hands out: the session
/// token (`generateId(32)`: 32 ASCII letters and digits), alone or signed as
/// `<token>.<base64 HMAC-SHA256>` (43–44 characters, maybe percent-encoded as in its cookie).
pub fn could_be_session_token(token: &str) -> bool {
    let (id, signature) = match token.split_once('.') {
        Some((id, sig)) => (id, Some(sig)),
        None => (token, None),
    };
    let id_ok = id.len() == 32 && id.bytes().all(|b| b.is_ascii_alphanumeric());
    let signature_ok = signature.is_none_or(|sig| {
        let decoded = sig
            .replace("%2B", "+")
            .replace("%2F", "/")
            .replace("%3D", "=")
            .replace("%2b", "+")
            .replace("%2f", "/")
            .replace("%3d", "=");
        (43..=44).contains(&decoded.len())
            && decoded
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=_-".contains(&b))
    });
    id_ok && signature_ok
}

pub struct SessionVerifier {
    url: Url,
    client: reqwest::Client,
    ttl: Duration,
    cache: TtlCache<AuthUser>,
    refusal_ttl: Duration,
    /// Tokens the auth server said are no session, for `refusal_ttl`.
    refused: TtlCache<()>,
    in_flight: Mutex<HashMap<CredentialHash, Arc<OnceCell<Answer>>>>,
    checks: Semaphore,
    wait: Duration,
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
            refusal_ttl: settings.session_refusal_ttl,
            refused: TtlCache::new(MAX_REFUSALS),
            in_flight: Mutex::new(HashMap::new()),
            checks: Semaphore::new(settings.session_check_concurrency),
            wait: settings.upstream_timeout,
        })
    }

    pub async fn verify(&self, token: &str) -> Result<AuthUser, Unverified> {
        if !could_be_session_token(token) {
            return Err(Unverified::Refused(AuthFailure::Malformed));
        }
        let key = hash(token);
        if let Some(user) = self.cache.get(&key) {
            return Ok(user);
        }
        if self.refused.get(&key).is_some() {
            return Err(Unverified::Refused(AuthFailure::InvalidSession));
        }
        let cell = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            in_flight.entry(key).or_default().clone()
        };
        // The first caller asks; the others await its answer. If the first is cancelled (its
        // client went away), the next waiter asks instead.
        let answer = cell
            .get_or_init(|| async {
                let answer = self.ask_bounded(token).await;
                match &answer {
                    Ok((Some(user), valid_for)) => {
                        self.cache
                            .insert(key, user.clone(), (*valid_for).min(self.ttl));
                    }
                    Ok((None, _)) => self.refused.insert(key, (), self.refusal_ttl),
                    Err(_) => {}
                }
                answer
            })
            .await
            .clone();
        {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            if in_flight.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                in_flight.remove(&key);
            }
        }
        answer?
            .0
            .ok_or(Unverified::Refused(AuthFailure::InvalidSession))
    }

    /// Asks once a turn among `SESSION_CHECK_CONCURRENCY` is free.
    async fn ask_bounded(&self, token: &str) -> Answer {
        let _turn = match tokio::time::timeout(self.wait, self.checks.acquire()).await {
            Ok(Ok(turn)) => turn,
            _ => {
                return Err(Unverified::Unavailable(
                    "too many session checks in flight".into(),
                ));
            }
        };
        self.ask(token).await
    }

    /// Asks the auth server; `None` means "not a valid session", which is remembered too.
    async fn ask(&self, token: &str) -> Answer {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_better_auth_shaped_tokens_may_be_sessions() {
        let id = "Ab3dEfGh1jKlMn0pQrStUvWxYz012345";
        let sig = "q2x1c3VyZS10aGlzLWlzLTMyLWJ5dGVzLWxvbmchIQ=";
        assert!(could_be_session_token(id));
        assert!(could_be_session_token(&format!("{id}.{sig}")));
        assert!(could_be_session_token(&format!(
            "{id}.{}",
            sig.replace('=', "%3D")
        )));
        for junk in [
            "",
            "abc",
            &id[..31],
            &format!("{id}x"),
            &format!("{id}."),
            &format!("{id}.short"),
            &format!("{id}.{sig}.{sig}"),
            &format!("{}!", &id[..31]),
            &format!("{id}.{}", "*".repeat(44)),
        ] {
            assert!(!could_be_session_token(junk), "{junk:?}");
        }
    }
}
