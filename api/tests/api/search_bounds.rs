//! One user's searches cannot slow everyone (issue 13, item 9): a statement that runs past
//! `SEARCH_STATEMENT_TIMEOUT_MS` is cancelled and answered 503 with `Retry-After`.

use reqwest::StatusCode;

use crate::common::TestApp;

#[tokio::test]
async fn a_search_past_its_statement_timeout_is_a_503_and_a_bounded_one_is_served() {
    let app = TestApp::builder()
        .env("SEARCH_STATEMENT_TIMEOUT_MS", "1")
        .spawn()
        .await;
    let (_, token) = app.user_with_token();
    let id = app.new_conversation(&token, "big").await;
    sqlx::query(
        "INSERT INTO messages (id, conversation_id, role, content)
         SELECT gen_random_uuid(), $1::uuid, 'user', repeat('alpha beta gamma delta ', 200)
           FROM generate_series(1, 1000)",
    )
    .bind(&id)
    .execute(&app.db)
    .await
    .expect("messages");
    let r = app.get("/search?q=alpha", &token).await;
    r.assert_problem(503, "search past its timeout");
    assert!(r.header("retry-after").is_some());
    // The same search with room to run is served.
    let roomy = TestApp::builder().spawn().await;
    let (_, token) = roomy.user_with_token();
    let id = roomy.new_conversation(&token, "small").await;
    roomy
        .append_message(
            &token,
            &id,
            serde_json::json!({"role": "user", "content": "alpha beta"}),
        )
        .await;
    let r = roomy.get("/search?q=alpha", &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}
