//! The web UI served from WEB_DIR: cache headers, the security headers and CSP, the app's
//! fallback to index.html, API paths keeping their JSON 404s, and no way out of the directory.

use std::path::PathBuf;

use reqwest::{Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{Auth, Reply, TestApp};

const INDEX: &str = "<!doctype html><title>chatplane test ui</title>";
const ASSET: &str = "console.log('hashed asset');";
const SECRET: &str = "secret outside WEB_DIR";

/// A built UI in a directory of its own, beside a file that must never be served.
struct WebDir {
    root: PathBuf,
}

impl WebDir {
    fn new() -> Self {
        let root = std::env::temp_dir().join(format!("chatplane-web-{}", uuid::Uuid::new_v4()));
        let dist = root.join("dist");
        std::fs::create_dir_all(dist.join("assets")).expect("mkdir");
        std::fs::write(dist.join("index.html"), INDEX).expect("index");
        std::fs::write(dist.join("assets/index-AbC123.js"), ASSET).expect("asset");
        std::fs::write(dist.join("widget.js"), "/* widget */").expect("widget");
        std::fs::write(root.join("secret.txt"), SECRET).expect("secret");
        std::os::unix::fs::symlink(root.join("secret.txt"), dist.join("link.txt"))
            .expect("symlink");
        Self { root }
    }
    fn dist(&self) -> String {
        self.root.join("dist").display().to_string()
    }
}

impl Drop for WebDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

async fn ui_app(dir: &WebDir) -> TestApp {
    TestApp::builder()
        .env("WEB_DIR", dir.dist())
        .env("WEB_AUTH_URL", "https://auth.docs.example")
        .spawn()
        .await
}

async fn get(app: &TestApp, path: &str) -> Reply {
    app.request(Method::GET, path, Auth::None, None, &[]).await
}

fn header<'a>(r: &'a Reply, name: &str) -> &'a str {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Sends the path byte for byte (HTTP clients normalise `..` away before sending).
async fn raw_get(app: &TestApp, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out
}

#[tokio::test]
async fn index_and_assets_have_their_cache_and_security_headers() {
    let dir = WebDir::new();
    let app = ui_app(&dir).await;

    let index = get(&app, "/").await;
    assert_eq!(index.status, StatusCode::OK);
    assert_eq!(index.text, INDEX);
    assert_eq!(header(&index, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&index, "cache-control"), "no-cache");
    let csp = header(&index, "content-security-policy");
    assert!(
        csp.contains("connect-src 'self' https://auth.docs.example;"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert_eq!(header(&index, "x-content-type-options"), "nosniff");
    assert_eq!(header(&index, "x-frame-options"), "DENY");
    assert_eq!(
        header(&index, "referrer-policy"),
        "strict-origin-when-cross-origin"
    );

    let asset = get(&app, "/assets/index-AbC123.js").await;
    assert_eq!(asset.status, StatusCode::OK);
    assert_eq!(asset.text, ASSET);
    assert_eq!(
        header(&asset, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(
        header(&asset, "content-type"),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(header(&asset, "x-content-type-options"), "nosniff");

    // Not hashed: revalidated, so a new deployment's widget is picked up at once.
    let widget = get(&app, "/widget.js").await;
    assert_eq!(widget.status, StatusCode::OK);
    assert_eq!(header(&widget, "cache-control"), "no-cache");

    let head = app
        .request(
            Method::HEAD,
            "/assets/index-AbC123.js",
            Auth::None,
            None,
            &[],
        )
        .await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.text, "");
    app.stop().await;
}

#[tokio::test]
async fn config_js_gives_the_browser_its_urls() {
    let dir = WebDir::new();
    let app = ui_app(&dir).await;
    let config = get(&app, "/config.js").await;
    assert_eq!(config.status, StatusCode::OK);
    assert_eq!(
        config.text.trim(),
        r#"window.CHATPLANE_CONFIG = {"apiUrl":"","authUrl":"https://auth.docs.example"};"#
    );
    assert_eq!(header(&config, "cache-control"), "no-cache");
    app.stop().await;
}

#[tokio::test]
async fn app_paths_fall_back_to_index_but_api_paths_keep_their_json_404s() {
    let dir = WebDir::new();
    let app = ui_app(&dir).await;

    for path in ["/history", "/c/0193-some-conversation", "/index.html"] {
        let r = get(&app, path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.text, INDEX, "{path}");
    }
    for path in [
        "/conversations/not-a-uuid/nope",
        "/agents/other",
        "/users/someone",
        "/search/x",
    ] {
        let r = get(&app, path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            header(&r, "content-type"),
            "application/problem+json",
            "{path}"
        );
        assert_eq!(r.body["status"], 404, "{path}");
    }
    // The API itself is untouched: no credentials is still a 401, health still answers.
    assert_eq!(
        get(&app, "/conversations").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(get(&app, "/healthz").await.status, StatusCode::OK);
    // A missing hashed asset or file is a 404, never the HTML page.
    for path in ["/assets/index-Missing.js", "/favicon.ico"] {
        let r = get(&app, path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(r.body["status"], 404, "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn no_path_reaches_outside_web_dir() {
    let dir = WebDir::new();
    let app = ui_app(&dir).await;
    for path in [
        "/../secret.txt",
        "/assets/../../secret.txt",
        "/..%2fsecret.txt",
        "/%2e%2e/secret.txt",
        "/assets/..%5c..%5csecret.txt",
        "/.%2e/secret.txt",
    ] {
        let raw = raw_get(&app, path).await;
        assert!(raw.starts_with("HTTP/1.1 400"), "{path}: {raw}");
        assert!(!raw.contains(SECRET), "{path} leaked the file");
    }
    // A symlink inside WEB_DIR that points out of it is not followed.
    let link = get(&app, "/link.txt").await;
    assert_eq!(link.status, StatusCode::NOT_FOUND);
    assert!(!link.text.contains(SECRET));
    app.stop().await;
}

#[tokio::test]
async fn without_web_dir_the_root_is_the_api_404() {
    let app = TestApp::builder().spawn().await;
    let r = get(&app, "/").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(header(&r, "content-type"), "application/problem+json");
    assert!(r.headers.get("content-security-policy").is_none());
    app.stop().await;
}
