//! Prometheus metrics, served at `/metrics`: requests by route and status, latency, auth
//! failures by reason, JWKS refreshes by cause and outcome.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::auth::AuthMetrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AnswerLabels {
    agent: String,
    status: &'static str,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
    auth: Arc<AuthMetrics>,
    answers: Family<AnswerLabels, Counter>,
    connections_refused: Counter,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~8 s
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("chatplane_api");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: HistogramFamily = Family::new_with_constructor(latency_histogram);
        let auth = Arc::new(AuthMetrics::default());
        auth.register(&mut registry);
        let answers = Family::<AnswerLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        registry.register(
            "agent_answers",
            "Answers stored by /agents/run, by agent used and status (complete, incomplete, failed)",
            answers.clone(),
        );
        let connections_refused = Counter::default();
        registry.register(
            "connections_refused",
            "Connections refused because the connection cap was reached",
            connections_refused.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            auth,
            answers,
            connections_refused,
        }
    }
}

impl Metrics {
    pub fn request(&self, route: &'static str, method: &'static str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                route,
                method,
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels { route })
            .observe(seconds);
    }

    pub fn connection_refused(&self) {
        self.connections_refused.inc();
    }

    /// The counters `auth` keeps, registered here with the rest.
    pub fn auth(&self) -> Arc<AuthMetrics> {
        self.auth.clone()
    }

    pub fn answer(&self, agent: &str, status: &'static str) {
        self.answers
            .get_or_create(&AnswerLabels {
                agent: agent.to_owned(),
                status,
            })
            .inc();
    }

    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}
