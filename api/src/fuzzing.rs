//! The properties the fuzz targets in `fuzz/` check, one function per target. They live in the
//! library so that `make test` replays every saved input (`fuzz/corpus/`, `fuzz/regressions/`)
//! through exactly the code the fuzzer ran; each function panics when a property breaks.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::DateTime;
use jsonwebtoken::{Algorithm, EncodingKey};
use uuid::Uuid;
use warp::http::{HeaderMap, HeaderValue};

use crate::auth::{self, AuthFailure, AuthMetrics, AuthSettings, JwksCache, JwtVerifier};
use crate::domain::Cursor;
use crate::rag::markdown;

/// One property check: takes the fuzzer's bytes, panics when the property breaks.
pub type Check = fn(&[u8]);

/// The fuzz targets, by name: what `fuzz/fuzz_targets/<name>.rs` runs.
pub const TARGETS: &[(&str, Check)] = &[
    ("bearer", bearer),
    ("jwt", jwt),
    ("jwks", jwks),
    ("cursor", cursor),
    ("markdown", markdown),
];

/// A throwaway Ed25519 key, used only to sign fuzzed claims; its public half is the JWKS below.
const SIGNING_KEY: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEINnbMbYgdx+3COZXGeX+2CxRXr6mzHcILJU8pZ4cBkYl
-----END PRIVATE KEY-----
";
const KEY_SET: &str = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","kid":"fuzz","x":"VvnDAljTQhFtkhIdyOCxBpM4RU1U1MnOtdFOLnMvs5Q"}]}"#;
pub const ISSUER: &str = "http://auth.fuzz";
pub const AUDIENCE: &str = "chatplane-fuzz";
const LEEWAY_SECS: u64 = 30;
const MAX_TOKEN_BYTES: usize = AuthSettings::DEFAULT_MAX_TOKEN_BYTES;

/// `Authorization` header bytes: whatever is accepted is a plain, bounded token taken from a
/// `Bearer` header, and is then verified like a JWT (and must be refused: nobody here can sign).
pub fn bearer(data: &[u8]) {
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(warp::http::header::AUTHORIZATION, value);
    let Ok(token) = auth::bearer_token(&headers, MAX_TOKEN_BYTES) else {
        return;
    };
    assert!(!token.is_empty() && token.len() <= MAX_TOKEN_BYTES);
    assert!(token.bytes().all(|b| b.is_ascii_graphic()), "{token:?}");
    assert!(data.len() > 7 && data[..7].eq_ignore_ascii_case(b"bearer "));
    if token.bytes().filter(|b| *b == b'.').count() == 2 {
        assert!(
            verify(token).is_err(),
            "an unsigned token was accepted: {token}"
        );
    }
}

/// A token from the fuzzer. First byte 0: the rest is the token as sent, which must be refused
/// (it was not signed with our key). Otherwise the rest is `header JSON \0 claims JSON`, signed
/// with the key the verifier trusts: whatever it accepts must carry our issuer, audience, a
/// live `exp`, the key's algorithm and id, and the subject it reports.
pub fn jwt(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode == 0 {
        if let Ok(token) = std::str::from_utf8(rest) {
            assert!(
                verify(token).is_err(),
                "an unsigned token was accepted: {token}"
            );
        }
        return;
    }
    let (header, claims) = match rest.iter().position(|b| *b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &b""[..]),
    };
    let token = sign(header, claims);
    let Ok(user) = verify(&token) else {
        return;
    };
    let header: serde_json::Value = serde_json::from_slice(header).expect("accepted header");
    let claims: serde_json::Value = serde_json::from_slice(claims).expect("accepted claims");
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["kid"], "fuzz");
    // No JWS extension is implemented, so none may be critical (RFC 7515 §4.1.11).
    assert!(
        header.get("crit").is_none(),
        "a token naming a critical extension was accepted"
    );
    assert_eq!(claims["iss"], ISSUER);
    let aud = &claims["aud"];
    assert!(
        *aud == AUDIENCE
            || aud
                .as_array()
                .is_some_and(|a| a.iter().any(|v| v == AUDIENCE)),
        "audience {aud}"
    );
    let exp = claims["exp"].as_f64().expect("numeric exp");
    let now = jsonwebtoken::get_current_timestamp() as f64;
    assert!(exp + LEEWAY_SECS as f64 >= now, "expired token accepted");
    assert_eq!(claims["sub"].as_str(), Some(user.id.as_ref()));
}

/// A JWKS document from the auth server: parsed without a panic, and never empty when accepted.
pub fn jwks(data: &[u8]) {
    if let Ok(keys) = auth::parse_key_set(data) {
        assert!(!keys.is_empty());
    }
}

