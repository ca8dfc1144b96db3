//! The application under test and the one way to start it: `TestApp::builder()`, the options a
//! test changes, then `.spawn()`.

use std::collections::HashMap;
use std::sync::Arc;

use chatplane_api::config::Settings;
use chatplane_api::startup::Application;
use chatplane_api::store::Db;
use reqwest::StatusCode;
use serde_json::Value;

use super::llm::LlmServer;
use super::{
    AUDIENCE, AuthEndpoint, ISSUER, LogBuffer, TestKey, TestUser, TokenBuilder, empty_database,
    fixture_corpus_dir, keys, logs,
};

pub const ALLOWED_ORIGIN: &str = "http://app.chatplane.test";

pub struct TestApp {
    pub address: String,
    pub port: u16,
    /// The metrics listener (`METRICS_ADDR`), e.g. `http://127.0.0.1:4321`.
    pub metrics_address: String,
    pub db: Db,
    pub db_name: String,
    pub client: reqwest::Client,
    pub auth: AuthEndpoint,
    pub key: Arc<TestKey>,
    pub security_log: LogBuffer,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// What a test changes before the app starts; `spawn` starts it.
pub struct AppBuilder {
    key: Arc<TestKey>,
    env: Vec<(&'static str, String)>,
    wait_ready: bool,
    auth_down: bool,
}

impl AppBuilder {
    /// The key the test signs tokens with (the auth endpoint serves its JWK).
    pub fn key(mut self, key: Arc<TestKey>) -> Self {
        self.key = key;
        self
    }

    /// An environment variable of the app, over the defaults and anything set before.
    pub fn env(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.env.push((name, value.into()));
        self
    }

    /// Serves the fixture corpus; without `llm`, the app answers extractively.
    pub fn corpus(self) -> Self {
        self.env("RAG_CORPUS_DIR", fixture_corpus_dir().display().to_string())
            .env("DOCS_BASE_URL", "https://book.example/docs")
    }

    /// Answers with this model server.
    pub fn llm(mut self, llm: &LlmServer) -> Self {
        self.env.extend(llm.env());
        self
    }

    /// Returns once the app listens, without waiting for `/readyz` (tests of the not-ready
    /// state).
    pub fn unready(mut self) -> Self {
        self.wait_ready = false;
        self
    }

    /// The auth server is down from before the app starts (implies `unready`).
    pub fn auth_down(mut self) -> Self {
        self.auth_down = true;
        self.wait_ready = false;
        self
    }

    /// Starts the app on a random port against a new, migrated database of its own and a new
    /// auth endpoint.
    pub async fn spawn(self) -> TestApp {
        let auth = AuthEndpoint::start(&[&self.key]).await;
        auth.set_down(self.auth_down);
        let (db_name, db_url) = empty_database().await;
        let mut env: HashMap<&str, String> = HashMap::from([
            ("DATABASE_URL", db_url),
            ("AUTH_URL", auth.url.clone()),
            ("AUTH_ISSUER", ISSUER.into()),
            ("AUTH_AUDIENCE", AUDIENCE.into()),
            ("LISTEN_ADDR", "127.0.0.1:0".into()),
            ("METRICS_ADDR", "127.0.0.1:0".into()),
            ("CORS_ALLOWED_ORIGINS", ALLOWED_ORIGIN.into()),
            ("JWKS_MIN_REFETCH_SECS", "10".into()),
            ("SHUTDOWN_GRACE_SECS", "5".into()),
        ]);
        env.extend(self.env);
        let settings = Settings::from_lookup(|k| env.get(k).cloned()).expect("test settings");
        chatplane_api::startup::migrate(&settings.database)
            .await
            .expect("migrate test database");
        let app = Application::build(settings).await.expect("build app");
        let port = app.port();
        let metrics_port = app.metrics_port();
        let db = app.context().db.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        let test_app = TestApp {
            address: format!("http://127.0.0.1:{port}"),
            port,
            metrics_address: format!("http://127.0.0.1:{metrics_port}"),
            db,
            db_name,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            auth,
            key: self.key,
            security_log: logs::security_log(),
            stop: Some(stop),
            server: Some(server),
        };
        if self.wait_ready {
            test_app.wait_until_ready().await;
        }
        test_app
    }
}

impl TestApp {
    /// The app with an Ed25519 signing key, no corpus and no model, ready when `spawn` returns.
    pub fn builder() -> AppBuilder {
        AppBuilder {
            key: keys::ed25519(),
            env: Vec::new(),
            wait_ready: true,
            auth_down: false,
        }
    }

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
