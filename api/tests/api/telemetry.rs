//! The binary as a process: log files and streams, OTLP export, and a graceful SIGTERM that
//! finishes the request in flight and exits 0.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use warp::Filter;

use crate::common::keys::{self, TokenBuilder};
use crate::common::{AUDIENCE, AuthEndpoint, ISSUER, TestUser, empty_database};

const BIN: &str = env!("CARGO_BIN_EXE_chatplane-api");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

struct Process {
    child: Child,
    port: u16,
}

impl Process {
    async fn start(auth: &AuthEndpoint, extra: &[(&str, String)]) -> Self {
        let (_, db) = empty_database().await;
        let migrate = Command::new(BIN)
            .arg("migrate")
            .env("DATABASE_URL", &db)
            .output()
            .expect("migrate");
        assert!(migrate.status.success());
        let port = free_port();
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .env("DATABASE_URL", &db)
            .env("AUTH_URL", &auth.url)
            .env("AUTH_ISSUER", ISSUER)
            .env("AUTH_AUDIENCE", AUDIENCE)
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("METRICS_ADDR", "127.0.0.1:0")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("LOG_DIR")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn api");
        let p = Self { child, port };
        for _ in 0..200 {
            if let Ok(r) = reqwest::get(p.url("/readyz")).await
                && r.status().is_success()
            {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the API process never became ready");
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for exit; returns the exit code and stdout lines.
    fn wait(mut self) -> (Option<i32>, Vec<String>, String) {
        let stdout = self.child.stdout.take().expect("stdout");
        let lines: Vec<String> = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect();
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut stderr);
        }
        let status = self.child.wait().expect("wait");
        (status.code(), lines, stderr)
    }
}

#[tokio::test]
async fn sigterm_finishes_the_request_in_flight_then_exits_zero() {
    let key = keys::ed25519();
    let auth = AuthEndpoint::start(&[&key]).await;
    let api = Process::start(&auth, &[]).await;
    let token = TokenBuilder::new(&key, &TestUser::generate()).sign();

    // Start a request and leave its body half sent.
    let body = br#"{"title":"in flight"}"#;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", api.port))
        .await
        .expect("connect");
    let head = format!(
        "POST /conversations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(&body[..5]).await.expect("write part");
    tokio::time::sleep(Duration::from_millis(200)).await;

    api.terminate();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // New connections are no longer taken...
    assert!(
        reqwest::get(api.url("/healthz")).await.is_err(),
        "still accepting after SIGTERM"
    );
    // ...but the one in flight completes.
    stream.write_all(&body[5..]).await.expect("write rest");
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");

    let (code, lines, stderr) = tokio::task::spawn_blocking(move || api.wait())
        .await
        .expect("join");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(lines.iter().any(|l| l.contains("chatplane-api stopped")));
}

#[tokio::test]
async fn log_dir_holds_two_streams_and_no_secret() {
    let key = keys::ed25519();
    let auth = AuthEndpoint::start(&[&key]).await;
    let dir = std::env::temp_dir().join(format!("chatplane-logs-{}", uuid::Uuid::new_v4()));
    let api = Process::start(&auth, &[("LOG_DIR", dir.display().to_string())]).await;
    let token = TokenBuilder::new(&key, &TestUser::generate()).sign();
    let client = reqwest::Client::new();
    let ok = client
        .get(api.url("/users/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("ok");
    assert_eq!(ok.status(), 200);
    let refused = client
        .get(api.url("/users/me"))
        .bearer_auth(&token)
        .header("x-user-id", "someone-else")
        .send()
        .await
        .expect("refused");
    assert_eq!(refused.status(), 401);
    let request_id = refused.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_owned();
    api.terminate();
    let (code, _, _) = tokio::task::spawn_blocking(move || api.wait())
        .await
        .expect("join");
    assert_eq!(code, Some(0));

    let general = std::fs::read_to_string(dir.join("api.log")).expect("api.log");
    let security = std::fs::read_to_string(dir.join("security.log")).expect("security.log");
    assert!(
        general
            .lines()
            .any(|l| l.contains("\"route\":\"/users/me\"")),
        "{general}"
    );
    let mismatch: Vec<&str> = security
        .lines()
        .filter(|l| l.contains("user_id_mismatch"))
        .collect();
    assert_eq!(mismatch.len(), 1, "{security}");
    assert!(mismatch[0].contains(&request_id));
    for line in general.lines().chain(security.lines()) {
        assert!(!line.contains(&token), "a token reached the log: {line}");
        serde_json::from_str::<serde_json::Value>(line).expect("JSON line");
    }
    assert!(
        !general.contains("user_id_mismatch"),
        "security events stay out of the general log"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn spans_are_exported_over_otlp_when_an_endpoint_is_set() {
    let received: Arc<Mutex<Vec<(String, usize)>>> = Arc::default();
    let sink = received.clone();
    let collector = warp::path!("v1" / "traces")
        .and(warp::post())
        .and(warp::header::optional::<String>("content-type"))
        .and(warp::body::bytes())
        .map(move |ct: Option<String>, body: bytes::Bytes| {
            sink.lock()
                .expect("lock")
                .push((ct.unwrap_or_default(), body.len()));
            warp::reply()
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let collector_url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(warp::serve(collector).incoming(listener).run());

    let key = keys::ed25519();
    let auth = AuthEndpoint::start(&[&key]).await;
    let api = Process::start(&auth, &[("OTEL_EXPORTER_OTLP_ENDPOINT", collector_url)]).await;
    let token = TokenBuilder::new(&key, &TestUser::generate()).sign();
    let r = reqwest::Client::new()
        .get(api.url("/conversations"))
        .bearer_auth(token)
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 200);
    api.terminate();
    let (code, _, stderr) = tokio::task::spawn_blocking(move || api.wait())
        .await
        .expect("join");
    assert_eq!(code, Some(0), "{stderr}");
    let batches = received.lock().expect("lock").clone();
    assert!(!batches.is_empty(), "no span batch reached the collector");
    assert!(
        batches
            .iter()
            .all(|(ct, len)| ct == "application/x-protobuf" && *len > 0),
        "{batches:?}"
    );
}

#[tokio::test]
async fn without_an_otlp_endpoint_nothing_complains() {
    let key = keys::ed25519();
    let auth = AuthEndpoint::start(&[&key]).await;
    let api = Process::start(&auth, &[]).await;
    reqwest::get(api.url("/healthz")).await.expect("healthz");
    api.terminate();
    let (code, lines, stderr) = tokio::task::spawn_blocking(move || api.wait())
        .await
        .expect("join");
    assert_eq!(code, Some(0));
    assert!(stderr.is_empty(), "{stderr}");
    for line in &lines {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON line on stdout");
        assert_ne!(v["level"], "ERROR", "{line}");
        assert!(
            v["stream"] == "general" || v["stream"] == "security",
            "{line}"
        );
    }
}
