//! chatplane-operator: reconciles `ChatDeployment` resources into a Better Auth server, the chat
//! API and PostgreSQL. The desired state is a pure function (`resources`); everything that talks
//! to the API server goes through `apply` and `reconcile`.

/// What this process last applied, so no-op applies are skipped.
pub mod applied;
/// Server-side apply under one field manager; create-only generated Secrets.
pub mod apply;
/// The API client's layer: requests counted by verb and resource, writes fenced by leadership.
pub mod client;
/// Context shared by reconciles and the HTTP server: client, recorder, metrics, backoff.
pub mod context;
/// The kube-runtime Controller: watches, owned kinds, shutdown.
pub mod controller;
/// `/healthz`, `/readyz` and `/metrics` on port 8081.
pub mod http;
/// Leader election through a coordination.k8s.io Lease.
pub mod leader;
/// Prometheus metrics: reconciles, failures by cause, duration by outcome.
pub mod metrics;
/// The RBAC permissions the operator needs, derived from the owned kinds (the chart is tested
/// against them).
pub mod rbac;
/// reconcile, cleanup and error_policy.
pub mod reconcile;
/// `render`: the manifests for a ChatDeployment file, without a cluster.
pub mod render;
/// The desired state: one pure builder per owned object.
pub mod resources;
/// The status computed from the applied workloads.
pub mod status;
/// Logging and optional OTLP traces.
pub mod telemetry;

#[cfg(test)]
pub mod fixtures;

/// Every failure of the operator, named for where it happened.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API call failed: {0}")]
    KubeError(#[source] kube::Error),

    #[error("finalizer failed: {0}")]
    FinalizerError(#[source] Box<kube::runtime::finalizer::Error<Error>>),

    #[error("the resource has no {0}")]
    MissingObjectKey(&'static str),

    #[error("invalid spec: {0}")]
    InvalidSpec(String),

    #[error("{}: {message}", reason.as_str())]
    Degraded {
        reason: chatplane_crds::Reason,
        message: String,
    },

    #[error("serializing an object failed: {0}")]
    SerializationError(#[source] serde_json::Error),

    #[error("reading {path}: {source}")]
    ReadFile {
        path: String,
        source: std::io::Error,
    },

    #[error("lost the leader lease {0}")]
    LeadershipLost(String),

    #[error("parsing a ChatDeployment: {0}")]
    ParseError(#[source] serde_yaml::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The label of the failure metric: the variant, so a dashboard shows where things break.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::KubeError(_) => "kube_error",
            Self::FinalizerError(_) => "finalizer_error",
            Self::MissingObjectKey(_) => "missing_object_key",
            Self::InvalidSpec(_) => "invalid_spec",
            Self::Degraded { .. } => "degraded",
            Self::SerializationError(_) => "serialization_error",
            Self::ReadFile { .. } => "read_file",
            Self::LeadershipLost(_) => "leadership_lost",
            Self::ParseError(_) => "parse_error",
        }
    }
}
