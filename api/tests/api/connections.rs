//! Slow, idle and greedy clients at the socket (issue 13, items 1 and 13): each timeout closes
//! what it bounds, the connection cap refuses with a 503 the client can read, and a refused body
//! sent whole before reading still gets its 413. Every wait is bounded by `WITHIN`, far above
//! the configured timeouts, so a test fails instead of hanging when a bound is missing.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::TestApp;

const WITHIN: Duration = Duration::from_secs(20);

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect")
}

/// Reads until the server closes the connection; `None` if it is still open after `WITHIN`.
async fn read_until_closed(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let read = tokio::time::timeout(WITHIN, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok().map(|()| out)
}

/// Reads one response (head and a Content-Length body) without waiting for the connection to
/// close; returns the status code and the whole text.
async fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let text = tokio::time::timeout(WITHIN, async {
        loop {
            let n = stream.read(&mut buf).await.expect("read response");
            assert!(n > 0, "closed before a whole response: {out:?}");
            out.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&out).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(|v| v.trim().parse::<usize>().expect("length"))
                    })
                    .unwrap_or(0);
                if body.len() >= length {
                    return text;
                }
            }
        }
    })
    .await
    .expect("a response in time");
    let status = text[9..12].parse().expect("status code");
    (status, text)
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
}

#[tokio::test]
async fn a_request_head_that_never_ends_is_closed() {
    let app = TestApp::builder()
        .env("HTTP_HEADER_READ_TIMEOUT_SECS", "1")
        .spawn()
        .await;
    let mut s = connect(&app).await;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .expect("write");
    assert!(
        read_until_closed(&mut s).await.is_some(),
        "a slow header kept its connection"
    );
}

#[tokio::test]
async fn an_idle_connection_is_closed_before_and_after_a_request() {
    let app = TestApp::builder()
        .env("HTTP_HEADER_READ_TIMEOUT_SECS", "600")
        .env("HTTP_IDLE_TIMEOUT_SECS", "1")
        .spawn()
        .await;
    let mut silent = connect(&app).await;
    assert!(
        read_until_closed(&mut silent).await.is_some(),
        "a connection that never sent a byte was kept"
    );
    let mut kept_alive = connect(&app).await;
    kept_alive
        .write_all(get("/healthz").as_bytes())
        .await
        .expect("write");
    assert_eq!(read_response(&mut kept_alive).await.0, 200);
    assert!(
        read_until_closed(&mut kept_alive).await.is_some(),
        "an idle keep-alive connection was kept"
    );
}

#[tokio::test]
async fn a_body_that_trickles_is_a_408() {
    let app = TestApp::builder()
        .env("HTTP_BODY_TIMEOUT_SECS", "1")
        .spawn()
        .await;
    let (_, token) = app.user_with_token();
    let mut s = connect(&app).await;
    let head = format!(
        "POST /conversations HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"title\""
    );
    s.write_all(head.as_bytes()).await.expect("write");
    let (status, text) = read_response(&mut s).await;
    assert_eq!(status, 408, "{text}");
    assert!(text.contains("request-timeout"), "{text}");
    assert_eq!(app.row_counts().await.1, 0);
}

#[tokio::test]
async fn connections_beyond_the_cap_get_a_503_with_retry_after_and_service_resumes() {
    let app = TestApp::builder()
        .env("HTTP_MAX_CONNECTIONS", "2")
        .spawn()
        .await;
    // The test client may keep one pooled connection of its own; one more fills the cap.
    let mut held = Vec::new();
    let mut refused = None;
    for _ in 0..3 {
        let mut s = connect(&app).await;
        s.write_all(get("/healthz").as_bytes())
            .await
            .expect("write");
        let (status, text) = read_response(&mut s).await;
        if status == 503 {
            refused = Some(text);
            break;
        }
        assert_eq!(status, 200, "{text}");
        held.push(s);
    }
    let text = refused.expect("a connection beyond the cap was served");
    assert!(
        text.to_ascii_lowercase().contains("retry-after: 1"),
        "{text}"
    );
    assert!(text.contains("application/problem+json"), "{text}");
    drop(held);
    // Closed connections free their places (after their short linger).
    let fresh = reqwest::Client::new();
    let served = tokio::time::timeout(WITHIN, async {
        loop {
            if let Ok(r) = fresh.get(format!("{}/healthz", app.address)).send().await
                && r.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(served.is_ok(), "service did not resume after the flood");
}

#[tokio::test]
async fn a_too_large_body_sent_before_reading_still_gets_its_413() {
    let app = TestApp::builder().spawn().await;
    let (_, token) = app.user_with_token();
    // More than the socket buffers hold (the client's write blocks on the server reading), less
    // than the linger bound (HTTP_LINGER_MAX_BYTES, 16 MiB).
    let body = vec![b'x'; 12 * 1024 * 1024];
    let mut s = connect(&app).await;
    let head = format!(
        "POST /conversations HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    // As Python's urllib does: the whole request first, then the answer.
    s.write_all(head.as_bytes()).await.expect("write head");
    s.write_all(&body)
        .await
        .expect("the server kept reading while the body arrived");
    let (status, text) = read_response(&mut s).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("payload-too-large"), "{text}");
}
