//! A real local auth endpoint, as the API sees Better Auth: a JWKS the test can rotate or take
//! down, and get-session answering for the session tokens the test opens.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use warp::Filter;

use super::TestKey;

pub const ISSUER: &str = "http://auth.chatplane.test";
pub const AUDIENCE: &str = "http://auth.chatplane.test";

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
    /// get-session calls in flight now and at most; `session_delay_ms` makes each one slow.
    session_in_flight: Arc<AtomicUsize>,
    session_max_in_flight: Arc<AtomicUsize>,
    session_delay_ms: Arc<AtomicU64>,
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
        let session_in_flight = Arc::new(AtomicUsize::new(0));
        let session_max_in_flight = Arc::new(AtomicUsize::new(0));
        let session_delay_ms = Arc::new(AtomicU64::new(0));
        let (s, c) = (sessions.clone(), session_checks.clone());
        let (now, max, delay) = (
            session_in_flight.clone(),
            session_max_in_flight.clone(),
            session_delay_ms.clone(),
        );
        let session_route = warp::path!("api" / "auth" / "get-session")
            .and(warp::header::optional::<String>("authorization"))
            .then(move |auth: Option<String>| {
                let (s, c, now, max, delay) =
                    (s.clone(), c.clone(), now.clone(), max.clone(), delay.clone());
                async move {
                c.fetch_add(1, Ordering::SeqCst);
                let current = now.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(current, Ordering::SeqCst);
                let ms = delay.load(Ordering::SeqCst);
                if ms > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                }
                now.fetch_sub(1, Ordering::SeqCst);
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
            session_in_flight,
            session_max_in_flight,
            session_delay_ms,
            down,
        }
    }

    /// Makes every get-session call take this long.
    pub fn set_session_delay(&self, delay: std::time::Duration) {
        self.session_delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// The most get-session calls that were in flight at once.
    pub fn max_concurrent_session_checks(&self) -> usize {
        self.session_max_in_flight.load(Ordering::SeqCst)
    }

    pub fn set_keys(&self, keys: &[&TestKey]) {
        *self.jwks.lock().expect("jwks lock") = keys.iter().map(|k| k.jwk()).collect();
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

    /// Issues a session token shaped as Better Auth's bearer plugin hands it out: 32 letters
    /// and digits, a dot, a base64 HMAC-SHA256 (random here).
    pub fn open_session(&self, user: &TestUser) -> String {
        use base64::Engine;
        use rand::Rng;
        let mut rng = rand::rng();
        let id: String = (0..32)
            .map(|_| rng.sample(rand::distr::Alphanumeric) as char)
            .collect();
        let sig: [u8; 32] = rng.random();
        let token = format!(
            "{id}.{}",
            base64::engine::general_purpose::STANDARD.encode(sig)
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
