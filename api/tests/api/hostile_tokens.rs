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

#[tokio::test]
async fn started_while_the_auth_server_is_down_a_valid_jwt_gets_503_then_is_served() {
    let app = TestApp::builder().auth_down().spawn().await;
    let (_, token) = app.user_with_token();
    let r = app.get_me(&token).await;
    r.assert_problem(503, "no key set yet");
    assert!(r.header("retry-after").is_some(), "503 without Retry-After");
    assert!(r.header("www-authenticate").is_none(), "a 503 is not a 401");
    app.auth.set_down(false);
    // The refresher retries with a backoff (0.5 s doubling) until the key set loads.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let r = app.get_me(&token).await;
        if r.status == StatusCode::OK {
            break;
        }
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
        assert!(std::time::Instant::now() < deadline, "never served");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_token_that_cannot_be_a_session_never_reaches_the_auth_server() {
    let app = TestApp::builder().spawn().await;
    let id = "Ab3dEfGh1jKlMn0pQrStUvWxYz012345";
    for junk in [
        "abc".to_owned(),
        "x".repeat(200),
        format!("{id}.short"),
        format!("{id}x"),
        format!("{}-{}", &id[..16], &id[16..]),
        "a.b".to_owned(),
    ] {
        app.get_me(&junk).await.assert_problem(401, &junk);
    }
    assert_eq!(app.auth.session_checks(), 0, "junk reached get-session");
}

#[tokio::test]
async fn a_refused_session_token_is_remembered() {
    let app = TestApp::builder().spawn().await;
    let stranger = app.auth.open_session(&TestUser::generate());
    app.auth.close_session(&stranger);
    for _ in 0..5 {
        app.get_me(&stranger)
            .await
            .assert_problem(401, "closed session");
    }
    assert_eq!(app.auth.session_checks(), 1);
}

#[tokio::test]
async fn concurrent_requests_with_one_fresh_session_make_one_check() {
    let app = TestApp::builder().spawn().await;
    let user = TestUser::generate();
    let session = app.auth.open_session(&user);
    // Warm the database pool first: a cold pool opening its connections for a burst is slow
    // enough on a loaded machine to time out, and that is not what this test is about.
    let (_, jwt) = app.user_with_token();
    futures::future::join_all((0..20).map(|_| app.get_me(&jwt))).await;
    app.auth
        .set_session_delay(std::time::Duration::from_millis(300));
    let replies = futures::future::join_all((0..20).map(|_| app.get_me(&session))).await;
    for r in &replies {
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{} {:?}",
            r.text,
            app.security_events(&r.request_id())
        );
    }
    assert_eq!(app.auth.session_checks(), 1, "a stampede on get-session");
}

#[tokio::test]
async fn session_checks_in_flight_are_bounded() {
    let app = TestApp::builder()
        .env("SESSION_CHECK_CONCURRENCY", "2")
        .spawn()
        .await;
    let sessions: Vec<String> = (0..8)
        .map(|_| app.auth.open_session(&TestUser::generate()))
        .collect();
    app.auth
        .set_session_delay(std::time::Duration::from_millis(200));
    let replies = futures::future::join_all(sessions.iter().map(|s| app.get_me(s))).await;
    for r in &replies {
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    assert_eq!(app.auth.session_checks(), 8);
    assert!(
        app.auth.max_concurrent_session_checks() <= 2,
        "{} checks at once",
        app.auth.max_concurrent_session_checks()
    );
}

#[tokio::test]
async fn a_nul_in_a_profile_claim_is_no_500() {
    let app = TestApp::builder().spawn().await;
    let user = TestUser::generate();
    let token = TokenBuilder::new(&app.key, &user)
        .claim("name", json!("Ad\u{0}a"))
        .claim("email", json!("a\u{0}@example.test"))
        .claim("image", json!("https://img.test/\u{0}"))
        .sign();
    let r = app.get_me(&token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["name"], "Ada");
    assert!(r.body["email"].is_null(), "{}", r.text);
    let (_, token) = app.user_with_token();
    assert_eq!(app.get_me(&token).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_token_with_a_critical_extension_is_refused_uniformly_and_logged() {
    let app = TestApp::builder().spawn().await;
    let user = TestUser::generate();
    for crit in [vec!["http://ext.test/unknown".to_owned()], vec![]] {
        let mut b = TokenBuilder::new(&app.key, &user);
        b.header.crit = Some(crit.clone());
        let r = app.get_me(&b.sign()).await;
        r.assert_problem(401, &format!("crit {crit:?}"));
        assert_eq!(r.body["detail"], "a valid bearer token is required");
        let events = app.security_events(&r.request_id());
        assert!(
            events.iter().any(|e| e["reason"] == "unknown_crit"),
            "{events:?}"
        );
    }
}
