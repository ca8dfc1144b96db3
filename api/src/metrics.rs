//! Prometheus metrics, served at `/metrics`: requests by route and status, latency, auth
//! failures by reason, JWKS refreshes by cause and outcome.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

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
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefreshLabels {
    cause: &'static str,
    outcome: &'static str,
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
    auth_failures: Family<ReasonLabels, Counter>,
    jwks_refreshes: Family<RefreshLabels, Counter>,
    answers: Family<AnswerLabels, Counter>,
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
        let auth_failures = Family::<ReasonLabels, Counter>::default();
        let jwks_refreshes = Family::<RefreshLabels, Counter>::default();
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
            "auth_failures",
            "Refused authentications by reason",
            auth_failures.clone(),
        );
        registry.register(
            "jwks_refreshes",
            "JWKS fetches by cause and outcome",
            jwks_refreshes.clone(),
        );
        registry.register(
            "agent_answers",
            "Answers stored by /agents/run, by agent used and status (complete, incomplete, failed)",
            answers.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            auth_failures,
            jwks_refreshes,
            answers,
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

    pub fn auth_failure(&self, reason: &'static str) {
        self.auth_failures
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    pub fn jwks_refresh(&self, cause: &'static str, outcome: &'static str) {
        self.jwks_refreshes
            .get_or_create(&RefreshLabels { cause, outcome })
            .inc();
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