/// A `cursor` query parameter: whatever is accepted reads back the same after our own encoding,
/// and every position (the first 24 bytes as microseconds and an id) survives a round trip.
pub fn cursor(data: &[u8]) {
    if let Ok(raw) = std::str::from_utf8(data)
        && let Ok(parsed) = Cursor::parse(raw)
    {
        assert_eq!(Cursor::parse(&parsed.encode()), Ok(parsed));
    }
    if let Some((micros, id)) = data.split_first_chunk::<8>()
        && let Some((id, _)) = id.split_first_chunk::<16>()
        && let Some(at) = DateTime::from_timestamp_micros(i64::from_le_bytes(*micros))
    {
        let position = Cursor {
            at,
            id: Uuid::from_bytes(*id),
        };
        assert_eq!(Cursor::parse(&position.encode()), Ok(position));
    }
}

/// A documentation file: parsed without a panic; an accepted page has a canonical slug, no empty
/// chunk, and each section its own anchor (links to two sections never land on one).
pub fn markdown(data: &[u8]) {
    let Ok(page) = markdown::parse("docs/chapter/page.mdx", data) else {
        return;
    };
    assert!(
        page.slug.starts_with('/') && !page.slug.contains("//"),
        "{}",
        page.slug
    );
    assert!(page.chunks.iter().all(|c| !c.content.trim().is_empty()));
    let mut seen = HashSet::new();
    let mut previous: Option<(&str, &str)> = None;
    for chunk in &page.chunks {
        // A long section is cut into several chunks that share its heading and anchor.
        let section = (chunk.anchor.as_str(), chunk.heading_path.as_str());
        if previous != Some(section) {
            assert!(seen.insert(section.0), "anchor {:?} used twice", section.0);
        }
        previous = Some(section);
    }
}

fn sign(header: &[u8], claims: &[u8]) -> String {
    static KEY: OnceLock<EncodingKey> = OnceLock::new();
    let key = KEY.get_or_init(|| {
        EncodingKey::from_ed_pem(SIGNING_KEY.as_bytes()).expect("the fuzz signing key")
    });
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), key, Algorithm::EdDSA).expect("signing");
    format!("{message}.{signature}")
}

fn verify(token: &str) -> Result<auth::AuthUser, AuthFailure> {
    struct Verifier {
        runtime: tokio::runtime::Runtime,
        jwt: JwtVerifier,
    }
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    let v = VERIFIER.get_or_init(|| {
        let url = url::Url::parse(ISSUER).expect("issuer URL");
        let jwks = JwksCache::preloaded(
            url.clone(),
            KEY_SET.as_bytes(),
            Arc::new(AuthMetrics::default()),
        )
        .expect("the fuzz key set");
        let settings = AuthSettings {
            url,
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            leeway: std::time::Duration::from_secs(LEEWAY_SECS),
            jwks_refresh: std::time::Duration::from_secs(300),
            jwks_min_refetch: std::time::Duration::from_secs(300),
            session_cache_ttl: std::time::Duration::from_secs(60),
            session_refusal_ttl: std::time::Duration::from_secs(60),
            session_check_concurrency: 1,
            upstream_timeout: std::time::Duration::from_secs(1),
            max_token_bytes: MAX_TOKEN_BYTES,
        };
        Verifier {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
            jwt: JwtVerifier::new(Arc::new(jwks), &settings),
        }
    });
    v.runtime.block_on(v.jwt.verify(token))
}

#[cfg(test)]
mod tests {

    use super::*;

    /// Every input the fuzzers saved (their corpora and the crashes turned regressions) still
    /// holds every property.
    #[test]
    fn saved_fuzz_inputs_hold() {
        let root = crate::manifest_dir().join("../fuzz");
        let mut replayed = 0;
        for (name, check) in TARGETS {
            for dir in ["corpus", "regressions"] {
                let Ok(entries) = std::fs::read_dir(root.join(dir).join(name)) else {
                    continue;
                };
                for entry in entries {
                    let path = entry.expect("dir entry").path();
                    let data = std::fs::read(&path).expect("saved input");
                    let outcome = std::panic::catch_unwind(|| check(&data));
                    assert!(
                        outcome.is_ok(),
                        "{name}: {} breaks a property",
                        path.display()
                    );
                    replayed += 1;
                }
            }
        }
        assert!(
            replayed >= TARGETS.len(),
            "only {replayed} saved inputs found"
        );
    }

    #[test]
    fn a_token_signed_with_the_fuzz_key_passes_and_a_forged_one_does_not() {
        let exp = jsonwebtoken::get_current_timestamp() + 600;
        let claims = format!(r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","sub":"u1","exp":{exp}}}"#);
        let good = sign(br#"{"alg":"EdDSA","kid":"fuzz"}"#, claims.as_bytes());
        assert!(verify(&good).is_ok());
        let forged = format!("{}x", &good[..good.len() - 1]);
        assert!(verify(&forged).is_err());
    }
}
