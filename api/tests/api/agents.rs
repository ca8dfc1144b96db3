//! `POST /agents/run`: answers stored with their sources, streamed or whole, with a real local
//! OpenAI-compatible server scripted per test, and what is stored after each outcome.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::llm::{LlmServer, MODEL, Step};

const DEW_POINT: &str = "What is the dew point?";

fn text_of(events: &[crate::common::SseEvent]) -> String {
    events
        .iter()
        .filter(|e| e.event == "delta")
        .map(|e| e.data["text"].as_str().expect("delta text"))
        .collect()
}

fn names(events: &[crate::common::SseEvent]) -> Vec<&str> {
    let mut out: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    out.dedup();
    out
}

async fn messages(app: &TestApp, token: &str, conversation: &str, n: usize) -> Vec<Value> {
    let list = app.wait_for_messages(token, conversation, n).await;
    assert_eq!(list.len(), n, "{list:#?}");
    list
}

#[tokio::test]
async fn without_a_model_the_answer_is_extractive_and_both_messages_are_stored() {
    let app = TestApp::builder().corpus().spawn().await;
    let (_, token) = app.user_with_token();

    let r = app
        .post_agents_run(&token, json!({ "query": DEW_POINT }))
        .await;

    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["agent_used"], "extractive");
    let sources = r.body["sources"].as_array().expect("sources");
    assert_eq!(sources.len(), 3);
    let top = &sources[0];
    assert_eq!(top["slug"], "/04-analysis/4-1-derived-quantities");
    assert_eq!(
        top["url"],
        "https://book.example/docs/04-analysis/4-1-derived-quantities#the-dew-point-when-air-becomes-saturated"
    );
    assert_eq!(top["chapter_number"], 4);
    for key in ["title", "snippet", "score", "page_number"] {
        assert!(!top[key].is_null(), "{key} missing: {top}");
    }
    let message = r.body["message"].as_str().expect("message");
    assert!(message.starts_with("_Extractive answer"), "{message}");
    assert!(message.contains("**[1] ["), "citations: {message}");
    assert!(
        message.to_lowercase().contains("becomes saturated"),
        "{message}"
    );

    let conversation = r.body["session_id"].as_str().expect("session_id");
    let conv = app.get_conversation(&token, conversation).await;
    assert_eq!(conv.body["title"], DEW_POINT, "titled from the question");
    let stored = messages(&app, &token, conversation, 2).await;
    assert_eq!(stored[0]["role"], "user");
    assert_eq!(stored[0]["content"], DEW_POINT);
    assert_eq!(stored[1]["role"], "assistant");
    assert_eq!(stored[1]["id"], r.body["message_id"]);
    assert_eq!(stored[1]["content"], message);
    assert_eq!(stored[1]["status"], "complete");
    assert_eq!(stored[1]["agent_type"], "extractive");
    assert_eq!(&stored[1]["sources"], &r.body["sources"]);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(
            r#"chatplane_api_agent_answers_total{agent="extractive",status="complete"} 1"#
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_extractive_answer_streams_as_sources_deltas_and_done() {
    let app = TestApp::builder().corpus().spawn().await;
    let (_, token) = app.user_with_token();

    let r = app
        .stream_agents_run(&token, json!({ "query": DEW_POINT }))
        .await;

    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/event-stream"))
    );
    let events = r.events();
    assert_eq!(names(&events), ["sources", "delta", "done"]);
    let done = &events.last().expect("done").data;
    assert_eq!(done["message"], text_of(&events));
    assert_eq!(events[0].data["sources"], done["sources"]);
    let stored = messages(&app, &token, done["session_id"].as_str().expect("id"), 2).await;
    assert_eq!(stored[1]["content"], done["message"]);
}

