//! The headers every answer carries (issue 13, item 10).

use reqwest::{Method, StatusCode};

use crate::common::{ALLOWED_ORIGIN, Auth, TestApp};

#[tokio::test]
async fn private_answers_are_not_sniffed_cached_or_shared_across_origins() {
    let app = TestApp::builder().spawn().await;
    let (_, token) = app.user_with_token();
    for r in [
        app.get_me(&token).await,
        app.list_conversations(&token, "").await,
        app.request(Method::GET, "/users/me", Auth::None, None, &[])
            .await,
        app.request(
            Method::GET,
            "/users/me",
            Auth::Bearer(&token),
            None,
            &[("origin", ALLOWED_ORIGIN)],
        )
        .await,
    ] {
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert!(
            r.headers.get_all("vary").iter().any(|v| v
                .to_str()
                .is_ok_and(|v| v.to_ascii_lowercase().contains("origin"))),
            "no Vary: Origin: {:?}",
            r.headers
        );
    }
}

#[tokio::test]
async fn a_405_says_what_is_allowed_and_get_routes_answer_head() {
    let app = TestApp::builder().spawn().await;
    let (_, token) = app.user_with_token();
    let r = app
        .request(
            Method::PUT,
            "/conversations",
            Auth::Bearer(&token),
            None,
            &[],
        )
        .await;
    r.assert_problem(405, "PUT /conversations");
    assert_eq!(r.header("allow"), Some("GET, HEAD, POST"));
    let r = app
        .request(Method::HEAD, "/users/me", Auth::Bearer(&token), None, &[])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text.is_empty(), "HEAD with a body: {}", r.text);
    let r = app
        .request(Method::HEAD, "/healthz", Auth::None, None, &[])
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn every_503_carries_retry_after() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let app = TestApp::builder()
        .env("AUTH_URL", url)
        .unready()
        .spawn()
        .await;
    let r = app
        .request(Method::GET, "/readyz", Auth::None, None, &[])
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.header("retry-after").is_some(), "{:?}", r.headers);
}
