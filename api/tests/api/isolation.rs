//! Several users with many conversations: nobody reaches anybody else's data (404 or empty),
//! and a refused attempt changes nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::TestApp;

struct Owner {
    token: String,
    conversations: Vec<String>,
    word: String,
}

async fn snapshot(app: &TestApp) -> Vec<(String, String, i64)> {
    sqlx::query_as(
        "SELECT c.id::text, c.title, count(m.id) FROM conversations c
           LEFT JOIN messages m ON m.conversation_id = c.id
          GROUP BY c.id, c.title ORDER BY c.id",
    )
    .fetch_all(&app.db)
    .await
    .expect("snapshot")
}

#[tokio::test]
async fn no_user_can_read_change_or_search_another_users_history() {
    let app = TestApp::builder().spawn().await;
    let mut owners = Vec::new();
    for n in 0..3 {
        let (_, token) = app.user_with_token();
        let word = format!("secretword{n}x");
        let mut conversations = Vec::new();
        for c in 0..4 {
            let id = app
                .new_conversation(&token, &format!("user {n} chat {c}"))
                .await;
            let r = app
                .append_message(
                    &token,
                    &id,
                    json!({"role": "user", "content": format!("my {word} number {c}")}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
            conversations.push(id);
        }
        owners.push(Owner {
            token,
            conversations,
            word,
        });
    }
    let before = snapshot(&app).await;

    for (i, intruder) in owners.iter().enumerate() {
        for (j, owner) in owners.iter().enumerate() {
            if i == j {
                continue;
            }
            for id in &owner.conversations {
                let t = &intruder.token;
                app.get_conversation(t, id)
                    .await
                    .assert_problem(404, "read");
                app.rename_conversation(t, id, json!("pwned"))
                    .await
                    .assert_problem(404, "rename");
                app.delete_conversation(t, id)
                    .await
                    .assert_problem(404, "delete");
                app.list_messages(t, id, "")
                    .await
                    .assert_problem(404, "list messages");
                app.append_message(t, id, json!({"role": "user", "content": "injected"}))
                    .await
                    .assert_problem(404, "append");
            }
            let r = app.search(&intruder.token, &owner.word).await;
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.body, json!([]), "search leaked another user's messages");
        }
        // Each sees exactly their own.
        let r = app.list_conversations(&intruder.token, "?limit=100").await;
        let mut listed: Vec<String> = r
            .body
            .as_array()
            .expect("array")
            .iter()
            .map(|c| c["id"].as_str().expect("id").to_owned())
            .collect();
        listed.sort();
        let mut own = intruder.conversations.clone();
        own.sort();
        assert_eq!(listed, own);
        let hits = app.search(&intruder.token, &intruder.word).await;
        assert_eq!(hits.body.as_array().map(Vec::len), Some(4), "{}", hits.text);
    }
    assert_eq!(
        snapshot(&app).await,
        before,
        "a refused request changed data"
    );
}

#[tokio::test]
async fn erasing_my_data_leaves_everyone_elses() {
    let app = TestApp::builder().spawn().await;
    let (_, mine) = app.user_with_token();
    let (_, theirs) = app.user_with_token();
    let my_chat = app.new_conversation(&mine, "mine").await;
    let their_chat = app.new_conversation(&theirs, "theirs").await;
    app.append_message(
        &theirs,
        &their_chat,
        json!({"role": "user", "content": "keep me"}),
    )
    .await;

    assert_eq!(app.delete_me(&mine).await.status, StatusCode::NO_CONTENT);
    app.get_conversation(&mine, &my_chat)
        .await
        .assert_problem(404, "erased");
    assert_eq!(
        app.list_conversations(&mine, "").await.body,
        Value::Array(vec![])
    );
    // The same token still works and starts afresh.
    assert_eq!(
        app.create_conversation(&mine, Some("again")).await.status,
        StatusCode::CREATED
    );
    let r = app.list_messages(&theirs, &their_chat, "").await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(1));
}