#[tokio::test]
async fn a_model_answer_is_stored_and_the_prompt_holds_the_passages_and_history() {
    let llm = LlmServer::start(vec![Step::Answer(
        "The **dew point** is where the air becomes saturated [1].",
    )])
    .await;
    let app = TestApp::builder().corpus().llm(&llm).spawn().await;
    let (_, token) = app.user_with_token();
    let conversation = app.new_conversation(&token, "Fog").await;
    let earlier = app
        .append_message(
            &token,
            &conversation,
            json!({"role": "user", "content": "I am reading about balance."}),
        )
        .await;
    assert_eq!(earlier.status, StatusCode::CREATED);

    let r = app
        .post_agents_run(
            &token,
            json!({ "query": DEW_POINT, "session_id": conversation }),
        )
        .await;

    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.body["message"],
        "The **dew point** is where the air becomes saturated [1]."
    );
    assert_eq!(r.body["agent_used"], "rag");
    assert_eq!(r.body["session_id"], conversation.as_str());
    let stored = messages(&app, &token, &conversation, 3).await;
    assert_eq!(stored[1]["content"], DEW_POINT);
    assert_eq!(stored[2]["content"], r.body["message"]);
    assert_eq!(stored[2]["agent_type"], "rag");
    assert_eq!(stored[2]["sources"].as_array().map(Vec::len), Some(3));

    let requests = llm.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(sent["model"], MODEL);
    assert_eq!(sent["stream"], false);
    let msgs = sent["messages"].as_array().expect("messages");
    assert_eq!(msgs[0]["role"], "system");
    assert!(msgs[0]["content"].as_str().expect("system").contains("[1]"));
    assert_eq!(
        msgs[1]["content"], "I am reading about balance.",
        "history comes first"
    );
    let last = msgs.last().expect("question")["content"]
        .as_str()
        .expect("text");
    assert!(last.contains("[1] ") && last.contains("[3] "), "{last}");
    assert!(last.ends_with(&format!("Question: {DEW_POINT}")), "{last}");
}

#[tokio::test]
async fn a_streamed_model_answer_is_forwarded_and_stored_whole() {
    let answer = "Fog is likely when the dew point is close to the air temperature [1].";
    let llm = LlmServer::start(vec![Step::Answer(answer)]).await;
    let app = TestApp::builder().corpus().llm(&llm).spawn().await;
    let (_, token) = app.user_with_token();

    let r = app
        .stream_agents_run(&token, json!({ "query": DEW_POINT }))
        .await;

    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let events = r.events();
    assert_eq!(names(&events), ["sources", "delta", "done"]);
    assert!(
        events.iter().filter(|e| e.event == "delta").count() > 3,
        "streamed in pieces"
    );
    assert_eq!(text_of(&events), answer);
    let done = &events.last().expect("done").data;
    assert_eq!(done["message"], answer);
    assert_eq!(llm.requests()[0]["stream"], true);
    let stored = messages(&app, &token, done["session_id"].as_str().expect("id"), 2).await;
    assert_eq!(stored[1]["content"], answer);
    assert_eq!(stored[1]["status"], "complete");
    assert_eq!(stored[1]["id"], done["message_id"]);
}

#[tokio::test]
async fn a_429_is_retried_and_the_answer_then_stored_once() {
    let llm = LlmServer::start(vec![Step::Status(429), Step::Answer("Second time lucky.")]).await;
    let app = TestApp::builder().corpus().llm(&llm).spawn().await;
    let (_, token) = app.user_with_token();

    let r = app
        .post_agents_run(&token, json!({ "query": DEW_POINT }))
        .await;

    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["message"], "Second time lucky.");
    assert_eq!(llm.requests().len(), 2);
    let stored = messages(&app, &token, r.body["session_id"].as_str().expect("id"), 2).await;
    assert_eq!(stored[1]["content"], "Second time lucky.");
    assert_eq!(stored[1]["status"], "complete");
}

#[tokio::test]
async fn a_model_timeout_is_a_504_and_stored_as_failed_without_a_retry() {
    let llm = LlmServer::start(vec![Step::Delay(
        Duration::from_secs(3),
        Box::new(Step::Answer("too late")),
    )])
    .await;
    let app = TestApp::builder().corpus().llm(&llm).spawn().await;
    let (_, token) = app.user_with_token();
    let conversation = app.new_conversation(&token, "Slow").await;

    let r = app
        .post_agents_run(
            &token,
            json!({ "query": DEW_POINT, "session_id": conversation }),
        )
        .await;

    r.assert_problem(504, "model timeout");
    assert!(!r.text.contains("127.0.0.1"), "no internals: {}", r.text);
    assert_eq!(llm.requests().len(), 1, "a timeout is not retried");
    let stored = messages(&app, &token, &conversation, 2).await;
    assert_eq!(stored[0]["content"], DEW_POINT, "the question stays stored");
    assert_eq!(stored[1]["status"], "failed");
    assert!(
        stored[1]["content"]
            .as_str()
            .expect("text")
            .contains("did not answer in time")
    );
}

