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
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tower_service::Service;
use tracing::Instrument;
use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, Request, StatusCode};
use warp::reply::Response;

use crate::error::Problem;
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

/// Serves `filter` on `listener` until `shutdown` resolves, then lets requests in flight finish
/// for at most `grace`.
pub async fn serve(
    listener: TcpListener,
    filter: BoxedFilter<(Response,)>,
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
                let mut res = handle(&mut warp_service, req).await;
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
}
