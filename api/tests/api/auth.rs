//! The JWT suite and the identity rules of DESIGN.md §3, against a real JWKS endpoint.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::keys::{
    self, KeyKind, TestKey, TokenBuilder, now, tamper_payload, tamper_signature,
};
use crate::common::{Auth, TestApp, TestUser};

#[tokio::test]
async fn a_valid_token_of_each_key_type_is_accepted_and_syncs_the_user() {
    for key in [keys::ed25519(), keys::p256(), keys::rsa()] {
        let app = TestApp::builder().key(key.clone()).spawn().await;
        let user = TestUser::generate();
        let r = app.get_me(&app.token_for(&user)).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}: {}", key.kind, r.text);
        assert_eq!(r.body["id"], user.id.as_str());
        assert_eq!(r.body["email"], user.email.as_str());
        assert_eq!(r.body["name"], user.name.as_str());
        let stored: (String, String) =
            sqlx::query_as("SELECT email, name FROM users WHERE id = $1")
                .bind(&user.id)
                .fetch_one(&app.db)
                .await
                .expect("user row");
        assert_eq!(stored, (user.email.clone(), user.name.clone()));
    }
}

#[tokio::test]
async fn every_broken_token_is_a_401_that_writes_nothing() {
    let app = TestApp::builder().spawn().await;
    let user = TestUser::generate();
    let key = app.key.clone();
    let base = || TokenBuilder::new(&key, &user);
    let valid = base().sign();
    let other = TestKey::generate(KeyKind::Ed25519);
    let mut forged_with_other_key = TokenBuilder::new(&other, &user);
    forged_with_other_key.header.kid = Some(key.kid.clone());

    let cases: Vec<(&str, String)> = vec![
        ("expired", base().claim("exp", json!(now() - 120)).sign()),
        (
            "nbf in the future",
            base().claim("nbf", json!(now() + 120)).sign(),
        ),
        (
            "iat in the future",
            base().claim("iat", json!(now() + 120)).sign(),
        ),
        (
            "wrong iss",
            base().claim("iss", json!("http://evil.test")).sign(),
        ),
        (
            "wrong aud",
            base().claim("aud", json!("http://other.test")).sign(),
        ),
        ("missing sub", base().without("sub").sign()),
        ("empty sub", base().claim("sub", json!("")).sign()),
        ("missing exp", base().without("exp").sign()),
        ("missing iss", base().without("iss").sign()),
        ("missing aud", base().without("aud").sign()),
        (
            "tampered payload",
            tamper_payload(
                &valid,
                &json!({"sub": "someone-else", "iss": app_iss(), "aud": app_iss(), "exp": now() + 900}),
            ),
        ),
        ("tampered signature", tamper_signature(&valid)),
        (
            "signed by another key under our kid",
            forged_with_other_key.sign(),
        ),
        ("alg none", base().unsigned()),
        (
            "HS256 signed with the public key",
            base().hmac_with_public_key(),
        ),
        ("no kid", {
            let mut b = base();
            b.header.kid = None;
            b.sign()
        }),
        ("garbage", "not-a-jwt.at.all".into()),
        (
            "oversized",
            format!(
                "{}.{}.{}",
                "a".repeat(6000),
                "b".repeat(6000),
                "c".repeat(6000)
            ),
        ),
    ];
    for (case, token) in cases {
        let r = app.get_me(&token).await;
        r.assert_problem(401, case);
        assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{case}");
        // Nothing an attacker could use: the body is the same whatever went wrong.
        assert_eq!(
            r.body["detail"], "a valid bearer token is required",
            "{case}"
        );
    }
    for (case, header) in [
        ("basic scheme", "Basic dXNlcjpwYXNz"),
        ("empty bearer", "Bearer "),
    ] {
        let r = app
            .request(Method::GET, "/users/me", Auth::Header(header), None, &[])
            .await;
        r.assert_problem(401, case);
    }
    let r = app
        .request(Method::GET, "/users/me", Auth::None, None, &[])
        .await;
    r.assert_problem(401, "no token");
    assert_eq!(
        app.row_counts().await,
        (0, 0, 0),
        "a refused request wrote a row"
    );
    assert!(app.metrics().await.contains("reason=\"expired\""));
}

fn app_iss() -> &'static str {
    crate::common::ISSUER
}

#[tokio::test]
async fn a_header_beyond_the_server_limit_is_refused_without_a_5xx() {
    let app = TestApp::builder().spawn().await;
    let token = "a".repeat(512 * 1024);
    let r = app
        .request(Method::GET, "/users/me", Auth::Bearer(&token), None, &[])
        .await;
    assert!(r.status.is_client_error(), "{}", r.status);
}

