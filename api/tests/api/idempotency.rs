//! Idempotent appends (issue 13): a retry with the same `Idempotency-Key` gets the first
//! response and stores nothing more; and the per-conversation message cap, which concurrent
//! appends cannot pass.

use std::time::Duration;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::llm::{LlmServer, Step};

const KEY: &str = "8e03978e-40d5-43e8-bc93-6894a57f9324";

async fn stored_messages(app: &TestApp, conversation: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM messages WHERE conversation_id = $1::uuid")
        .bind(conversation)
        .fetch_one(&app.db)
        .await
        .expect("count messages")
}

async fn keys_of(app: &TestApp, user: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM idempotency_keys WHERE user_id = $1")
        .bind(user)
        .fetch_one(&app.db)
        .await
        .expect("count keys")
}

fn message(content: &str) -> Value {
    json!({"role": "user", "content": content})
}

#[tokio::test]
async fn a_retry_gets_the_first_response_and_stores_nothing_more() {
    let app = TestApp::builder().spawn().await;
    let (_, token) = app.user_with_token();
    let id = app.new_conversation(&token, "retries").await;

    let first = app
        .append_message_once(&token, &id, KEY, message("once"))
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    assert_eq!(first.header("idempotent-replayed"), None);
    // The quoted spelling of the draft standard is the same key.
    for key in [KEY.to_owned(), format!("\"{KEY}\"")] {
        let again = app
            .append_message_once(&token, &id, &key, message("once"))
            .await;
        assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(again.text, first.text, "the first body, byte for byte");
    }
    assert_eq!(stored_messages(&app, &id).await, 1);

    // Without a key, the same body is a new message.
    let plain = app.append_message(&token, &id, message("once")).await;
    assert_eq!(plain.status, StatusCode::CREATED);
    assert_ne!(plain.body["id"], first.body["id"]);
    assert_eq!(stored_messages(&app, &id).await, 2);
}

#[tokio::test]
async fn the_same_key_with_another_request_is_a_422_and_writes_nothing() {
    let app = TestApp::builder().spawn().await;
    let (_, token) = app.user_with_token();
    let id = app.new_conversation(&token, "one").await;
    let other = app.new_conversation(&token, "two").await;
    let first = app
        .append_message_once(&token, &id, KEY, message("first"))
        .await;
    assert_eq!(first.status, StatusCode::CREATED);

    let r = app
        .append_message_once(&token, &id, KEY, message("second"))
        .await;
    r.assert_problem(422, "another body");
    assert_eq!(
        r.body["type"],
        "https://chatplane.dev/problems/idempotency-key-reused"
    );
    let r = app
        .append_message_once(&token, &other, KEY, message("first"))
        .await;
    r.assert_problem(422, "another conversation");
    let r = app
        .post_agents_run_once(&token, KEY, json!({"query": "first"}), &[])
        .await;
    r.assert_problem(422, "another route");
    assert_eq!(stored_messages(&app, &id).await, 1);
    assert_eq!(stored_messages(&app, &other).await, 0);
    assert_eq!(app.row_counts().await.1, 2, "no conversation was created");
}

#[tokio::test]
async fn keys_are_per_user() {
    let app = TestApp::builder().spawn().await;
    let (alice, alice_token) = app.user_with_token();
    let (bob, bob_token) = app.user_with_token();
    let alices = app.new_conversation(&alice_token, "alice").await;
    let bobs = app.new_conversation(&bob_token, "bob").await;

    let a = app
        .append_message_once(&alice_token, &alices, KEY, message("alice's"))
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    let b = app
        .append_message_once(&bob_token, &bobs, KEY, message("bob's"))
        .await;
    assert_eq!(b.status, StatusCode::CREATED, "{}", b.text);
    assert_eq!(b.header("idempotent-replayed"), None);
    assert_eq!(b.body["content"], "bob's");
    // Bob's key does not reach Alice's conversation, nor replay her message.
    let r = app
        .append_message_once(&bob_token, &alices, "bob-2", message("alice's"))
        .await;
    r.assert_problem(404, "another user's conversation");
    assert_eq!(stored_messages(&app, &alices).await, 1);
    assert_eq!(stored_messages(&app, &bobs).await, 1);
    assert_eq!(keys_of(&app, &alice.id).await, 1);
    assert_eq!(keys_of(&app, &bob.id).await, 1);
}

