//! The counters identity keeps: refused authentications by reason, JWKS fetches by cause and
//! outcome. `metrics.rs` registers them with the rest.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefreshLabels {
    cause: &'static str,
    outcome: &'static str,
}

#[derive(Default)]
pub struct AuthMetrics {
    failures: Family<ReasonLabels, Counter>,
    jwks_refreshes: Family<RefreshLabels, Counter>,
}

impl AuthMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "auth_failures",
            "Refused authentications by reason",
            self.failures.clone(),
        );
        registry.register(
            "jwks_refreshes",
            "JWKS fetches by cause and outcome",
            self.jwks_refreshes.clone(),
        );
    }

    pub fn failure(&self, reason: &'static str) {
        self.failures.get_or_create(&ReasonLabels { reason }).inc();
    }

    pub fn jwks_refresh(&self, cause: &'static str, outcome: &'static str) {
        self.jwks_refreshes
            .get_or_create(&RefreshLabels { cause, outcome })
            .inc();
    }
}