#[tokio::test]
async fn an_unknown_kid_refetches_once_then_is_refused() {
    let app = TestApp::builder().spawn().await;
    let user = TestUser::generate();
    let stranger = TestKey::generate(KeyKind::Ed25519);
    let before = app.auth.jwks_fetches();
    let r = app
        .get_me(&TokenBuilder::new(&stranger, &user).sign())
        .await;
    r.assert_problem(401, "unknown kid");
    assert_eq!(
        app.auth.jwks_fetches(),
        before + 1,
        "one refetch for an unknown kid"
    );
    // Another unknown kid right away: still refused, and no second fetch (rate limit).
    let other = TestKey::generate(KeyKind::Ed25519);
    let r = app.get_me(&TokenBuilder::new(&other, &user).sign()).await;
    r.assert_problem(401, "second unknown kid");
    assert_eq!(
        app.auth.jwks_fetches(),
        before + 1,
        "refetches are rate limited"
    );
    // Concurrent unknown kids share one fetch at most.
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let token = TokenBuilder::new(&other, &user).sign();
            let app_url = app.address.clone();
            tokio::spawn(async move {
                reqwest::Client::new()
                    .get(format!("{app_url}/users/me"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .map(|r| r.status())
            })
        })
        .collect();
    for h in handles {
        assert_eq!(
            h.await.expect("join").expect("response"),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(app.auth.jwks_fetches(), before + 1);
}

#[tokio::test]
async fn a_key_rotated_at_the_jwks_is_accepted_without_a_restart() {
    let app = TestApp::builder().spawn().await;
    let user = TestUser::generate();
    let new_key = TestKey::generate(KeyKind::Ed25519);
    app.auth.set_keys(&[&app.key, &new_key]);
    let r = app.get_me(&TokenBuilder::new(&new_key, &user).sign()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // The old key still verifies while it is published.
    assert_eq!(
        app.get_me(&app.token_for(&user)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn cached_keys_keep_working_while_the_jwks_endpoint_is_down() {
    let app = TestApp::builder().spawn().await;
    let user = TestUser::generate();
    app.auth.set_down(true);
    let r = app.get_me(&app.token_for(&user)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // A new kid cannot be fetched: a 401, not a 5xx.
    let stranger = TestKey::generate(KeyKind::Ed25519);
    let r = app
        .get_me(&TokenBuilder::new(&stranger, &user).sign())
        .await;
    r.assert_problem(401, "unknown kid while the JWKS is down");
    let events = app.security_log.lines();
    assert!(
        events.iter().any(|l| l["event"] == "jwks_refresh_failed"),
        "the failed refetch is in the security log"
    );
}

#[tokio::test]
async fn x_user_id_alone_is_refused_and_logged() {
    let app = TestApp::builder().spawn().await;
    let victim = TestUser::generate();
    let r = app
        .request(
            Method::GET,
            "/users/me",
            Auth::None,
            None,
            &[("x-user-id", &victim.id)],
        )
        .await;
    r.assert_problem(401, "X-User-ID alone");
    let events = app.security_events(&r.request_id());
    assert!(
        events
            .iter()
            .any(|e| e["reason"] == "user_id_without_token"),
        "security log: {events:?}"
    );
    assert_eq!(app.row_counts().await, (0, 0, 0));
}

#[tokio::test]
async fn x_user_id_must_match_the_verified_subject() {
    let app = TestApp::builder().spawn().await;
    let (user, token) = app.user_with_token();
    let ok = app
        .request(
            Method::GET,
            "/users/me",
            Auth::Bearer(&token),
            None,
            &[("x-user-id", &user.id)],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);

    let r = app
        .request(
            Method::GET,
            "/users/me",
            Auth::Bearer(&token),
            None,
            &[("x-user-id", "someone-else")],
        )
        .await;
    r.assert_problem(401, "X-User-ID mismatch");
    let events = app.security_events(&r.request_id());
    assert!(
        events
            .iter()
            .any(|e| e["reason"] == "user_id_mismatch" && e["stream"] == "security"),
        "security log: {events:?}"
    );
    // No token or cookie in the log line.
    assert!(!events.iter().any(|e| e.to_string().contains(&token)));
}

#[tokio::test]
async fn a_session_token_is_verified_by_the_auth_server_and_cached() {
    let app = TestApp::builder().spawn().await;
    let user = TestUser::generate();
    let session = app.auth.open_session(&user);
    let r = app.get_me(&session).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["id"], user.id.as_str());
    let checks = app.auth.session_checks();
    assert_eq!(app.get_me(&session).await.status, StatusCode::OK);
    assert_eq!(
        app.auth.session_checks(),
        checks,
        "the second request is served from the cache"
    );
    // X-User-ID is compared with the session's user too.
    let r = app
        .request(
            Method::GET,
            "/users/me",
            Auth::Bearer(&session),
            None,
            &[("x-user-id", "intruder")],
        )
        .await;
    r.assert_problem(401, "X-User-ID mismatch on a session");
    // An unknown session token is refused.
    app.get_me("no-such-session.sig")
        .await
        .assert_problem(401, "unknown session");
}

#[tokio::test]
async fn a_closed_session_is_refused_once_the_cache_expires() {
    let app = TestApp::builder()
        .env("SESSION_CACHE_TTL_SECS", "0")
        .spawn()
        .await;
    let user = TestUser::generate();
    let session = app.auth.open_session(&user);
    assert_eq!(app.get_me(&session).await.status, StatusCode::OK);
    app.auth.close_session(&session);
    app.get_me(&session)
        .await
        .assert_problem(401, "signed-out session");
}

#[tokio::test]
async fn the_user_row_follows_profile_changes_in_the_token() {
    let app = TestApp::builder().spawn().await;
    let user = TestUser::generate();
    assert_eq!(
        app.get_me(&app.token_for(&user)).await.status,
        StatusCode::OK
    );
    let renamed = TokenBuilder::new(&app.key, &user)
        .claim("name", json!("New Name"))
        .sign();
    let r = app.get_me(&renamed).await;
    assert_eq!(r.body["name"], "New Name");
}
