//! For `bench/history.sh`: serves a JWKS like the auth server's and prints one line of JSON with
//! its URL and a signed token (valid two hours) for each of the users `bench-0` .. `bench-{n-1}`,
//! then serves until killed. Usage: `bench_auth <n>`.

#[path = "../tests/api/common/mod.rs"]
mod common;

use common::keys::{self, TokenBuilder, now};
use common::{AuthEndpoint, TestUser};
use serde_json::json;

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(8);
    let key = keys::ed25519();
    let endpoint = AuthEndpoint::start(&[&key]).await;
    let tokens: Vec<String> = (0..n)
        .map(|i| {
            let user = TestUser {
                id: format!("bench-{i}"),
                email: format!("bench-{i}@example.test"),
                name: format!("Bench {i}"),
            };
            TokenBuilder::new(&key, &user)
                .claim("exp", json!(now() + 7200))
                .sign()
        })
        .collect();
    println!(
        "{}",
        json!({"auth_url": endpoint.url, "tokens": tokens,
               "issuer": common::ISSUER, "audience": common::AUDIENCE})
    );
    std::future::pending::<()>().await;
}
