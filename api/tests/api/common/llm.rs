//! A local OpenAI-compatible chat-completions server: real HTTP, real SSE, one scripted step per
//! request, and a record of what each request asked. A request beyond the script gets a 500.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use warp::Filter;
use warp::http::StatusCode;

/// What the server does with one request.
#[derive(Debug, Clone)]
pub enum Step {
    /// The whole answer: a completion object, or SSE chunks (split at spaces) when the request
    /// asked to stream.
    Answer(&'static str),
    /// An error status (429 carries `Retry-After: 0`).
    Status(u16),
    /// Waits, then does the inner step.
    Delay(Duration, Box<Step>),
    /// Streams these pieces with a pause before each, then `[DONE]`.
    Dribble(Vec<&'static str>, Duration),
    /// Streams one good chunk, then a chunk that is not JSON.
    Malformed,
}

#[derive(Clone)]
pub struct LlmServer {
    /// The base URL to configure (`LLM_BASE_URL`).
    pub url: String,
    script: Arc<Mutex<VecDeque<Step>>>,
    requests: Arc<Mutex<Vec<Value>>>,
    /// Streams whose reader (the API) went away before the end.
    abandoned: Arc<AtomicUsize>,
}

pub const MODEL: &str = "test-model";

impl LlmServer {
    pub async fn start(script: Vec<Step>) -> Self {
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let requests: Arc<Mutex<Vec<Value>>> = Arc::default();
        let abandoned = Arc::new(AtomicUsize::new(0));
        let (s, r, a) = (script.clone(), requests.clone(), abandoned.clone());
        let route = warp::path!("v1" / "chat" / "completions")
            .and(warp::post())
            .and(warp::body::json::<Value>())
            .then(move |body: Value| {
                let (s, r, a) = (s.clone(), r.clone(), a.clone());
                async move {
                    let stream = body["stream"].as_bool().unwrap_or(false);
                    r.lock().expect("requests lock").push(body);
                    let step = s.lock().expect("script lock").pop_front();
                    match step {
                        Some(step) => reply(step, stream, a).await,
                        None => status(500),
                    }
                }
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind llm");
        let url = format!("http://{}/v1", listener.local_addr().expect("addr"));
        tokio::spawn(warp::serve(route).incoming(listener).run());
        Self {
            url,
            script,
            requests,
            abandoned,
        }
    }

    /// The variables that point the API at this server (fast retries, a 1 s timeout).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("LLM_BASE_URL", self.url.clone()),
            ("LLM_MODEL", MODEL.into()),
            ("LLM_API_KEY", "sk-test-key".into()),
            ("LLM_RETRY_BASE_MS", "10".into()),
            ("LLM_TIMEOUT_SECS", "1".into()),
        ]
    }

    /// The JSON bodies the server received, in order.
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().expect("requests lock").clone()
    }

    pub fn steps_left(&self) -> usize {
        self.script.lock().expect("script lock").len()
    }

    pub fn abandoned_streams(&self) -> usize {
        self.abandoned.load(Ordering::SeqCst)
    }
}

fn status(code: u16) -> warp::reply::Response {
    let code = StatusCode::from_u16(code).expect("status");
    let mut res = warp::Reply::into_response(warp::reply::with_status(
        warp::reply::json(
            &json!({"error": {"message": "scripted failure", "type": "server_error"}}),
        ),
        code,
    ));
    if code == StatusCode::TOO_MANY_REQUESTS {
        res.headers_mut()
            .insert("retry-after", warp::http::HeaderValue::from_static("0"));
    }
    res
}

fn chunk(content: &str) -> String {
    let v = json!({"id": "c1", "object": "chat.completion.chunk", "model": MODEL,
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]});
    format!("data: {v}\n\n")
}

fn finish() -> String {
    let v = json!({"id": "c1", "object": "chat.completion.chunk", "model": MODEL,
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
    format!("data: {v}\n\ndata: [DONE]\n\n")
}

/// An SSE response fed by a task: a pause before each frame, and a count of readers that left.
fn sse(frames: Vec<String>, pause: Duration, abandoned: Arc<AtomicUsize>) -> warp::reply::Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
    tokio::spawn(async move {
        for frame in frames {
            tokio::time::sleep(pause).await;
            if tx.send(Ok(Bytes::from(frame))).await.is_err() {
                abandoned.fetch_add(1, Ordering::SeqCst);
                return;
            }
        }
    });
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut res = warp::Reply::into_response(warp::reply::stream(body));
    res.headers_mut().insert(
        "content-type",
        warp::http::HeaderValue::from_static("text/event-stream"),
    );
    res
}

fn reply(
    step: Step,
    stream: bool,
    abandoned: Arc<AtomicUsize>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = warp::reply::Response> + Send>> {
    Box::pin(async move {
        match step {
            Step::Status(code) => status(code),
            Step::Delay(wait, inner) => {
                tokio::time::sleep(wait).await;
                reply(*inner, stream, abandoned).await
            }
            Step::Answer(text) if stream => {
                let mut frames: Vec<String> = text.split_inclusive(' ').map(chunk).collect();
                frames.push(finish());
                sse(frames, Duration::ZERO, abandoned)
            }
            Step::Answer(text) => warp::Reply::into_response(warp::reply::json(&json!({
                "id": "c1", "object": "chat.completion", "model": MODEL,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": "stop"}]
            }))),
            Step::Dribble(pieces, pause) => {
                let mut frames: Vec<String> = pieces.into_iter().map(chunk).collect();
                frames.push(finish());
                sse(frames, pause, abandoned)
            }
            Step::Malformed => sse(
                vec![chunk("Half an "), "data: {\"choices\": [oops\n\n".into()],
                Duration::ZERO,
                abandoned,
            ),
        }
    })
}
