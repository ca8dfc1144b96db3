//! The auth server's signing keys, cached.
//!
//! Refreshed in the background every `JWKS_REFRESH_SECS` (5 minutes); an unknown `kid` triggers a
//! refetch, but never more than one fetch is in flight and never more than one such refetch per
//! `JWKS_MIN_REFETCH_SECS`, so a stream of forged `kid`s cannot turn us into a load generator.
//! When the auth server cannot be reached the cached keys keep working.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::Mutex;
use url::Url;

use super::AuthMetrics;

/// A key the API will verify signatures with, and the one algorithm it may be used with.
pub struct VerifyingKey {
    pub alg: Algorithm,
    pub decoding: DecodingKey,
}

#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("JWKS request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("JWKS endpoint answered {0}")]
    Status(u16),
    #[error("JWKS document is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("JWKS document holds no usable signing key")]
    NoUsableKey,
}

type KeyMap = HashMap<String, Arc<VerifyingKey>>;

pub struct JwksCache {
    url: Url,
    client: reqwest::Client,
    min_refetch: Duration,
    keys: RwLock<Arc<KeyMap>>,
    /// Held for the whole of a fetch: this is what keeps one fetch in flight.
    fetch: Mutex<Option<Instant>>,
    loaded: AtomicBool,
    metrics: Arc<AuthMetrics>,
}

const MAX_JWKS_BYTES: usize = 256 * 1024;

impl JwksCache {
    pub fn new(
        url: Url,
        timeout: Duration,
        min_refetch: Duration,
        metrics: Arc<AuthMetrics>,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()?;
        Ok(Self {
            url,
            client,
            min_refetch,
            keys: RwLock::new(Arc::new(KeyMap::new())),
            fetch: Mutex::new(None),
            loaded: AtomicBool::new(false),
            metrics,
        })
    }

    /// A cache holding `key_set` from the start that never fetches (an unknown `kid` is simply
    /// unknown), for checks that run with no auth server: the fuzz targets.
    pub fn preloaded(
        url: Url,
        key_set: &[u8],
        metrics: Arc<AuthMetrics>,
    ) -> Result<Self, JwksError> {
        let keys = parse_key_set(key_set)?;
        let mut cache = Self::new(url, Duration::from_secs(1), Duration::MAX, metrics)?;
        *cache.keys.get_mut().unwrap_or_else(|p| p.into_inner()) = Arc::new(keys);
        cache.loaded.store(true, Ordering::Release);
        // As if a fetch just happened: with `min_refetch` at its maximum, none ever will.
        *cache.fetch.get_mut() = Some(Instant::now());
        Ok(cache)
    }

    /// True once a key set has been loaded; readiness depends on it.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    fn lookup(&self, kid: &str) -> Option<Arc<VerifyingKey>> {
        let keys = match self.keys.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        keys.get(kid).cloned()
    }

    /// Whether `kid` is in the current key set (a key removed at the JWKS is revoked).
    pub fn contains(&self, kid: &str) -> bool {
        self.lookup(kid).is_some()
    }

    /// The key for `kid`, refetching the set once if it is unknown.
    pub async fn key(&self, kid: &str) -> Result<Arc<VerifyingKey>, super::AuthFailure> {
        if let Some(key) = self.lookup(kid) {
            return Ok(key);
        }
        let mut last_refetch = self.fetch.lock().await;
        // Whoever held the lock before us may have fetched the key we need.
        if let Some(key) = self.lookup(kid) {
            return Ok(key);
        }
        if last_refetch.is_some_and(|t| t.elapsed() < self.min_refetch) {
            return Err(self.miss());
        }
        *last_refetch = Some(Instant::now());
        if let Err(e) = self.fetch_and_store("unknown_kid").await {
            tracing::warn!(target: "security", event = "jwks_refresh_failed", error = %e, "JWKS refetch for an unknown kid failed");
        }
        self.lookup(kid).ok_or_else(|| self.miss())
    }

    fn miss(&self) -> super::AuthFailure {
        if self.is_loaded() {
            super::AuthFailure::UnknownKid
        } else {
            super::AuthFailure::JwksUnavailable
        }
    }

    /// Fetches the key set now (start-up and the periodic refresh).
    pub async fn refresh(&self) -> Result<usize, JwksError> {
        let _in_flight = self.fetch.lock().await;
        self.fetch_and_store("scheduled").await
    }

    async fn fetch_and_store(&self, cause: &'static str) -> Result<usize, JwksError> {
        match self.fetch_keys().await {
            Ok(keys) => {
                let count = keys.len();
                let keys = Arc::new(keys);
                match self.keys.write() {
                    Ok(mut guard) => *guard = keys,
                    Err(poisoned) => *poisoned.into_inner() = keys,
                }
                self.loaded.store(true, Ordering::Release);
                self.metrics.jwks_refresh(cause, "ok");
                tracing::info!(keys = count, cause, "JWKS loaded");
                Ok(count)
            }
            Err(e) => {
                self.metrics.jwks_refresh(cause, "error");
                Err(e)
            }
        }
    }

    async fn fetch_keys(&self) -> Result<KeyMap, JwksError> {
        let mut res = self.client.get(self.url.clone()).send().await?;
        if !res.status().is_success() {
            return Err(JwksError::Status(res.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_JWKS_BYTES {
                return Err(JwksError::NoUsableKey);
            }
        }
        parse_key_set(&body)
    }

    /// Refreshes every `every` until `shutdown` resolves; retries sooner while nothing is loaded.
    pub fn spawn_refresher(
        self: Arc<Self>,
        every: Duration,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut retry = Duration::from_millis(500);
            loop {
                let wait = match self.refresh().await {
                    Ok(_) => {
                        retry = Duration::from_millis(500);
                        every
                    }
                    Err(e) => {
                        tracing::warn!(target: "security", event = "jwks_refresh_failed", error = %e, "JWKS refresh failed; cached keys stay in use");
                        if self.is_loaded() {
                            every
                        } else {
                            retry = (retry * 2).min(every).min(Duration::from_secs(30));
                            retry
                        }
                    }
                };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => return,
                }
            }
        })
    }
}

