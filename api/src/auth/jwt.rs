//! Verification of Better Auth JWTs with a cached JWKS key.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Validation, decode, decode_header};
use serde::Deserialize;

use super::ttl_cache::{TtlCache, hash};
use super::{AuthFailure, AuthSettings, AuthUser, JwksCache};
use crate::domain::Profile;

pub struct JwtVerifier {
    jwks: Arc<JwksCache>,
    issuer: String,
    audience: String,
    leeway_secs: u64,
    /// Tokens already verified, until they expire: a client sends the same JWT many times in
    /// its 15 minutes, and the signature check is most of a request's CPU.
    verified: TtlCache<Verified>,
}

#[derive(Clone)]
struct Verified {
    user: AuthUser,
    kid: String,
}

const MAX_VERIFIED: usize = 50_000;

/// The claims we read. `iss`, `aud`, `exp` and `nbf` are checked by jsonwebtoken itself.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    exp: f64,
    #[serde(default)]
    iat: Option<f64>,
    #[serde(flatten)]
    profile: Profile,
}

impl JwtVerifier {
    pub fn new(jwks: Arc<JwksCache>, settings: &AuthSettings) -> Self {
        Self {
            jwks,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            leeway_secs: settings.leeway.as_secs(),
            verified: TtlCache::new(MAX_VERIFIED),
        }
    }

    /// Verifies `token`, from the cache of verified tokens when it is there and its key is
    /// still published.
    pub async fn verify(&self, token: &str) -> Result<AuthUser, AuthFailure> {
        let key = hash(token);
        if let Some(hit) = self.verified.get(&key)
            && self.jwks.contains(&hit.kid)
        {
            return Ok(hit.user);
        }
        let (user, kid, exp) = self.verify_signature(token).await?;
        let now = jsonwebtoken::get_current_timestamp() as f64;
        // `exp` is the token's word: an absurd one (9e18) must not panic here or in the cache.
        let ttl = Duration::try_from_secs_f64((exp + self.leeway_secs as f64 - now).max(0.0))
            .unwrap_or(Duration::MAX);
        self.verified.insert(
            key,
            Verified {
                user: user.clone(),
                kid,
            },
            ttl,
        );
        Ok(user)
    }

    /// The full check: key lookup, algorithm, signature and claims. Returns the user, the key
    /// id and the expiry.
    pub async fn verify_signature(
        &self,
        token: &str,
    ) -> Result<(AuthUser, String, f64), AuthFailure> {
        // An unknown algorithm (including "none") fails to parse here.
        let header = decode_header(token).map_err(|_| AuthFailure::Malformed)?;
        // RFC 7515 §4.1.11: a token naming a critical extension we do not understand must be
        // refused, and we understand none (an empty list is invalid too).
        if header.crit.is_some() {
            return Err(AuthFailure::UnknownCritical);
        }
        let kid = header.kid.as_deref().ok_or(AuthFailure::MissingKid)?;
        let key = self.jwks.key(kid).await?;
        // The key decides the algorithm; a token that names another one (HS256 signed with the
        // public key, say) is refused before any signature check.
        if header.alg != key.alg {
            return Err(AuthFailure::AlgorithmMismatch);
        }
        let mut validation = Validation::new(key.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = self.leeway_secs;
        validation.validate_nbf = true;
        let data = decode::<Claims>(token, &key.decoding, &validation).map_err(classify)?;
        let claims = data.claims;
        if let Some(iat) = claims.iat {
            let now = jsonwebtoken::get_current_timestamp() as f64;
            if iat > now + self.leeway_secs as f64 {
                return Err(AuthFailure::IssuedInFuture);
            }
        }
        let user = AuthUser::verified(claims.sub, claims.profile)?;
        Ok((user, kid.to_owned(), claims.exp))
    }
}

fn classify(e: jsonwebtoken::errors::Error) -> AuthFailure {
    match e.kind() {
        ErrorKind::InvalidSignature => AuthFailure::BadSignature,
        ErrorKind::ExpiredSignature => AuthFailure::Expired,
        ErrorKind::ImmatureSignature => AuthFailure::NotYetValid,
        ErrorKind::InvalidIssuer => AuthFailure::WrongIssuer,
        ErrorKind::InvalidAudience => AuthFailure::WrongAudience,
        ErrorKind::MissingRequiredClaim(_)
        | ErrorKind::InvalidClaimFormat(_)
        | ErrorKind::InvalidSubject => AuthFailure::InvalidClaims,
        ErrorKind::InvalidAlgorithm => AuthFailure::AlgorithmMismatch,
        _ => AuthFailure::Malformed,
    }
}