#[tokio::test]
async fn concurrent_duplicates_store_one_message() {
    let app = TestApp::builder().spawn().await;
    let (_, token) = app.user_with_token();
    let id = app.new_conversation(&token, "racing").await;

    let replies =
        join_all((0..10).map(|_| app.append_message_once(&token, &id, KEY, message("only one"))))
            .await;
    for r in &replies {
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(r.text, replies[0].text);
    }
    let fresh = replies
        .iter()
        .filter(|r| r.header("idempotent-replayed").is_none())
        .count();
    assert_eq!(fresh, 1, "one request stored it, nine replayed it");
    assert_eq!(stored_messages(&app, &id).await, 1);
}

#[tokio::test]
async fn a_malformed_key_is_a_400_with_the_reason() {
    let app = TestApp::builder().spawn().await;
    let (_, token) = app.user_with_token();
    let id = app.new_conversation(&token, "bad keys").await;
    let long = "k".repeat(256);
    for key in ["", "\"\"", "two words", "a,b", "semi;colon", long.as_str()] {
        let r = app
            .append_message_once(&token, &id, key, message("x"))
            .await;
        r.assert_problem(400, key);
        assert!(
            r.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("Idempotency-Key")),
            "{}",
            r.text
        );
        let r = app
            .post_agents_run_once(&token, key, json!({"query": "x"}), &[])
            .await;
        r.assert_problem(400, key);
    }
    let r = app
        .request(
            reqwest::Method::POST,
            &format!("/conversations/{id}/messages"),
            crate::common::Auth::Bearer(&token),
            Some(message("x")),
            &[("idempotency-key", "a"), ("idempotency-key", "b")],
        )
        .await;
    r.assert_problem(400, "two keys");
    assert_eq!(stored_messages(&app, &id).await, 0);
    assert_eq!(app.row_counts().await.1, 1);
}

#[tokio::test]
async fn deleting_the_conversation_or_the_user_deletes_their_keys() {
    let app = TestApp::builder().spawn().await;
    let (user, token) = app.user_with_token();
    let one = app.new_conversation(&token, "one").await;
    let two = app.new_conversation(&token, "two").await;
    app.append_message_once(&token, &one, "k1", message("a"))
        .await;
    app.append_message_once(&token, &two, "k2", message("b"))
        .await;
    assert_eq!(keys_of(&app, &user.id).await, 2);
    assert_eq!(
        app.delete_conversation(&token, &one).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(keys_of(&app, &user.id).await, 1);
    assert_eq!(app.delete_me(&token).await.status, StatusCode::NO_CONTENT);
    assert_eq!(keys_of(&app, &user.id).await, 0);
}

#[tokio::test]
async fn an_agents_run_retry_gets_the_stored_answer_without_asking_the_model_again() {
    // One scripted answer: a second call to the model would get a 500 (and the client a 502).
    let llm = LlmServer::start(vec![Step::Answer("The dew point is where air saturates.")]).await;
    let app = TestApp::builder().corpus().llm(&llm).spawn().await;
    let (_, token) = app.user_with_token();
    let ask = json!({"query": "What is the dew point?"});

    let first = app
        .post_agents_run_once(&token, KEY, ask.clone(), &[])
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let again = app
        .post_agents_run_once(&token, KEY, ask.clone(), &[])
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.text, first.text);

    // Asked for as a stream, the replay is the stream of the stored answer.
    let streamed = app
        .post_agents_run_once(&token, KEY, ask, &[("accept", "text/event-stream")])
        .await;
    assert_eq!(streamed.status, StatusCode::OK, "{}", streamed.text);
    assert_eq!(streamed.header("idempotent-replayed"), Some("true"));
    let events = streamed.events();
    assert_eq!(events[0].event, "sources");
    assert_eq!(events[0].data["session_id"], first.body["session_id"]);
    let done = events.last().expect("events");
    assert_eq!(done.event, "done");
    assert_eq!(done.data, first.body);

    assert_eq!(llm.requests().len(), 1, "the model was asked once");
    let conversation = first.body["session_id"].as_str().expect("session_id");
    assert_eq!(stored_messages(&app, conversation).await, 2);
    assert_eq!(app.row_counts().await.1, 1, "one conversation");
}

