use reqwest::StatusCode;
use serde_json::json;

use crate::common::TestApp;

#[tokio::test]
async fn messages_keep_their_order_role_and_sources() {
    let app = TestApp::builder().spawn().await;
    let (_, token) = app.user_with_token();
    let id = app.new_conversation(&token, "sources").await;
    let sources = json!([{"slug": "ros2/nodes", "title": "Nodes", "url": "https://docs/ros2/nodes#topics",
                          "snippet": "A node is…", "score": 0.91}]);
    let r = app
        .append_message(
            &token,
            &id,
            json!({"role": "user", "content": "What is a node?"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = app
        .append_message(
            &token,
            &id,
            json!({"role": "assistant", "content": "| a | b |\n|---|---|\n| 1 | 2 |",
                                            "sources": sources, "agent_type": "rag"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["status"], "complete");
    let answer = r.body.clone();

    let r = app.list_messages(&token, &id, "").await;
    let page = r.body.as_array().expect("array");
    assert_eq!(page.len(), 2);
    // The page decodes its rows itself (store::columns): the same message as the append's reply.
    assert_eq!(page[1], answer);
    assert!(page.iter().all(|m| m["conversation_id"] == id.as_str()));
    assert_eq!(page[0]["agent_type"], json!(null));
    assert_eq!(page[0]["role"], "user");
    assert_eq!(page[1]["role"], "assistant");
    assert_eq!(page[1]["sources"], sources);
    assert_eq!(page[1]["agent_type"], "rag");
    assert_eq!(page[0]["sources"], json!([]));
    assert!(r.next_link().is_none());
}

#[tokio::test]
async fn older_messages_come_in_pages_through_before() {
    let app = TestApp::builder().spawn().await;
    let (_, token) = app.user_with_token();
    let id = app.new_conversation(&token, "long").await;
    for n in 0..8 {
        let r = app
            .append_message(
                &token,
                &id,
                json!({"role": "user", "content": format!("m{n}")}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let first = app.list_messages(&token, &id, "?limit=3").await;
    let contents = |r: &crate::common::Reply| -> Vec<String> {
        r.body
            .as_array()
            .expect("array")
            .iter()
            .map(|m| m["content"].as_str().expect("content").to_owned())
            .collect()
    };
    assert_eq!(
        contents(&first),
        ["m5", "m6", "m7"],
        "the newest page, oldest first"
    );
    let second = app.get(&first.next_link().expect("next"), &token).await;
    assert_eq!(contents(&second), ["m2", "m3", "m4"]);
    let third = app.get(&second.next_link().expect("next"), &token).await;
    assert_eq!(contents(&third), ["m0", "m1"]);
    assert!(third.next_link().is_none());
}

#[tokio::test]
async fn search_finds_my_messages_by_words() {
    let app = TestApp::builder().spawn().await;
    let (_, token) = app.user_with_token();
    let id = app.new_conversation(&token, "robots").await;
    app.append_message(
        &token,
        &id,
        json!({"role": "user", "content": "How do humanoid robots balance?"}),
    )
    .await;
    app.append_message(
        &token,
        &id,
        json!({"role": "assistant", "content": "Gazebo simulates physics."}),
    )
    .await;
    let r = app.search(&token, "balancing robot").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let hits = r.body.as_array().expect("array");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["conversation_id"], id.as_str());
    assert_eq!(hits[0]["conversation_title"], "robots");
    assert!(hits[0]["snippet"].as_str().expect("snippet").contains("**"));
}
