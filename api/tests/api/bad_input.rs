//! Bad input gets a 4xx problem with a reason, never a 5xx, and writes nothing.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Auth, TestApp};

#[tokio::test]
async fn bad_requests_are_refused_with_a_reason_and_write_nothing() {
    let app = TestApp::builder()
        .env("MAX_BODY_BYTES", "4096")
        .env("MAX_MESSAGE_CHARS", "1000")
        .spawn()
        .await;
    let (_, token) = app.user_with_token();
    let id = app.new_conversation(&token, "existing").await;
    app.append_message(&token, &id, json!({"role": "user", "content": "hello"}))
        .await;
    let counts = app.row_counts().await;
    let conv = format!("/conversations/{id}");
    let msgs = format!("/conversations/{id}/messages");

    let json_cases: Vec<(&str, Method, String, Value, u16)> = vec![
        (
            "title of the wrong type",
            Method::POST,
            "/conversations".into(),
            json!({"title": 5}),
            422,
        ),
        (
            "blank title",
            Method::POST,
            "/conversations".into(),
            json!({"title": "   "}),
            422,
        ),
        (
            "title too long",
            Method::POST,
            "/conversations".into(),
            json!({"title": "x".repeat(201)}),
            422,
        ),
        (
            "title with NUL",
            Method::POST,
            "/conversations".into(),
            json!({"title": "a\u{0}b"}),
            422,
        ),
        (
            "body is an array",
            Method::POST,
            "/conversations".into(),
            json!([1, 2]),
            422,
        ),
        (
            "rename without title",
            Method::PATCH,
            conv.clone(),
            json!({}),
            422,
        ),
        (
            "rename to blank",
            Method::PATCH,
            conv.clone(),
            json!({"title": ""}),
            422,
        ),
        (
            "unknown role",
            Method::POST,
            msgs.clone(),
            json!({"role": "system", "content": "x"}),
            422,
        ),
        (
            "missing content",
            Method::POST,
            msgs.clone(),
            json!({"role": "user"}),
            422,
        ),
        (
            "blank content",
            Method::POST,
            msgs.clone(),
            json!({"role": "user", "content": " "}),
            422,
        ),
        (
            "content too long",
            Method::POST,
            msgs.clone(),
            json!({"role": "user", "content": "x".repeat(1001)}),
            422,
        ),
        (
            "content with NUL",
            Method::POST,
            msgs.clone(),
            json!({"role": "user", "content": "a\u{0}"}),
            422,
        ),
        (
            "sources not an array",
            Method::POST,
            msgs.clone(),
            json!({"role": "user", "content": "x", "sources": {"a": 1}}),
            422,
        ),
        (
            "sources of strings",
            Method::POST,
            msgs.clone(),
            json!({"role": "user", "content": "x", "sources": ["a"]}),
            422,
        ),
        (
            "sources with NUL",
            Method::POST,
            msgs.clone(),
            json!({"role": "user", "content": "x", "sources": [{"t": "\u{0}"}]}),
            422,
        ),
        (
            "bad agent_type",
            Method::POST,
            msgs.clone(),
            json!({"role": "user", "content": "x", "agent_type": "drop table;"}),
            422,
        ),
        (
            "body too large",
            Method::POST,
            msgs.clone(),
            json!({"role": "user", "content": "x".repeat(5000)}),
            413,
        ),
        (
            "malformed id (read)",
            Method::GET,
            "/conversations/not-a-uuid".into(),
            Value::Null,
            400,
        ),
        (
            "malformed id (rename)",
            Method::PATCH,
            "/conversations/123".into(),
            json!({"title": "x"}),
            400,
        ),
        (
            "malformed id (delete)",
            Method::DELETE,
            "/conversations/123".into(),
            Value::Null,
            400,
        ),
        (
            "malformed id (append)",
            Method::POST,
            "/conversations/xyz/messages".into(),
            json!({"role": "user", "content": "x"}),
            400,
        ),
        (
            "unknown conversation",
            Method::POST,
            format!("/conversations/{}/messages", uuid::Uuid::new_v4()),
            json!({"role": "user", "content": "x"}),
            404,
        ),
        (
            "bad cursor",
            Method::GET,
            "/conversations?cursor=garbage".into(),
            Value::Null,
            400,
        ),
        (
            "bad before",
            Method::GET,
            format!("{msgs}?before=%%%"),
            Value::Null,
            400,
        ),
        (
            "limit zero",
            Method::GET,
            "/conversations?limit=0".into(),
            Value::Null,
            400,
        ),
        (
            "limit too big",
            Method::GET,
            format!("{msgs}?limit=100000"),
            Value::Null,
            400,
        ),
        (
            "limit not a number",
            Method::GET,
            "/conversations?limit=ten".into(),
            Value::Null,
            400,
        ),
        (
            "search without q",
            Method::GET,
            "/search".into(),
            Value::Null,
            400,
        ),
        (
            "search with a huge q",
            Method::GET,
            format!("/search?q={}", "a".repeat(300)),
            Value::Null,
            422,
        ),
        (
            "unknown path",
            Method::GET,
            "/nope".into(),
            Value::Null,
            404,
        ),
        (
            "wrong method",
            Method::PUT,
            "/conversations".into(),
            Value::Null,
            405,
        ),
    ];
    for (case, method, path, body, status) in json_cases {
        let body = (!body.is_null()).then_some(body);
        let r = app
            .request(method, &path, Auth::Bearer(&token), body, &[])
            .await;
        r.assert_problem(status, case);
        assert_eq!(app.row_counts().await, counts, "{case} wrote something");
    }

    let raw_cases: Vec<(&str, &[u8], u16)> = vec![
        ("not JSON", b"{", 400),
        ("empty body", b"", 400),
        ("trailing garbage", br#"{"title": "a"} x"#, 400),
        ("invalid UTF-8", b"{\"title\": \"\xff\"}", 400),
    ];
    for (case, body, status) in raw_cases {
        let r = app
            .raw_body(Method::POST, "/conversations", &token, body.to_vec())
            .await;
        r.assert_problem(status, case);
        assert_eq!(app.row_counts().await, counts, "{case} wrote something");
    }
}

#[tokio::test]
async fn arrays_null_sources_and_doubled_credential_headers_are_refused() {
    let app = TestApp::builder().spawn().await;
    let (user, token) = app.user_with_token();
    let id = app.new_conversation(&token, "existing").await;
    let counts = app.row_counts().await;
    let msgs = format!("/conversations/{id}/messages");
    for (case, path, body) in [
        ("empty array as a conversation", "/conversations", "[]"),
        (
            "array as a message",
            msgs.as_str(),
            r#"["assistant","x",[],"agentx"]"#,
        ),
        (
            "null sources",
            msgs.as_str(),
            r#"{"role":"user","content":"x","sources":null}"#,
        ),
    ] {
        app.raw_body(Method::POST, path, &token, body.as_bytes().to_vec())
            .await
            .assert_problem(422, case);
    }
    let r = app
        .request(
            Method::GET,
            "/users/me",
            Auth::Bearer(&token),
            None,
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await;
    r.assert_problem(400, "two Authorization headers");
    let r = app
        .request(
            Method::GET,
            "/users/me",
            Auth::Bearer(&token),
            None,
            &[("x-user-id", &user.id), ("x-user-id", "someone-else")],
        )
        .await;
    r.assert_problem(400, "two X-User-ID headers");
    assert_eq!(app.row_counts().await, counts, "a refused request wrote");
}
