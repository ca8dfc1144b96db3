//! The HTTP server around the warp filter: it gives every request an id (kept from a sane
//! incoming `X-Request-Id`, else new), runs the request inside a span carrying that id,
//! records metrics, writes one access-log line, and stops gracefully.

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower_service::Service;
use tracing::Instrument;
use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, Request, StatusCode, header};
use warp::reply::Response;

mod io;

pub use io::Linger;
use io::{GuardedIo, InFlight, TrackedBody};

use crate::error::Problem;
use crate::metrics::Metrics;
use crate::routes::{Matched, allowed_methods, route_label};

const REQUEST_ID: &str = "x-request-id";

fn request_id(req: &Request<Incoming>) -> String {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

fn method_label(m: &warp::http::Method) -> &'static str {
    match m.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        "HEAD" => "HEAD",
        _ => "OTHER",
    }
}

/// Headers every response gets unless its handler chose otherwise (issue 13, item 10): no MIME
/// sniffing, no caching of private data, `Vary: Origin` for the CORS answers, `Allow` on a 405
/// and `Retry-After` on every 503.
fn common_headers(path: &str, res: &mut Response) {
    let status = res.status();
    let headers = res.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    let varies_by_origin = headers.get_all(header::VARY).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.to_ascii_lowercase().contains("origin"))
    });
    if !varies_by_origin {
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    if status == StatusCode::METHOD_NOT_ALLOWED
        && !headers.contains_key(header::ALLOW)
        && let Some(allow) = allowed_methods(path).and_then(|a| HeaderValue::from_str(&a).ok())
    {
        headers.insert(header::ALLOW, allow);
    }
    if status == StatusCode::SERVICE_UNAVAILABLE && !headers.contains_key(header::RETRY_AFTER) {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
}

/// Runs the request through warp; a panic anywhere in a handler becomes a logged 500 instead
/// of a dropped connection with the panic only on stderr.
async fn handle<S>(service: &mut S, req: Request<Incoming>) -> Response
where
    S: Service<Request<Incoming>, Response = Response, Error = Infallible>,
{
    match AssertUnwindSafe(service.call(req)).catch_unwind().await {
        Ok(Ok(res)) => res,
        Ok(Err(never)) => match never {},
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".into());
            tracing::error!(panic = %message, "handler panicked");
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal Server Error",
                "an unexpected error occurred".into(),
            )
            .into_response()
        }
    }
}

/// What one client may hold of the server; every value has an environment variable
/// (`config.rs`, docs/API.md "Limits").
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// From the moment a connection waits for a request head until the head is complete:
    /// bounds a slow header (slowloris) and, for HTTP/1.1, the first request of a connection.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight and no byte either way for this long is closed.
    pub idle_timeout: Duration,
    /// Open connections; beyond it a new one gets a 503 with `Retry-After` and is closed.
    pub max_connections: usize,
    /// How a closing connection lingers (see `io.rs`).
    pub linger: Linger,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 4096,
            linger: Linger {
                time: Duration::from_secs(5),
                bytes: 16 * 1024 * 1024,
            },
        }
    }
}

/// Refusals answered at once; past that a connection over the cap is closed unanswered, so a
/// flood cannot make the refusals themselves hold the descriptors.
const MAX_REFUSALS: usize = 64;

/// The answer to a connection over the cap, written before any request is read.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/problem+json\r\n\
retry-after: 1\r\n\
connection: close\r\n\
content-length: 141\r\n\r\n\
{\"type\":\"https://chatplane.dev/problems/unavailable\",\"title\":\"Service Unavailable\",\"status\":503,\"detail\":\"too many connections; retry later\"}";

/// The pause after a failed `accept` (out of file descriptors, say): doubles up to a second,
/// back to the start after a success, so a full descriptor table is not a busy loop.
#[derive(Debug)]
struct AcceptBackoff(Duration);

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);

    fn new() -> Self {
        Self(Duration::ZERO)
    }

    fn failed(&mut self) -> Duration {
        self.0 = (self.0 * 2).clamp(Self::FIRST, Self::MAX);
        self.0
    }

    fn succeeded(&mut self) {
        self.0 = Duration::ZERO;
    }
}

fn builder(limits: &ConnectionLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    builder
}