#[tokio::test]
async fn a_failing_model_is_a_502_after_bounded_retries_streamed_or_not() {
    let llm = LlmServer::start(vec![
        Step::Status(500),
        Step::Status(500),
        Step::Status(500),
        Step::Status(503),
        Step::Status(503),
        Step::Status(503),
    ])
    .await;
    let app = TestApp::builder().corpus().llm(&llm).spawn().await;
    let (_, token) = app.user_with_token();

    let r = app
        .post_agents_run(&token, json!({ "query": DEW_POINT }))
        .await;
    r.assert_problem(502, "model 500");
    assert_eq!(llm.requests().len(), 3, "one call and two retries");

    let conversation = app.new_conversation(&token, "Stream").await;
    let r = app
        .stream_agents_run(
            &token,
            json!({ "query": DEW_POINT, "session_id": conversation }),
        )
        .await;
    r.assert_problem(502, "model 503 before the stream started");
    assert_eq!(llm.steps_left(), 0);
    let stored = messages(&app, &token, &conversation, 2).await;
    assert_eq!(stored[1]["status"], "failed");
    assert!(
        stored[1]["content"]
            .as_str()
            .expect("text")
            .contains("failed to answer")
    );
}

#[tokio::test]
async fn a_refusal_by_the_model_is_not_retried() {
    let llm = LlmServer::start(vec![Step::Status(400), Step::Answer("never asked")]).await;
    let app = TestApp::builder().corpus().llm(&llm).spawn().await;
    let (_, token) = app.user_with_token();
    let conversation = app.new_conversation(&token, "Refused").await;

    let r = app
        .post_agents_run(
            &token,
            json!({ "query": DEW_POINT, "session_id": conversation }),
        )
        .await;

    r.assert_problem(502, "model 400");
    assert_eq!(llm.requests().len(), 1, "a 4xx other than 429 is final");
    let stored = messages(&app, &token, &conversation, 2).await;
    assert_eq!(stored[1]["status"], "failed");
}

#[tokio::test]
async fn a_malformed_stream_ends_with_an_error_event_and_a_failed_message() {
    let llm = LlmServer::start(vec![Step::Malformed]).await;
    let app = TestApp::builder().corpus().llm(&llm).spawn().await;
    let (_, token) = app.user_with_token();

    let r = app
        .stream_agents_run(&token, json!({ "query": DEW_POINT }))
        .await;

    assert_eq!(r.status, StatusCode::OK);
    let events = r.events();
    assert_eq!(names(&events), ["sources", "delta", "error"]);
    let error = &events.last().expect("error").data;
    assert_eq!(error["status"], 502);
    let conversation = events[0].data["session_id"].as_str().expect("id");
    let stored = messages(&app, &token, conversation, 2).await;
    assert_eq!(stored[1]["id"], error["message_id"]);
    assert_eq!(stored[1]["status"], "failed");
    let content = stored[1]["content"].as_str().expect("text");
    assert!(
        content.starts_with("Half an"),
        "the partial text is kept: {content}"
    );
    assert!(content.contains("failed to answer"), "{content}");
}

