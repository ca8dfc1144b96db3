//! The operator's API client stack: a tower layer under kube's `Client` that counts every request
//! (`chatplane_operator_api_requests_total{verb, resource}`) and fences writes by leadership.
//! While this replica holds no live Lease (`leader::Leadership`), a write to anything but the
//! Lease itself is refused before it leaves the process, so a replica that lost the Lease
//! without noticing yet (paused, partitioned) cannot write beside the new leader.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use http::{Method, Request, header::CONTENT_TYPE};
use tower::{BoxError, Layer, Service};

use crate::{
    leader::Leadership,
    metrics::{Metrics, RequestLabels},
};

/// What a refused write returns (kube wraps it in `kube::Error::Service`).
#[derive(Debug, thiserror::Error)]
#[error("not the leader: {verb} {resource} refused (this replica holds no live Lease)")]
pub struct NotLeader {
    pub verb: String,
    pub resource: String,
}

/// The verb as kube-apiserver's `apiserver_request_total` names it (server-side apply is
/// `APPLY`, a collection read `LIST`, a watch `WATCH`), and the resource with its subresource.
pub fn classify(method: &Method, path: &str, query: &str, content_type: &str) -> RequestLabels {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // After `/api/v1` or `/apis/GROUP/VERSION`.
    let rest = match segments.first() {
        Some(&"api") => segments.get(2..),
        Some(&"apis") => segments.get(3..),
        _ => None,
    }
    .unwrap_or_default();
    let rest = match rest {
        ["namespaces", _, resource, tail @ ..] => (*resource, tail),
        [resource, tail @ ..] => (*resource, tail),
        [] => ("", rest),
    };
    let (resource, tail) = rest;
    let resource = match tail {
        [_, subresource, ..] => format!("{resource}/{subresource}"),
        _ => resource.to_owned(),
    };
    let named = !tail.is_empty();
    let verb = match *method {
        Method::GET if query.split('&').any(|p| p == "watch=true") => "WATCH",
        Method::GET if named => "GET",
        Method::GET => "LIST",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH if content_type.starts_with("application/apply-patch") => "APPLY",
        Method::PATCH => "PATCH",
        Method::DELETE if named => "DELETE",
        Method::DELETE => "DELETECOLLECTION",
        _ => "OTHER",
    };
    RequestLabels {
        verb: verb.to_owned(),
        resource,
    }
}

/// Writes change the cluster; only the leader sends them (except to its Lease).
pub fn is_write(verb: &str) -> bool {
    !matches!(verb, "GET" | "LIST" | "WATCH")
}

#[derive(Clone)]
pub struct CountedLayer {
    pub metrics: Arc<Metrics>,
    pub leadership: Arc<Leadership>,
}

impl<S> Layer<S> for CountedLayer {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            metrics: self.metrics.clone(),
            leadership: self.leadership.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Counted<S> {
    inner: S,
    metrics: Arc<Metrics>,
    leadership: Arc<Leadership>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

impl<S, B> Service<Request<B>> for Counted<S>
where
    S: Service<Request<B>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let content_type = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let labels = classify(
            request.method(),
            request.uri().path(),
            request.uri().query().unwrap_or_default(),
            content_type,
        );
        if is_write(&labels.verb) && labels.resource != "leases" && !self.leadership.may_write() {
            let refused = NotLeader {
                verb: labels.verb,
                resource: labels.resource,
            };
            return Box::pin(async move { Err(refused.into()) });
        }
        self.metrics.api_requests.get_or_create(&labels).inc();
        let response = self.inner.call(request);
        Box::pin(async move { response.await.map_err(Into::into) })
    }
}

#[cfg(test)]
mod tests {
    use http::Method;

    use super::{classify, is_write};

    fn labels(method: Method, uri: &str, content_type: &str) -> (String, String) {
        let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
        let l = classify(&method, path, query, content_type);
        (l.verb, l.resource)
    }

    #[test]
    fn requests_are_named_like_the_api_servers_own_metric() {
        let cases = [
            (
                Method::PATCH,
                "/apis/apps/v1/namespaces/ns/deployments/chat-api?fieldManager=x&force=true",
                "application/apply-patch+yaml",
                ("APPLY", "deployments"),
            ),
            (
                Method::PATCH,
                "/apis/chatplane.dev/v1alpha1/namespaces/ns/chatdeployments/chat/status",
                "application/apply-patch+yaml",
                ("APPLY", "chatdeployments/status"),
            ),
            (
                Method::PATCH,
                "/apis/chatplane.dev/v1alpha1/namespaces/ns/chatdeployments/chat",
                "application/json-patch+json",
                ("PATCH", "chatdeployments"),
            ),
            (
                Method::GET,
                "/api/v1/namespaces/ns/secrets/chat-database",
                "",
                ("GET", "secrets"),
            ),
            (
                Method::GET,
                "/apis/apps/v1/deployments?&labelSelector=a%3Db&watch=true&timeoutSeconds=290",
                "",
                ("WATCH", "deployments"),
            ),
            (
                Method::GET,
                "/apis/chatplane.dev/v1alpha1/chatdeployments?&limit=1",
                "",
                ("LIST", "chatdeployments"),
            ),
            (
                Method::POST,
                "/apis/coordination.k8s.io/v1/namespaces/ns/leases",
                "application/json",
                ("POST", "leases"),
            ),
            (
                Method::PUT,
                "/apis/coordination.k8s.io/v1/namespaces/ns/leases/leader",
                "application/json",
                ("PUT", "leases"),
            ),
            (
                Method::DELETE,
                "/apis/networking.k8s.io/v1/namespaces/ns/ingresses/chat",
                "",
                ("DELETE", "ingresses"),
            ),
            (
                Method::GET,
                "/api/v1/namespaces/ns",
                "",
                ("GET", "namespaces"),
            ),
        ];
        for (method, uri, content_type, (verb, resource)) in cases {
            assert_eq!(
                labels(method, uri, content_type),
                (verb.to_owned(), resource.to_owned()),
                "{uri}"
            );
        }
        assert!(is_write("APPLY") && is_write("DELETE") && is_write("POST"));
        assert!(!is_write("GET") && !is_write("LIST") && !is_write("WATCH"));
    }
}
