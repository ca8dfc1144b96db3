//! The one test helper: `spawn_app()` starts the real application on a random port against a
//! fresh PostgreSQL database and a real local auth endpoint (JWKS and get-session over HTTP),
//! and returns a `TestApp` with a method per endpoint.

#![allow(dead_code)]

pub mod keys;
pub mod llm;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use chatplane_api::config::Settings;
use chatplane_api::startup::Application;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection, PgPool};
use warp::Filter;

pub use keys::{TestKey, TokenBuilder};

pub const ISSUER: &str = "http://auth.chatplane.test";
pub const AUDIENCE: &str = "http://auth.chatplane.test";
pub const ALLOWED_ORIGIN: &str = "http://app.chatplane.test";

/// Security-stream lines of the whole test binary, so a test can find the one its request made.
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl LogBuffer {
    pub fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

/// Tracing is global: set up once; the general stream prints only with `TEST_LOG` set.
static SECURITY_LOG: LazyLock<LogBuffer> = LazyLock::new(|| {
    use tracing_subscriber::layer::SubscriberExt;
    let security = LogBuffer::default();
    let filter = tracing_subscriber::EnvFilter::new("info,sqlx=warn");
    let subscriber = tracing_subscriber::Registry::default().with(filter);
    let result = if std::env::var("TEST_LOG").is_ok() {
        tracing::subscriber::set_global_default(subscriber.with(
            chatplane_api::telemetry::json_layers(std::io::stdout, security.clone(), true),
        ))
    } else {
        tracing::subscriber::set_global_default(subscriber.with(
            chatplane_api::telemetry::json_layers(std::io::sink, security.clone(), true),
        ))
    };
    result.expect("tracing set up once");
    security
});

/// A user of the test: a Better Auth-like random id and a profile.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub name: String,
}

impl TestUser {
    pub fn generate() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Self {
            email: format!("{}@example.test", &id[..12]),
            name: format!("User {}", &id[..6]),
            id,
        }
    }
}

/// The auth server as the API sees it: `/api/auth/jwks` (keys the test can rotate, a fetch
/// counter, an outage switch) and `/api/auth/get-session` (session tokens the test issues).
#[derive(Clone)]
pub struct AuthEndpoint {
    pub url: String,
    jwks: Arc<Mutex<Vec<Value>>>,
    sessions: Arc<Mutex<HashMap<String, TestUser>>>,
    jwks_fetches: Arc<AtomicUsize>,
    session_checks: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
}