#[tokio::test]
async fn an_agents_run_failure_is_replayed_as_it_was() {
    let llm = LlmServer::start(vec![Step::Status(500)]).await;
    let app = TestApp::builder()
        .corpus()
        .llm(&llm)
        .env("LLM_MAX_RETRIES", "0")
        .spawn()
        .await;
    let (_, token) = app.user_with_token();
    let ask = json!({"query": "What is the dew point?"});
    let first = app
        .post_agents_run_once(&token, KEY, ask.clone(), &[])
        .await;
    first.assert_problem(502, "the model failed");
    let again = app.post_agents_run_once(&token, KEY, ask, &[]).await;
    again.assert_problem(502, "replayed");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.text, first.text);
    assert_eq!(llm.requests().len(), 1);
    let r: (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE role = 'user'), count(*) FILTER (WHERE status = 'failed')
           FROM messages",
    )
    .fetch_one(&app.db)
    .await
    .expect("messages");
    assert_eq!(r, (1, 1), "one question, one failed answer");
}

#[tokio::test]
async fn a_retry_while_the_first_run_is_answered_is_a_409_with_retry_after() {
    let llm = LlmServer::start(vec![Step::Delay(
        Duration::from_secs(2),
        Box::new(Step::Answer("Late but whole.")),
    )])
    .await;
    let app = TestApp::builder()
        .corpus()
        .llm(&llm)
        .env("LLM_TIMEOUT_SECS", "10")
        .spawn()
        .await;
    let (_, token) = app.user_with_token();
    let ask = json!({"query": "What is the dew point?"});
    let first = app.post_agents_run_once(&token, KEY, ask.clone(), &[]);
    let retry = async {
        // Once the question and its key are stored, the first run is waiting for the model.
        for _ in 0..200 {
            let in_flight: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM idempotency_keys
                  WHERE question_id IS NOT NULL AND response_status IS NULL",
            )
            .fetch_one(&app.db)
            .await
            .expect("keys");
            if in_flight == 1 {
                return app
                    .post_agents_run_once(&token, KEY, ask.clone(), &[])
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the first run never stored its question");
    };
    let (first, retry) = tokio::join!(first, retry);
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    retry.assert_problem(409, "in flight");
    assert_eq!(
        retry.body["type"],
        "https://chatplane.dev/problems/idempotency-key-in-flight"
    );
    assert!(retry.header("retry-after").is_some());
    assert_eq!(llm.requests().len(), 1);
    // Once answered, the retry gets the answer.
    let later = app.post_agents_run_once(&token, KEY, ask, &[]).await;
    assert_eq!(later.text, first.text);
    let conversation = first.body["session_id"].as_str().expect("session_id");
    assert_eq!(stored_messages(&app, conversation).await, 2);
}

#[tokio::test]
async fn a_full_conversation_refuses_the_next_append_and_stores_nothing() {
    let llm = LlmServer::start(vec![]).await;
    let app = TestApp::builder()
        .corpus()
        .llm(&llm)
        .env("MAX_MESSAGES_PER_CONVERSATION", "3")
        .spawn()
        .await;
    let (_, token) = app.user_with_token();
    let id = app.new_conversation(&token, "small").await;
    for n in 0..2 {
        let r = app
            .append_message(&token, &id, message(&format!("m{n}")))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    // A run needs room for its question and its answer: refused before the model is asked.
    let r = app
        .post_agents_run(
            &token,
            json!({"query": "What is the dew point?", "session_id": id}),
        )
        .await;
    r.assert_problem(409, "no room for a question and its answer");
    assert_eq!(
        r.body["type"],
        "https://chatplane.dev/problems/conversation-full"
    );
    assert!(llm.requests().is_empty(), "the model was not asked");

    let r = app.append_message(&token, &id, message("m2")).await;
    assert_eq!(r.status, StatusCode::CREATED, "the third fits");
    for r in [
        app.append_message(&token, &id, message("m3")).await,
        app.append_message_once(&token, &id, KEY, message("m3"))
            .await,
    ] {
        r.assert_problem(409, "the fourth does not");
        assert_eq!(
            r.body["type"],
            "https://chatplane.dev/problems/conversation-full"
        );
        assert!(r.body["detail"].as_str().is_some_and(|d| d.contains('3')));
    }
    assert_eq!(stored_messages(&app, &id).await, 3);
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM idempotency_keys")
        .fetch_one(&app.db)
        .await
        .expect("keys");
    assert_eq!(keys, 0, "a refused request leaves no key behind");
}

#[tokio::test]
async fn concurrent_appends_never_pass_the_cap() {
    let app = TestApp::builder()
        .env("MAX_MESSAGES_PER_CONVERSATION", "5")
        .spawn()
        .await;
    let (_, token) = app.user_with_token();
    let id = app.new_conversation(&token, "crowded").await;
    let replies = join_all((0..20).map(|n| {
        let (token, id) = (token.clone(), id.clone());
        let app = &app;
        async move {
            app.append_message(&token, &id, message(&format!("m{n}")))
                .await
        }
    }))
    .await;
    let created = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    let full = replies
        .iter()
        .filter(|r| r.status == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, full), (5, 15));
    assert_eq!(stored_messages(&app, &id).await, 5);
}

#[tokio::test]
async fn a_run_abandoned_in_flight_is_resumed_from_its_stored_question() {
    let llm = LlmServer::start(vec![
        Step::Answer("The first answer, lost."),
        Step::Answer("The answer of the resumed run."),
    ])
    .await;
    let app = TestApp::builder()
        .corpus()
        .llm(&llm)
        .env("IDEMPOTENCY_IN_FLIGHT_SECS", "60")
        .spawn()
        .await;
    let (_, token) = app.user_with_token();
    let ask = json!({"query": "What is the dew point?"});
    let first = app
        .post_agents_run_once(&token, KEY, ask.clone(), &[])
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let conversation = first.body["session_id"].as_str().expect("session_id");
    // As a process that died after storing the question would leave it: no answer, the key
    // in flight since longer than IDEMPOTENCY_IN_FLIGHT_SECS.
    sqlx::query("DELETE FROM messages WHERE role = 'assistant'")
        .execute(&app.db)
        .await
        .expect("drop the answer");
    sqlx::query(
        "UPDATE idempotency_keys SET response_status = NULL, response_body = NULL,
                locked_at = now() - interval '2 minutes'",
    )
    .execute(&app.db)
    .await
    .expect("abandon the key");

    let resumed = app
        .post_agents_run_once(&token, KEY, ask.clone(), &[])
        .await;
    assert_eq!(resumed.status, StatusCode::OK, "{}", resumed.text);
    assert_eq!(resumed.header("idempotent-replayed"), None);
    assert_eq!(resumed.body["message"], "The answer of the resumed run.");
    assert_eq!(resumed.body["session_id"], conversation);
    let roles: Vec<String> = sqlx::query_scalar(
        "SELECT role FROM messages WHERE conversation_id = $1::uuid ORDER BY created_at",
    )
    .bind(conversation)
    .fetch_all(&app.db)
    .await
    .expect("messages");
    assert_eq!(
        roles,
        ["user", "assistant"],
        "the question was not stored again"
    );
    // And from now on the key replays the resumed answer.
    let again = app.post_agents_run_once(&token, KEY, ask, &[]).await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.text, resumed.text);
    assert_eq!(llm.requests().len(), 2);
}

