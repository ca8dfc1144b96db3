//! Probes, metrics, the OpenAPI document, CORS, request ids and graceful stop.

use reqwest::{Method, StatusCode};

use crate::common::{ALLOWED_ORIGIN, Auth, TestApp};

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = TestApp::builder().spawn().await;
    let r = app
        .request(Method::GET, "/healthz", Auth::None, None, &[])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app
        .request(Method::GET, "/readyz", Auth::None, None, &[])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["jwks"], "ok");
}

#[tokio::test]
async fn without_an_auth_server_the_app_is_not_ready_and_answers_tokens_with_503() {
    // A port nobody listens on.
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
    assert_eq!(r.body["jwks"], "not loaded");
    let (_, token) = app.user_with_token();
    // Not a 401: the token may well be valid, and a 401 would log its user out (issue 13).
    let r = app.get_me(&token).await;
    r.assert_problem(503, "no keys loaded");
    assert!(r.header("retry-after").is_some());
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = TestApp::builder().spawn().await;
    let (_, token) = app.user_with_token();
    app.list_conversations(&token, "").await;
    let text = app.metrics().await;
    assert!(text.contains("chatplane_api_http_requests_total{route=\"/conversations\",method=\"GET\",status=\"200\"} 1"), "{text}");
    assert!(text.contains("chatplane_api_http_request_duration_seconds_bucket"));
    assert!(
        text.contains("chatplane_api_jwks_refreshes_total{cause=\"scheduled\",outcome=\"ok\"}")
    );
}

#[tokio::test]
async fn metrics_are_served_only_on_their_own_listener() {
    let app = TestApp::builder().spawn().await;
    let (_, token) = app.user_with_token();
    app.list_conversations(&token, "").await;
    let refused = app
        .request(
            Method::GET,
            "/conversations",
            Auth::Bearer("junk"),
            None,
            &[],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    // The API port: its clients must not read why tokens were refused.
    for method in [Method::GET, Method::HEAD] {
        let r = app
            .request(method.clone(), "/metrics", Auth::None, None, &[])
            .await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "{method} /metrics: {}",
            r.text
        );
    }
    let r = app
        .request(Method::GET, "/metrics", Auth::Bearer(&token), None, &[])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    // The metrics listener serves /metrics and nothing of the API.
    let metrics = app
        .client
        .get(format!("{}/metrics", app.metrics_address))
        .send()
        .await
        .expect("metrics");
    assert_eq!(metrics.status(), StatusCode::OK);
    assert!(
        metrics
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/openmetrics-text"))
    );
    assert!(
        metrics
            .text()
            .await
            .expect("body")
            .contains("chatplane_api_auth_failures_total{reason=")
    );
    for path in ["/conversations", "/healthz", "/openapi.json", "/"] {
        let r = app
            .client
            .get(format!("{}{path}", app.metrics_address))
            .bearer_auth(&token)
            .send()
            .await
            .expect("answer");
        assert_eq!(
            r.status(),
            StatusCode::NOT_FOUND,
            "{path} on the metrics port"
        );
    }
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let app = TestApp::builder().spawn().await;
    let r = app
        .request(Method::GET, "/openapi.json", Auth::None, None, &[])
        .await;
    assert_eq!(r.body["openapi"], "3.1.0");
    for path in [
        "/healthz",
        "/readyz",
        "/users/me",
        "/conversations",
        "/conversations/{id}",
        "/conversations/{id}/messages",
        "/search",
        "/agents/run",
    ] {
        assert!(r.body["paths"][path].is_object(), "{path} missing");
    }
    assert!(
        r.body["paths"]["/metrics"].is_null(),
        "/metrics is on METRICS_ADDR, not in the API port's document"
    );
}

#[tokio::test]
async fn cors_allows_exactly_the_configured_origins() {
    let app = TestApp::builder().spawn().await;
    let preflight = async |origin: &'static str| {
        app.request(
            Method::OPTIONS,
            "/conversations",
            Auth::None,
            None,
            &[
                ("origin", origin),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "authorization, content-type",
                ),
            ],
        )
        .await
    };
    let ok = preflight(ALLOWED_ORIGIN).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some(ALLOWED_ORIGIN)
    );
    assert_eq!(ok.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(ok.header("access-control-max-age"), Some("600"));
    let refused = preflight("http://evil.test").await;
    refused.assert_problem(403, "foreign origin");
    assert!(refused.header("access-control-allow-origin").is_none());

    // A real request from the allowed origin gets the header, errors included.
    let r = app
        .request(
            Method::GET,
            "/users/me",
            Auth::None,
            None,
            &[("origin", ALLOWED_ORIGIN)],
        )
        .await;
    r.assert_problem(401, "no token, allowed origin");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some(ALLOWED_ORIGIN)
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::builder().spawn().await;
    let r = app
        .request(Method::GET, "/healthz", Auth::None, None, &[])
        .await;
    assert_eq!(r.request_id().len(), 36);
    let r = app
        .request(
            Method::GET,
            "/healthz",
            Auth::None,
            None,
            &[("x-request-id", "abc-123")],
        )
        .await;
    assert_eq!(r.request_id(), "abc-123");
    let r = app
        .request(
            Method::GET,
            "/healthz",
            Auth::None,
            None,
            &[("x-request-id", "bad id with spaces")],
        )
        .await;
    assert_ne!(r.request_id(), "bad id with spaces");
}

