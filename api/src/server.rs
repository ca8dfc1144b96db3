//! The HTTP server around the warp filter: it gives every request an id (kept from a sane
//! incoming `X-Request-Id`, else new), runs the request inside a span carrying that id,
//! records metrics, writes one access-log line, and stops gracefully.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tower_service::Service;
use tracing::Instrument;
use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, Request};

use crate::metrics::Metrics;
use crate::routes::route_label;

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

/// Serves `filter` on `listener` until `shutdown` resolves, then lets requests in flight finish
/// for at most `grace`.
pub async fn serve(
    listener: TcpListener,
    filter: BoxedFilter<(warp::reply::Response,)>,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send,
    grace: Duration,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let warp_service = warp::service(filter.clone());
        let metrics = metrics.clone();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let mut warp_service = warp_service.clone();
            let metrics = metrics.clone();
            let id = request_id(&req);
            let route = route_label(req.uri().path());
            let method = method_label(req.method());
            let span = tracing::info_span!("request", request_id = %id, method, route);
            async move {
                let started = Instant::now();
                let mut res: warp::reply::Response = match warp_service.call(req).await {
                    Ok(res) => res,
                    Err(never) => match never {},
                };
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
                Ok::<_, Infallible>(res)
            }
            .instrument(span)
        });
        let conn = auto::Builder::new(TokioExecutor::new())
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
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
