use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::json;

use crate::common::TestApp;

#[tokio::test]
async fn a_conversation_can_be_created_read_renamed_and_deleted() {
    let app = TestApp::builder().spawn().await;
    let (_, token) = app.user_with_token();

    let r = app.create_conversation(&token, None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["title"], "New conversation");
    let id = r.body["id"].as_str().expect("id").to_owned();
    assert_eq!(
        r.header("location"),
        Some(format!("/conversations/{id}").as_str())
    );

    let r = app.get_conversation(&token, &id).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["id"], id.as_str());

    let r = app
        .rename_conversation(&token, &id, json!("  ROS 2 basics "))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["title"], "ROS 2 basics");

    app.append_message(&token, &id, json!({"role": "user", "content": "hi"}))
        .await;
    assert_eq!(
        app.delete_conversation(&token, &id).await.status,
        StatusCode::NO_CONTENT
    );
    app.get_conversation(&token, &id)
        .await
        .assert_problem(404, "deleted");
    app.delete_conversation(&token, &id)
        .await
        .assert_problem(404, "deleted twice");
    let (_, _, messages) = app.row_counts().await;
    assert_eq!(messages, 0, "messages are deleted with their conversation");
}

#[tokio::test]
async fn conversations_are_listed_newest_first_in_keyset_pages() {
    let app = TestApp::builder().spawn().await;
    let (_, token) = app.user_with_token();
    let mut created = Vec::new();
    for n in 0..7 {
        created.push(app.new_conversation(&token, &format!("chat {n}")).await);
    }
    // Touching the oldest moves it to the top.
    app.append_message(
        &token,
        &created[0],
        json!({"role": "user", "content": "bump"}),
    )
    .await;
    let mut expected: Vec<String> = created[1..].iter().rev().cloned().collect();
    expected.insert(0, created[0].clone());

    let mut seen = Vec::new();
    let mut next = Some("/conversations?limit=3".to_owned());
    let mut pages = 0;
    while let Some(path) = next {
        let r = app.get(&path, &token).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let page = r.body.as_array().expect("array");
        assert!(page.len() <= 3);
        seen.extend(
            page.iter()
                .map(|c| c["id"].as_str().expect("id").to_owned()),
        );
        next = r.next_link();
        pages += 1;
        assert!(pages <= 4, "pagination does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, expected);
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        7,
        "no duplicates"
    );
}