impl AuthEndpoint {
    pub async fn start(keys: &[&TestKey]) -> Self {
        let jwks = Arc::new(Mutex::new(keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()));
        let sessions: Arc<Mutex<HashMap<String, TestUser>>> = Arc::default();
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let session_checks = Arc::new(AtomicUsize::new(0));
        let down = Arc::new(AtomicBool::new(false));

        let (j, f, d) = (jwks.clone(), jwks_fetches.clone(), down.clone());
        let jwks_route = warp::path!("api" / "auth" / "jwks").map(move || {
            f.fetch_add(1, Ordering::SeqCst);
            if d.load(Ordering::SeqCst) {
                return warp::reply::with_status(
                    warp::reply::json(&json!({"error": "down"})),
                    warp::http::StatusCode::SERVICE_UNAVAILABLE,
                );
            }
            let keys = j.lock().expect("jwks lock").clone();
            warp::reply::with_status(
                warp::reply::json(&json!({ "keys": keys })),
                warp::http::StatusCode::OK,
            )
        });
        let (s, c) = (sessions.clone(), session_checks.clone());
        let session_route = warp::path!("api" / "auth" / "get-session")
            .and(warp::header::optional::<String>("authorization"))
            .map(move |auth: Option<String>| {
                c.fetch_add(1, Ordering::SeqCst);
                let token = auth.as_deref().and_then(|a| a.strip_prefix("Bearer "));
                let found = token.and_then(|t| s.lock().expect("sessions lock").get(t).cloned());
                match found {
                    Some(u) => warp::reply::json(&json!({
                        "session": {"token": token, "userId": u.id,
                                    "expiresAt": (chrono::Utc::now() + chrono::Duration::days(7)).to_rfc3339()},
                        "user": {"id": u.id, "email": u.email, "name": u.name, "image": null}
                    })),
                    None => warp::reply::json(&Value::Null),
                }
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind auth endpoint");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(
            warp::serve(jwks_route.or(session_route))
                .incoming(listener)
                .run(),
        );
        Self {
            url,
            jwks,
            sessions,
            jwks_fetches,
            session_checks,
            down,
        }
    }

    pub fn set_keys(&self, keys: &[&TestKey]) {
        *self.jwks.lock().expect("jwks lock") = keys.iter().map(|k| k.jwk()).collect();
    }

    pub fn set_raw_keys(&self, keys: Vec<Value>) {
        *self.jwks.lock().expect("jwks lock") = keys;
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    pub fn jwks_fetches(&self) -> usize {
        self.jwks_fetches.load(Ordering::SeqCst)
    }

    pub fn session_checks(&self) -> usize {
        self.session_checks.load(Ordering::SeqCst)
    }

    /// Issues a Better Auth-style session token (`<token>.<signature>`) for `user`.
    pub fn open_session(&self, user: &TestUser) -> String {
        let token = format!(
            "{}.{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        self.sessions
            .lock()
            .expect("sessions lock")
            .insert(token.clone(), user.clone());
        token
    }

    pub fn close_session(&self, token: &str) {
        self.sessions.lock().expect("sessions lock").remove(token);
    }
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub db: PgPool,
    pub db_name: String,
    pub client: reqwest::Client,
    pub auth: AuthEndpoint,
    pub key: Arc<TestKey>,
    pub security_log: LogBuffer,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// Options a test may change before the app starts.
pub struct AppOptions {
    pub key: Arc<TestKey>,
    pub env: Vec<(&'static str, String)>,
    /// Whether `spawn_app` waits for `/readyz` (false for tests of the not-ready state).
    pub wait_ready: bool,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            key: keys::ed25519(),
            env: Vec::new(),
            wait_ready: true,
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

/// The administrator's URL of the test server: `make test` starts a private PostgreSQL and sets it.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").expect(
        "TEST_DATABASE_URL is not set: run the suite with `make test` (it starts a private \
         PostgreSQL), or point it at a server where you may create databases",
    )
}

/// A fresh, migrated database named for this test.
pub async fn fresh_database() -> (String, String) {
    let admin = admin_url();
    let name = format!("chatplane_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(&admin)
        .await
        .expect("connect to TEST_DATABASE_URL");
    let create = format!(r#"CREATE DATABASE "{name}""#);
    conn.execute(sqlx::AssertSqlSafe(create))
        .await
        .expect("create test database");
    let url = match admin.rfind('/') {
        Some(i) => format!("{}/{name}", &admin[..i]),
        None => panic!("TEST_DATABASE_URL has no database part"),
    };
    (name, url)
}

pub async fn spawn_app_with(options: AppOptions) -> TestApp {
    let security_log = SECURITY_LOG.clone();
    let options_wait = options.wait_ready;
    let auth = AuthEndpoint::start(&[&options.key]).await;
    let (db_name, db_url) = fresh_database().await;
    let mut env: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", db_url.clone()),
        ("AUTH_URL", auth.url.clone()),
        ("AUTH_ISSUER", ISSUER.into()),
        ("AUTH_AUDIENCE", AUDIENCE.into()),
        ("LISTEN_ADDR", "127.0.0.1:0".into()),
        ("CORS_ALLOWED_ORIGINS", ALLOWED_ORIGIN.into()),
        ("JWKS_MIN_REFETCH_SECS", "10".into()),
        ("SHUTDOWN_GRACE_SECS", "5".into()),
    ]);
    for (k, v) in options.env {
        env.insert(k, v);
    }
    let settings = Settings::from_lookup(|k| env.get(k).cloned()).expect("test settings");
    chatplane_api::startup::migrate(&settings.database)
        .await
        .expect("migrate test database");
    let app = Application::build(settings).await.expect("build app");
    let port = app.port();
    let db = app.context().db.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let test_app = TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        db,
        db_name,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        auth,
        key: options.key,
        security_log,
        stop: Some(stop),
        server: Some(server),
    };
    if options_wait {
        test_app.wait_until_ready().await;
    }
    test_app
}

/// A response read whole: status, headers and body (JSON when it parses).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn request_id(&self) -> String {
        self.header("x-request-id").unwrap_or_default().to_owned()
    }

    /// Asserts an RFC 9457 problem with this status.
    pub fn assert_problem(&self, status: u16, context: &str) {
        assert_eq!(self.status.as_u16(), status, "{context}: {}", self.text);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{context}: content type"
        );
        assert_eq!(self.body["status"], status, "{context}: problem status");
        assert!(
            self.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{context}: problem detail missing: {}",
            self.text
        );
    }

    /// The server-sent events of a streamed body, in order.
    pub fn events(&self) -> Vec<SseEvent> {
        parse_sse(&self.text)
    }

    /// The `rel="next"` target of the Link header, if any.
    pub fn next_link(&self) -> Option<String> {
        let link = self.header("link")?;
        let start = link.find('<')? + 1;
        let end = link.find('>')?;
        link.contains("rel=\"next\"")
            .then(|| link[start..end].to_owned())
    }
}

/// One server-sent event: its name and its JSON data.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub event: String,
    pub data: Value,
}