#[tokio::test]
async fn a_stopped_app_finishes_and_closes_its_port() {
    let app = TestApp::builder().spawn().await;
    let address = app.address.clone();
    app.stop().await;
    assert!(reqwest::get(format!("{address}/healthz")).await.is_err());
}

#[tokio::test]
async fn every_route_of_the_openapi_document_is_served_and_no_other() {
    let app = TestApp::builder().spawn().await;
    let doc = app
        .request(Method::GET, "/openapi.json", Auth::None, None, &[])
        .await
        .body;
    let id = uuid::Uuid::new_v4().to_string();
    let mut served = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for verb in item.as_object().expect("path item").keys() {
            if verb == "parameters" {
                continue;
            }
            let method = Method::from_bytes(verb.to_uppercase().as_bytes()).expect("method");
            let r = app
                .request(method, &path.replace("{id}", &id), Auth::None, None, &[])
                .await;
            // Unauthenticated, so a protected route answers 401; a route nobody serves, 404/405.
            assert!(
                ![StatusCode::NOT_FOUND, StatusCode::METHOD_NOT_ALLOWED].contains(&r.status),
                "{verb} {path} is documented but answers {}",
                r.status
            );
            served += 1;
        }
    }
    assert_eq!(served, 14, "operations in the document: all but /metrics");
    for (method, path) in [
        (Method::GET, "/metrics".to_owned()),
        (Method::GET, "/users".to_owned()),
        (Method::PUT, "/conversations".to_owned()),
        (Method::POST, "/users/me".to_owned()),
        (Method::GET, format!("/conversations/{id}/sources")),
        (Method::GET, "/agents/run".to_owned()),
    ] {
        let r = app
            .request(method.clone(), &path, Auth::None, None, &[])
            .await;
        assert!(
            [StatusCode::NOT_FOUND, StatusCode::METHOD_NOT_ALLOWED].contains(&r.status),
            "{method} {path} is not documented but answers {}",
            r.status
        );
    }
}

#[tokio::test]
async fn a_database_that_cannot_give_a_connection_is_a_503_with_retry_after() {
    let app = TestApp::builder()
        .env("DATABASE_MAX_CONNECTIONS", "1")
        .spawn()
        .await;
    let (_, token) = app.user_with_token();
    // The caller's row is synced while the database still answers.
    assert_eq!(app.get_me(&token).await.status, StatusCode::OK);
    let _held = app.db.acquire().await.expect("the pool's only connection");
    let r = app.list_conversations(&token, "").await;
    r.assert_problem(503, "no connection to be had");
    assert!(r.header("retry-after").is_some(), "{:?}", r.headers);
}

#[tokio::test]
async fn the_openapi_document_carries_the_limits_the_api_enforces() {
    let app = TestApp::builder()
        .env("MAX_TITLE_CHARS", "77")
        .env("MAX_MESSAGE_CHARS", "1234")
        .env("MAX_PAGE_SIZE", "42")
        .env("DEFAULT_PAGE_SIZE", "10")
        .spawn()
        .await;
    let doc = app
        .request(Method::GET, "/openapi.json", Auth::None, None, &[])
        .await
        .body;
    let body = "requestBody/content/application~1json/schema";
    let title = &doc
        .pointer(&format!(
            "/paths/~1conversations/post/{body}/properties/title"
        ))
        .expect("title");
    assert_eq!(title["maxLength"], 77);
    assert_eq!(title["minLength"], 1);
    let rename = doc
        .pointer(&format!("/paths/~1conversations~1{{id}}/patch/{body}"))
        .expect("rename");
    assert_eq!(rename["required"], serde_json::json!(["title"]));
    assert_eq!(rename["properties"]["title"]["maxLength"], 77);
    let append = doc
        .pointer(&format!(
            "/paths/~1conversations~1{{id}}~1messages/post/{body}"
        ))
        .expect("append");
    assert_eq!(append["properties"]["content"]["maxLength"], 1234);
    assert_eq!(append["required"], serde_json::json!(["role", "content"]));
    let limit = doc["paths"]["/conversations"]["get"]["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "limit"))
        .expect("limit");
    assert_eq!(limit["schema"]["maximum"], 42);
    let q = doc["paths"]["/search"]["get"]["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "q"))
        .expect("q");
    assert_eq!(q["schema"]["maxLength"], 200);
}
