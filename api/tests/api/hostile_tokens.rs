//! Tokens an attacker crafts to break the verifier rather than to get in (issue 13): each gets a
//! 4xx (or the 503 an outage deserves), never a panic, a 500 or a call to the auth server.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{TestApp, TestUser, TokenBuilder};

#[tokio::test]
async fn a_signed_token_with_an_absurd_exp_is_served_not_a_panic() {
    let app = TestApp::builder().spawn().await;
    let user = TestUser::generate();
    // Far in the future but a valid exp: accepted. Beyond what the claim can hold: refused.
    for (exp, status) in [
        (json!(9_000_000_000_000_000_000u64), StatusCode::OK),
        (json!(u64::MAX), StatusCode::OK),
        (json!(1e300), StatusCode::UNAUTHORIZED),
    ] {
        let token = TokenBuilder::new(&app.key, &user)
            .claim("exp", exp.clone())
            .sign();
        let r = app.get_me(&token).await;
        assert_eq!(r.status, status, "exp {exp}: {}", r.text);
        // Twice: the second one comes from the cache of verified tokens.
        let again = app.get_me(&token).await;
        assert_eq!(again.status, r.status, "exp {exp}");
    }
}