/// Parses `event:`/`data:` frames; comments (keep-alives) are skipped.
pub fn parse_sse(text: &str) -> Vec<SseEvent> {
    text.split("\n\n")
        .filter_map(|frame| {
            let mut event = None;
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                }
            }
            Some(SseEvent {
                event: event?,
                data: serde_json::from_str(&data).unwrap_or(Value::Null),
            })
        })
        .collect()
}

pub enum Auth<'a> {
    None,
    Bearer(&'a str),
    Header(&'a str),
}

impl TestApp {
    async fn wait_until_ready(&self) {
        self.wait_ready_within(std::time::Duration::from_secs(5))
            .await;
    }

    /// Waits for `/readyz` (a large corpus takes a while to ingest at start-up).
    pub async fn wait_ready_within(&self, limit: std::time::Duration) {
        let started = std::time::Instant::now();
        while started.elapsed() < limit {
            if let Ok(r) = self
                .client
                .get(format!("{}/readyz", self.address))
                .send()
                .await
                && r.status() == StatusCode::OK
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("the app never became ready");
    }

    pub fn token_for(&self, user: &TestUser) -> String {
        TokenBuilder::new(&self.key, user).sign()
    }

    pub fn user_with_token(&self) -> (TestUser, String) {
        let user = TestUser::generate();
        let token = self.token_for(&user);
        (user, token)
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.address, path));
        match auth {
            Auth::None => {}
            Auth::Bearer(token) => req = req.bearer_auth(token),
            Auth::Header(raw) => req = req.header("authorization", raw),
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.expect("request sent");
        Self::read(res).await
    }

    pub async fn read(res: reqwest::Response) -> Reply {
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn raw_body(&self, method: Method, path: &str, token: &str, body: Vec<u8>) -> Reply {
        let res = self
            .client
            .request(method, format!("{}{}", self.address, path))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request sent");
        Self::read(res).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.request(Method::GET, path, Auth::Bearer(token), None, &[])
            .await
    }

    pub async fn get_me(&self, token: &str) -> Reply {
        self.get("/users/me", token).await
    }

    pub async fn delete_me(&self, token: &str) -> Reply {
        self.request(Method::DELETE, "/users/me", Auth::Bearer(token), None, &[])
            .await
    }

    pub async fn create_conversation(&self, token: &str, title: Option<&str>) -> Reply {
        let body = match title {
            Some(t) => json!({ "title": t }),
            None => json!({}),
        };
        self.request(
            Method::POST,
            "/conversations",
            Auth::Bearer(token),
            Some(body),
            &[],
        )
        .await
    }

    /// Creates a conversation and returns its id.
    pub async fn new_conversation(&self, token: &str, title: &str) -> String {
        let r = self.create_conversation(token, Some(title)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body["id"].as_str().expect("id").to_owned()
    }

    pub async fn list_conversations(&self, token: &str, query: &str) -> Reply {
        self.get(&format!("/conversations{query}"), token).await
    }

    pub async fn get_conversation(&self, token: &str, id: &str) -> Reply {
        self.get(&format!("/conversations/{id}"), token).await
    }

    pub async fn rename_conversation(&self, token: &str, id: &str, title: Value) -> Reply {
        self.request(
            Method::PATCH,
            &format!("/conversations/{id}"),
            Auth::Bearer(token),
            Some(json!({ "title": title })),
            &[],
        )
        .await
    }

    pub async fn delete_conversation(&self, token: &str, id: &str) -> Reply {
        self.request(
            Method::DELETE,
            &format!("/conversations/{id}"),
            Auth::Bearer(token),
            None,
            &[],
        )
        .await
    }

    pub async fn list_messages(&self, token: &str, id: &str, query: &str) -> Reply {
        self.get(&format!("/conversations/{id}/messages{query}"), token)
            .await
    }

    pub async fn append_message(&self, token: &str, id: &str, body: Value) -> Reply {
        self.request(
            Method::POST,
            &format!("/conversations/{id}/messages"),
            Auth::Bearer(token),
            Some(body),
            &[],
        )
        .await
    }

    pub async fn search(&self, token: &str, q: &str) -> Reply {
        let q: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
        self.get(&format!("/search?q={q}"), token).await
    }

    pub async fn post_agents_run(&self, token: &str, body: Value) -> Reply {
        self.request(
            Method::POST,
            "/agents/run",
            Auth::Bearer(token),
            Some(body),
            &[],
        )
        .await
    }

    /// `/agents/run` with `Accept: text/event-stream`, read to the end (see `Reply::events`).
    pub async fn stream_agents_run(&self, token: &str, body: Value) -> Reply {
        self.request(
            Method::POST,
            "/agents/run",
            Auth::Bearer(token),
            Some(body),
            &[("accept", "text/event-stream")],
        )
        .await
    }

    /// Streams `/agents/run` until an event named `until` arrives, then hangs up, as a reader
    /// closing the tab would. Returns the events seen.
    pub async fn stream_agents_run_and_leave(
        &self,
        token: &str,
        body: Value,
        until: &str,
    ) -> Vec<SseEvent> {
        use futures::StreamExt;
        let res = self
            .client
            .post(format!("{}/agents/run", self.address))
            .bearer_auth(token)
            .header("accept", "text/event-stream")
            .json(&body)
            .send()
            .await
            .expect("request sent");
        assert_eq!(res.status(), StatusCode::OK);
        let mut text = String::new();
        let mut body = res.bytes_stream();
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
            let events = parse_sse(&text);
            if events.iter().any(|e| e.event == until) {
                return events;
            }
        }
        panic!("the stream ended before a {until} event: {text}");
    }

    /// The conversation's messages once `n` of them are stored (answers may be stored after
    /// the reply, by the task that produced them).
    pub async fn wait_for_messages(&self, token: &str, conversation: &str, n: usize) -> Vec<Value> {
        for _ in 0..200 {
            let r = self.list_messages(token, conversation, "").await;
            if let Some(list) = r.body.as_array()
                && list.len() >= n
            {
                return list.clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("conversation {conversation} never held {n} messages");
    }

    /// Rows in the chat tables, to prove that a refused request wrote nothing.
    pub async fn row_counts(&self) -> (i64, i64, i64) {
        sqlx::query_as(
            "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM conversations),
                    (SELECT count(*) FROM messages)",
        )
        .fetch_one(&self.db)
        .await
        .expect("row counts")
    }

    /// The security-log lines written while serving the request with this id.
    pub fn security_events(&self, request_id: &str) -> Vec<Value> {
        self.security_log
            .lines()
            .into_iter()
            .filter(|l| l["request_id"] == request_id)
            .collect()
    }

    pub async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.address))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics body")
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

/// The corpus the tests and the retrieval benchmark use: the project's own fixture documentation
/// site (tests/data/corpus), so that no test reads outside the repository.
pub fn fixture_corpus_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpus")
}

/// A fresh, migrated database holding the fixture corpus, for tests that need no HTTP.
pub async fn corpus_database() -> PgPool {
    let (_, url) = fresh_database().await;
    let db = PgPool::connect(&url).await.expect("connect");
    chatplane_api::store::MIGRATOR
        .run(&db)
        .await
        .expect("migrate");
    chatplane_api::ingest::ingest(&db, &fixture_corpus_dir())
        .await
        .expect("ingest the fixture corpus");
    db
}

/// The fixture corpus's retrieval question set (tests/data/retrieval_questions.json).
pub fn question_set() -> chatplane_api::rag::eval::QuestionSet {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/retrieval_questions.json");
    chatplane_api::rag::eval::QuestionSet::load(&path).expect("question set")
}

/// An app serving the fixture corpus, answering with `llm` or, without one, extractively.
pub async fn spawn_rag_app(
    llm: Option<&llm::LlmServer>,
    extra: &[(&'static str, &str)],
) -> TestApp {
    let mut env = vec![
        ("RAG_CORPUS_DIR", fixture_corpus_dir().display().to_string()),
        ("DOCS_BASE_URL", "https://book.example/docs".to_owned()),
    ];
    if let Some(llm) = llm {
        env.extend(llm.env());
    }
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    spawn_app_with(AppOptions {
        env,
        ..Default::default()
    })
    .await
}

/// A writable copy of the fixture corpus in a temporary directory, removed on drop.
pub struct CorpusCopy {
    pub dir: std::path::PathBuf,
}

impl CorpusCopy {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "chatplane-corpus-{}",
            uuid::Uuid::new_v4().simple()
        ));
        copy_dir(&fixture_corpus_dir(), &dir);
        Self { dir }
    }

    pub fn write(&self, rel: &str, bytes: &[u8]) {
        let path = self.dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, bytes).expect("write corpus file");
    }

    pub fn append(&self, rel: &str, text: &str) {
        let path = self.dir.join(rel);
        let mut old = std::fs::read_to_string(&path).expect("read corpus file");
        old.push_str(text);
        std::fs::write(path, old).expect("write corpus file");
    }

    pub fn remove(&self, rel: &str) {
        std::fs::remove_file(self.dir.join(rel)).expect("remove corpus file");
    }
}

impl Drop for CorpusCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// A fresh, migrated, empty database (no app) and its URL.
pub async fn migrated_database() -> (PgPool, String) {
    let (_, url) = fresh_database().await;
    let db = PgPool::connect(&url).await.expect("connect");
    chatplane_api::store::MIGRATOR
        .run(&db)
        .await
        .expect("migrate");
    (db, url)
}