#[tokio::test]
async fn an_expired_key_counts_as_unused_and_the_sweep_deletes_it() {
    let app = TestApp::builder().spawn().await;
    let (user, token) = app.user_with_token();
    let id = app.new_conversation(&token, "old keys").await;
    let first = app
        .append_message_once(&token, &id, KEY, message("yesterday"))
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let fresh = app
        .append_message_once(&token, &id, "fresh", message("today"))
        .await;
    assert_eq!(fresh.status, StatusCode::CREATED);
    sqlx::query(
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = $1",
    )
    .bind(KEY)
    .execute(&app.db)
    .await
    .expect("age the key");

    // Past the 24 h TTL, the key is new again (even another body is welcome).
    let r = app
        .append_message_once(&token, &id, KEY, message("today, again"))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.header("idempotent-replayed"), None);
    assert_eq!(stored_messages(&app, &id).await, 3);

    sqlx::query(
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = $1",
    )
    .bind(KEY)
    .execute(&app.db)
    .await
    .expect("age the key");
    let ttl = Duration::from_secs(24 * 3600);
    let deleted = chatplane_api::store::idempotency::sweep(&app.db, ttl, 1)
        .await
        .expect("sweep");
    assert_eq!(deleted, 1, "only the expired key");
    assert_eq!(keys_of(&app, &user.id).await, 1);
    let r = app
        .append_message_once(&token, &id, "fresh", message("today"))
        .await;
    assert_eq!(
        r.header("idempotent-replayed"),
        Some("true"),
        "the live key stays"
    );
}