/// Serves `filter` on `listener` until `shutdown` resolves, then lets requests in flight finish
/// for at most `grace`.
pub async fn serve(
    listener: TcpListener,
    filter: BoxedFilter<(Response,)>,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send,
    limits: ConnectionLimits,
    grace: Duration,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
    let builder = builder(&limits);
    let mut backoff = AcceptBackoff::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => {
                    backoff.succeeded();
                    pair
                }
                Err(e) => {
                    let pause = backoff.failed();
                    tracing::warn!(error = %e, backoff_ms = pause.as_millis() as u64, "accept failed");
                    tokio::time::sleep(pause).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            metrics.connection_refused();
            refuse(stream, &refusals, limits.linger);
            continue;
        };
        let in_flight = Arc::new(InFlight::default());
        let io = GuardedIo::new(
            stream,
            limits.idle_timeout,
            in_flight.clone(),
            limits.linger,
            permit,
        );
        let warp_service = warp::service(filter.clone());
        let metrics = metrics.clone();
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            let guard = in_flight.start();
            let mut warp_service = warp_service.clone();
            let metrics = metrics.clone();
            let id = request_id(&req);
            let route = route_label(req.uri().path());
            req.extensions_mut().insert(Matched(route));
            let method = method_label(req.method());
            let span = tracing::info_span!("request", request_id = %id, method, route);
            async move {
                let started = Instant::now();
                let path = req.uri().path().to_owned();
                let mut res = handle(&mut warp_service, req).await;
                common_headers(&path, &mut res);
                let status = res.status().as_u16();
                let elapsed = started.elapsed();
                metrics.request(route, method, status, elapsed.as_secs_f64());
                if let Ok(v) = HeaderValue::from_str(&id) {
                    res.headers_mut().insert(REQUEST_ID, v);
                }
                let ms = elapsed.as_secs_f64() * 1000.0;
                if status >= 500 {
                    tracing::error!(status, duration_ms = ms, "request failed");
                } else {
                    tracing::info!(status, duration_ms = ms, "request");
                }
                Ok::<_, Infallible>(res.map(|body| TrackedBody::new(body, guard)))
            }
            .instrument(span)
        });
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(io), service)
            .into_owned();
        let watched = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = watched.await {
                tracing::debug!(error = %e, "connection closed with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: no new connections; finishing requests in flight");
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_secs = grace.as_secs(),
            "grace period over; closing remaining connections"
        );
    }
}

/// Answers a connection over the cap with a 503 and closes it (lingering, so the client reads
/// it), or just closes it when too many refusals are already being written.
fn refuse(stream: TcpStream, refusals: &Arc<Semaphore>, linger: Linger) {
    let Ok(permit) = refusals.clone().try_acquire_owned() else {
        return;
    };
    tracing::warn!("connection refused: too many connections");
    let linger = Linger {
        time: linger.time.min(Duration::from_secs(1)),
        bytes: linger.bytes.min(64 * 1024),
    };
    tokio::spawn(async move {
        let mut stream = stream;
        let written = tokio::time::timeout(
            linger.time,
            tokio::io::AsyncWriteExt::write_all(&mut stream, REFUSAL),
        )
        .await;
        if matches!(written, Ok(Ok(()))) {
            io::linger_close(stream, linger, permit).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use warp::{Filter, Reply};

    #[tokio::test]
    async fn a_panicking_handler_is_a_500_problem_and_the_server_keeps_serving() {
        let filter = warp::path("boom")
            .map(|| -> Response { panic!("handler bug") })
            .or(warp::path("ok").map(|| warp::reply().into_response()))
            .unify()
            .boxed();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            listener,
            filter,
            Arc::new(Metrics::default()),
            async {
                let _ = stopped.await;
            },
            ConnectionLimits::default(),
            Duration::from_secs(1),
        ));
        let client = reqwest::Client::new();
        let res = client
            .get(format!("http://{addr}/boom"))
            .send()
            .await
            .expect("a response, not a dropped connection");
        assert_eq!(res.status(), 500);
        assert_eq!(
            res.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json")
        );
        let res = client
            .get(format!("http://{addr}/ok"))
            .send()
            .await
            .expect("served");
        assert_eq!(res.status(), 200);
        let _ = stop.send(());
        server.await.expect("server stopped");
    }

    #[test]
    fn accept_failures_back_off_up_to_a_second_and_reset_on_success() {
        let mut b = AcceptBackoff::new();
        let pauses: Vec<_> = (0..10).map(|_| b.failed()).collect();
        assert_eq!(pauses[0], AcceptBackoff::FIRST);
        assert!(pauses.windows(2).all(|w| w[1] >= w[0]));
        assert_eq!(pauses[9], AcceptBackoff::MAX);
        b.succeeded();
        assert_eq!(b.failed(), AcceptBackoff::FIRST);
    }

    #[test]
    fn the_refusal_is_a_complete_http_response() {
        let text = std::str::from_utf8(REFUSAL).expect("ascii");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        assert!(head.contains("retry-after: 1"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        serde_json::from_str::<serde_json::Value>(body).expect("problem json");
    }
}