/// Parses a JWKS document, keeping the signing keys we can use and skipping (with a log line)
/// the ones we cannot. Symmetric keys are never accepted: a public document cannot hold a secret.
pub fn parse_key_set(body: &[u8]) -> Result<KeyMap, JwksError> {
    #[derive(serde::Deserialize)]
    struct Doc {
        keys: Vec<serde_json::Value>,
    }
    let doc: Doc = serde_json::from_slice(body)?;
    let mut keys = KeyMap::new();
    for raw in doc.keys {
        match serde_json::from_value::<Jwk>(raw)
            .map_err(|e| e.to_string())
            .and_then(|jwk| verifying_key(&jwk).map(|key| (jwk.common.key_id.clone(), key)))
        {
            Ok((Some(kid), key)) => {
                keys.insert(kid, Arc::new(key));
            }
            Ok((None, _)) => {
                tracing::warn!(target: "security", event = "jwks_key_skipped", reason = "no kid", "JWKS key without kid skipped")
            }
            Err(reason) => {
                tracing::warn!(target: "security", event = "jwks_key_skipped", reason = %reason, "JWKS key skipped")
            }
        }
    }
    if keys.is_empty() {
        return Err(JwksError::NoUsableKey);
    }
    Ok(keys)
}

/// The algorithm comes from the key: its type and curve, checked against its `alg` when present.
fn verifying_key(jwk: &Jwk) -> Result<VerifyingKey, String> {
    if let Some(usage) = &jwk.common.public_key_use
        && *usage != PublicKeyUse::Signature
    {
        return Err("key is not for signatures".into());
    }
    let declared = jwk.common.key_algorithm;
    let alg = match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => Algorithm::ES256,
            EllipticCurve::P384 => Algorithm::ES384,
            _ => return Err("unsupported curve".into()),
        },
        AlgorithmParameters::RSA(_) => match declared {
            None | Some(KeyAlgorithm::RS256) => Algorithm::RS256,
            Some(KeyAlgorithm::RS384) => Algorithm::RS384,
            Some(KeyAlgorithm::RS512) => Algorithm::RS512,
            Some(KeyAlgorithm::PS256) => Algorithm::PS256,
            Some(KeyAlgorithm::PS384) => Algorithm::PS384,
            Some(KeyAlgorithm::PS512) => Algorithm::PS512,
            Some(other) => return Err(format!("RSA key declared for {other:?}")),
        },
        AlgorithmParameters::OctetKey(_) => return Err("symmetric keys are refused".into()),
        _ => return Err("unsupported key type".into()),
    };
    if let Some(declared) = declared
        && declared != KeyAlgorithm::from(alg)
    {
        return Err(format!("key declares {declared} but is a {alg:?} key"));
    }
    let decoding = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    Ok(VerifyingKey { alg, decoding })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ed25519_keys_are_taken_with_their_algorithm() {
        let doc = br#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k1","alg":"EdDSA"}]}"#;
        let keys = parse_key_set(doc).expect("key set");
        assert_eq!(keys.get("k1").map(|k| k.alg), Some(Algorithm::EdDSA));
    }

    #[test]
    fn symmetric_and_mislabelled_keys_are_refused() {
        let doc = br#"{"keys":[
            {"kty":"oct","k":"c2VjcmV0","kid":"h","alg":"HS256"},
            {"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"m","alg":"RS256"}
        ]}"#;
        assert!(matches!(parse_key_set(doc), Err(JwksError::NoUsableKey)));
    }

    #[test]
    fn one_bad_key_does_not_hide_the_good_ones() {
        let doc = br#"{"keys":[
            {"kty":"weird","kid":"w"},
            {"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k1"}
        ]}"#;
        let keys = parse_key_set(doc).expect("key set");
        assert_eq!(keys.len(), 1);
    }
}
