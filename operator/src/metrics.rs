//! Prometheus metrics of the reconciler, the API client and leader election, served on `/metrics`.

use std::{sync::Arc, time::Instant};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use crate::Error;

#[derive(Clone)]
pub struct Metrics {
    pub reconcile: ReconcileMetrics,
    /// `chatplane_operator_api_requests_total{verb, resource}`: every request this process sent
    /// (`client::Counted`), so a write by a standby replica is visible.
    pub api_requests: Family<RequestLabels, Counter>,
    /// `chatplane_operator_leader`: 1 while this process holds the Lease and may write.
    pub leader: Gauge,
    pub registry: Arc<Registry>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("chatplane_operator");
        let reconcile =
            ReconcileMetrics::default().register(registry.sub_registry_with_prefix("reconcile"));
        let api_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "api_requests",
            "requests sent to the API server, by verb and resource",
            api_requests.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease",
            leader.clone(),
        );
        Self {
            reconcile,
            api_requests,
            leader,
            registry: Arc::new(registry),
        }
    }
}

/// A request by HTTP method (`GET` … `DELETE`; a watch is a `GET` with `watch=true`: `WATCH`)
/// and resource (`deployments`, `chatdeployments/status`).
#[derive(Clone, Hash, PartialEq, Eq, EncodeLabelSet, Debug)]
pub struct RequestLabels {
    pub verb: String,
    pub resource: String,
}

#[derive(Clone, Hash, PartialEq, Eq, EncodeLabelSet, Debug)]
pub struct ErrorLabels {
    pub error: String,
}

#[derive(Clone, Hash, PartialEq, Eq, EncodeLabelSet, Debug)]
pub struct OutcomeLabels {
    pub outcome: String,
}

#[derive(Clone)]
pub struct ReconcileMetrics {
    pub runs: Counter,
    pub failures: Family<ErrorLabels, Counter>,
    pub duration: Family<OutcomeLabels, Histogram>,
}

impl Default for ReconcileMetrics {
    fn default() -> Self {
        Self {
            runs: Counter::default(),
            failures: Family::default(),
            duration: Family::new_with_constructor(|| {
                Histogram::new([
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ])
            }),
        }
    }
}

impl ReconcileMetrics {
    fn register(self, registry: &mut Registry) -> Self {
        registry.register("runs", "reconciles started", self.runs.clone());
        registry.register(
            "failures",
            "reconciles failed, by cause",
            self.failures.clone(),
        );
        registry.register_with_unit(
            "duration",
            "reconcile duration, by outcome (success or the error's cause)",
            prometheus_client::registry::Unit::Seconds,
            self.duration.clone(),
        );
        self
    }

    pub fn set_failure(&self, error: &Error) {
        self.failures
            .get_or_create(&ErrorLabels {
                error: error.metric_label().to_owned(),
            })
            .inc();
    }

    /// Starts a run; the returned guard records the duration on every exit path.
    pub fn count_and_measure(&self) -> ReconcileMeasurer {
        self.runs.inc();
        ReconcileMeasurer {
            start: Instant::now(),
            outcome: "success",
            metric: self.duration.clone(),
        }
    }
}

/// Records the reconcile's duration when dropped, labelled by how it ended.
pub struct ReconcileMeasurer {
    start: Instant,
    outcome: &'static str,
    metric: Family<OutcomeLabels, Histogram>,
}

impl ReconcileMeasurer {
    pub fn failed(&mut self, error: &Error) {
        self.outcome = error.metric_label();
    }
}

impl Drop for ReconcileMeasurer {
    fn drop(&mut self) {
        let seconds = self.start.elapsed().as_secs_f64();
        self.metric
            .get_or_create(&OutcomeLabels {
                outcome: self.outcome.to_owned(),
            })
            .observe(seconds);
    }
}

/// The registry in Prometheus text format.
pub fn encode(metrics: &Metrics) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &metrics.registry)?;
    Ok(out)
}
