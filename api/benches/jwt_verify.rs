//! JWT verification with a cached key (DESIGN.md §9: well under 100 µs per token on one core),
//! beside jsonwebtoken's bare `decode` with the same key as the baseline. `verify` also keeps
//! verified tokens until they expire; "repeated token" measures that path.

#[path = "../tests/api/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use chatplane_api::auth::{AuthMetrics, AuthSettings, JwksCache, JwtVerifier};
use common::keys::{self, TokenBuilder};
use common::{AUDIENCE, AuthEndpoint, ISSUER, TestUser};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{DecodingKey, Validation};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("jwt_verify");
    for key in [keys::ed25519(), keys::p256(), keys::rsa()] {
        let endpoint = rt.block_on(AuthEndpoint::start(&[&key]));
        let settings = AuthSettings {
            url: endpoint.url.parse().expect("url"),
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            leeway: Duration::from_secs(5),
            jwks_refresh: Duration::from_secs(300),
            jwks_min_refetch: Duration::from_secs(10),
            session_cache_ttl: Duration::from_secs(60),
            session_refusal_ttl: Duration::from_secs(10),
            session_check_concurrency: 32,
            upstream_timeout: Duration::from_secs(5),
            max_token_bytes: AuthSettings::DEFAULT_MAX_TOKEN_BYTES,
        };
        let jwks = Arc::new(
            JwksCache::new(
                settings.jwks_url(),
                settings.upstream_timeout,
                settings.jwks_min_refetch,
                Arc::new(AuthMetrics::default()),
            )
            .expect("jwks client"),
        );
        rt.block_on(jwks.refresh()).expect("jwks loaded");
        let verifier = JwtVerifier::new(jwks, &settings);
        let user = TestUser::generate();
        let token = TokenBuilder::new(&key, &user).sign();
        let name = format!("{:?}", key.alg);

        group.bench_function(format!("chatplane signature check {name}"), |b| {
            b.iter(|| {
                rt.block_on(verifier.verify_signature(&token))
                    .expect("valid")
            })
        });
        group.bench_function(format!("chatplane repeated token {name}"), |b| {
            b.iter(|| rt.block_on(verifier.verify(&token)).expect("valid"))
        });

        // Baseline: the library alone, key already decoded, same checks.
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.jwk()).expect("jwk");
        let decoding = DecodingKey::from_jwk(&jwk).expect("key");
        let mut validation = Validation::new(key.alg);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        group.bench_function(format!("jsonwebtoken::decode {name}"), |b| {
            b.iter(|| {
                jsonwebtoken::decode::<serde_json::Value>(&token, &decoding, &validation)
                    .expect("valid")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
