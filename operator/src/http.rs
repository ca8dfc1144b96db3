//! The operator's own HTTP endpoints on 8081: `/healthz` (the process serves), `/readyz` (the
//! leader election loop runs: a standby replica is ready too, or rollouts would stall), `/metrics`.

use std::net::SocketAddr;

use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::{body::Bytes, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tracing::warn;

use crate::{
    context::{Readiness, State},
    metrics::{Metrics, encode},
};

/// Answers one request; no I/O, so it is tested directly.
pub fn respond(
    method: &Method,
    path: &str,
    readiness: &Readiness,
    metrics: &Metrics,
) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, content_type: &str, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        if let Ok(value) = content_type.parse() {
            response
                .headers_mut()
                .insert(http::header::CONTENT_TYPE, value);
        }
        response
    };
    if method != Method::GET {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "method not allowed\n".to_owned(),
        );
    }
    match path {
        "/healthz" => reply(StatusCode::OK, "text/plain", "ok\n".to_owned()),
        "/readyz" if readiness.get() => reply(StatusCode::OK, "text/plain", "ready\n".to_owned()),
        "/readyz" => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "not ready\n".to_owned(),
        ),
        "/metrics" => match encode(metrics) {
            Ok(text) => reply(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                text,
            ),
            Err(_) => reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                "encoding failed\n".to_owned(),
            ),
        },
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_owned(),
        ),
    }
}

/// Serves until the process ends.
pub async fn serve(addr: SocketAddr, state: State) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let readiness = state.readiness.clone();
        let metrics = state.metrics.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let response =
                    respond(request.method(), request.uri().path(), &readiness, &metrics);
                async move { Ok::<_, std::convert::Infallible>(response) }
            });
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                warn!(%error, "health/metrics connection failed");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use http::{Method, StatusCode};
    use http_body_util::BodyExt;

    use super::respond;
    use crate::{context::Readiness, metrics::Metrics};

    async fn text(response: http::Response<http_body_util::Full<hyper::body::Bytes>>) -> String {
        String::from_utf8(
            response
                .into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .to_vec(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn health_readiness_and_metrics_answer_as_documented() {
        let (readiness, metrics) = (Readiness::default(), Metrics::default());
        assert_eq!(
            respond(&Method::GET, "/healthz", &readiness, &metrics).status(),
            StatusCode::OK
        );
        assert_eq!(
            respond(&Method::GET, "/readyz", &readiness, &metrics).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        readiness.set(true);
        assert_eq!(
            respond(&Method::GET, "/readyz", &readiness, &metrics).status(),
            StatusCode::OK
        );
        assert_eq!(
            respond(&Method::GET, "/nope", &readiness, &metrics).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            respond(&Method::POST, "/healthz", &readiness, &metrics).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );

        let timer = metrics.reconcile.count_and_measure();
        drop(timer);
        let body = text(respond(&Method::GET, "/metrics", &readiness, &metrics)).await;
        assert!(
            body.contains("chatplane_operator_reconcile_runs_total 1"),
            "{body}"
        );
        assert!(
            body.contains(
                "chatplane_operator_reconcile_duration_seconds_count{outcome=\"success\"} 1"
            ),
            "{body}"
        );
    }
}