#[tokio::test]
async fn a_reader_who_leaves_mid_stream_leaves_a_stored_incomplete_answer() {
    let pieces = vec![
        "one ", "two ", "three ", "four ", "five ", "six ", "seven ", "eight ",
    ];
    let llm = LlmServer::start(vec![Step::Dribble(pieces, Duration::from_millis(150))]).await;
    let app = TestApp::builder()
        .corpus()
        .llm(&llm)
        .env("LLM_TIMEOUT_SECS", "5")
        .spawn()
        .await;
    let (_, token) = app.user_with_token();

    let seen = app
        .stream_agents_run_and_leave(&token, json!({ "query": DEW_POINT }), "delta")
        .await;

    let conversation = seen[0].data["session_id"].as_str().expect("id").to_owned();
    let stored = messages(&app, &token, &conversation, 2).await;
    assert_eq!(stored[1]["status"], "incomplete");
    let content = stored[1]["content"].as_str().expect("text");
    assert!(content.starts_with("one "), "{content}");
    assert!(
        !content.contains("eight"),
        "stored as far as it got: {content}"
    );
    // The model's stream is dropped too, not read to the end for nobody.
    for _ in 0..100 {
        if llm.abandoned_streams() == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the API kept reading the model after the reader left");
}

#[tokio::test]
async fn the_summarizer_summarises_highlighted_text_and_triage_routes_to_it() {
    let llm = LlmServer::start(vec![Step::Answer(
        "- **Dew point**: the saturation temperature.",
    )])
    .await;
    let app = TestApp::builder().corpus().llm(&llm).spawn().await;
    let (_, token) = app.user_with_token();
    let highlighted = "The dew point is the temperature at which air becomes saturated.";

    let r = app
        .post_agents_run(
            &token,
            json!({"query": "Summarize this", "agent_type": "triage", "highlighted_text": highlighted}),
        )
        .await;

    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["agent_used"], "summarizer");
    let sent = &llm.requests()[0]["messages"];
    assert!(
        sent[0]["content"]
            .as_str()
            .expect("system")
            .contains("summarise")
    );
    assert!(
        sent[1]["content"]
            .as_str()
            .expect("user")
            .contains(highlighted)
    );

    // Without a model the summary is extractive, and says so.
    let plain = TestApp::builder().corpus().spawn().await;
    let (_, token) = plain.user_with_token();
    let r = plain
        .post_agents_run(
            &token,
            json!({"query": "tl;dr", "agent_type": "summarizer",
                   "current_page": "https://book.example/docs/04-analysis/4-1-derived-quantities"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let message = r.body["message"].as_str().expect("message");
    assert!(message.starts_with("_Extractive summary"), "{message}");
    assert!(message.contains("- "), "{message}");
}

#[tokio::test]
async fn another_users_session_is_a_404_and_nothing_is_written_to_it() {
    let llm = LlmServer::start(vec![]).await;
    let app = TestApp::builder().corpus().llm(&llm).spawn().await;
    let (_, alice) = app.user_with_token();
    let (_, mallory) = app.user_with_token();
    let conversation = app.new_conversation(&alice, "Private").await;
    app.get_me(&mallory).await;
    let before = app.row_counts().await;

    for stream in [false, true] {
        let body = json!({ "query": DEW_POINT, "session_id": conversation });
        let r = if stream {
            app.stream_agents_run(&mallory, body).await
        } else {
            app.post_agents_run(&mallory, body).await
        };
        r.assert_problem(404, "someone else's conversation");
    }

    assert_eq!(app.row_counts().await, before, "nothing written");
    assert!(llm.requests().is_empty(), "the model was not asked");
    let r = app.list_messages(&alice, &conversation, "").await;
    assert_eq!(r.body, json!([]));
}

#[tokio::test]
async fn bad_requests_are_refused_with_a_reason_and_write_nothing() {
    let app = TestApp::builder().corpus().spawn().await;
    let (_, token) = app.user_with_token();
    app.get_me(&token).await;
    let before = app.row_counts().await;
    let long = "x".repeat(4_001);
    let cases = [
        (json!({}), 422, "missing query"),
        (json!({"query": "   "}), 422, "blank query"),
        (json!({"query": long}), 422, "query too long"),
        (json!({"query": 5}), 422, "query not a string"),
        (
            json!({"query": "a", "agent_type": "oracle"}),
            422,
            "unknown agent",
        ),
        (
            json!({"query": "a", "session_id": "not a key"}),
            422,
            "session id neither a UUID nor a key",
        ),
        (
            json!({"query": "a", "highlighted_text": "a\u{0}b"}),
            422,
            "NUL in highlight",
        ),
        (
            json!({"query": "a", "current_page": "x".repeat(3000)}),
            422,
            "page too long",
        ),
    ];
    for (body, status, what) in cases {
        let r = app.post_agents_run(&token, body).await;
        r.assert_problem(status, what);
    }
    let r = app
        .raw_body(
            reqwest::Method::POST,
            "/agents/run",
            &token,
            b"{not json".to_vec(),
        )
        .await;
    r.assert_problem(400, "not JSON");
    let r = app
        .post_agents_run(&token, json!({"query": "a", "agent_type": "oracle"}))
        .await;
    assert_eq!(r.body["field"], "agent_type");
    let r = app
        .post_agents_run(&token, json!({"query": "a", "session_id": "not a key"}))
        .await;
    assert_eq!(r.body["field"], "session_id");
    let r = app
        .request(
            reqwest::Method::POST,
            "/agents/run",
            crate::common::Auth::None,
            Some(json!({"query": "a"})),
            &[],
        )
        .await;
    r.assert_problem(401, "no token");
    assert_eq!(app.row_counts().await, before, "nothing written");
}

#[tokio::test]
async fn the_per_user_rate_limit_answers_429_with_retry_after() {
    let app = TestApp::builder()
        .corpus()
        .env("AGENTS_RATE_PER_MINUTE", "2")
        .spawn()
        .await;
    let (_, token) = app.user_with_token();
    let (_, other) = app.user_with_token();
    for _ in 0..2 {
        let r = app
            .post_agents_run(&token, json!({ "query": DEW_POINT }))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    let before = app.row_counts().await;

    let r = app
        .post_agents_run(&token, json!({ "query": DEW_POINT }))
        .await;

    r.assert_problem(429, "third call in a minute");
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=30).contains(&retry), "{retry}");
    assert_eq!(
        app.row_counts().await,
        before,
        "a refused call writes nothing"
    );
    let r = app
        .post_agents_run(&other, json!({ "query": DEW_POINT }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "the limit is per user");
}

/// The original chatbot's widget names its chat session with a string it makes itself.
const CLIENT_KEY: &str = "session_1700000000000_k3j4h5";

#[tokio::test]
async fn two_questions_with_one_client_session_key_land_in_one_conversation() {
    let app = TestApp::builder().corpus().spawn().await;
    let (_, token) = app.user_with_token();
    let ask = async |query: &str| {
        let r = app
            .post_agents_run(&token, json!({"query": query, "session_id": CLIENT_KEY}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.body["session_id"]
            .as_str()
            .expect("session_id")
            .to_owned()
    };
    let first = ask(DEW_POINT).await;
    let second = ask("And the wind chill?").await;
    assert_eq!(first, second, "one conversation for one key");
    let conversations = app.list_conversations(&token, "").await;
    assert_eq!(conversations.body.as_array().map(Vec::len), Some(1));
    assert_eq!(conversations.body[0]["title"], DEW_POINT);
    let stored = messages(&app, &token, &first, 4).await;
    assert_eq!(stored[0]["content"], DEW_POINT);
    assert_eq!(stored[2]["content"], "And the wind chill?");
}

#[tokio::test]
async fn the_same_client_session_key_from_two_users_is_two_conversations() {
    let app = TestApp::builder().corpus().spawn().await;
    let (_, alice) = app.user_with_token();
    let (_, bob) = app.user_with_token();
    let body = json!({"query": DEW_POINT, "session_id": CLIENT_KEY});
    let a = app.post_agents_run(&alice, body.clone()).await;
    let b = app.post_agents_run(&bob, body).await;
    assert_eq!((a.status, b.status), (StatusCode::OK, StatusCode::OK));
    let (a, b) = (&a.body["session_id"], &b.body["session_id"]);
    assert_ne!(a, b, "each user has their own conversation for the key");
    let theirs = app.get_conversation(&bob, a.as_str().expect("id")).await;
    theirs.assert_problem(404, "alice's conversation, asked by bob");
    assert_eq!(
        messages(&app, &alice, a.as_str().expect("id"), 2)
            .await
            .len(),
        2
    );
    assert_eq!(
        messages(&app, &bob, b.as_str().expect("id"), 2).await.len(),
        2
    );
}
