//! The `ChatDeployment` custom resource (group `chatplane.dev`, version `v1alpha1`).
//!
//! The Rust types are the source of truth: `crdgen` prints the CRD generated from them, and the
//! committed `crds/chatplane.dev_chatdeployments.yaml` is checked against it by a test.

/// The spec, its sub-structs and the CEL rules the API server enforces.
mod chat_deployment;
/// Managed PostgreSQL or an external database, and the volume's deletion policy.
mod database;
/// Every default of the spec, in one place.
pub mod defaults;
/// The status: phase, conditions with closed sets of types and reasons, endpoints.
mod status;

pub use chat_deployment::{
    ApiSpec, AuthSpec, ChatDeployment, ChatDeploymentSpec, ConfigMapRef, CorpusSpec, CorsSpec,
    IngressSpec, IngressTls, JwtSpec, LlmSpec, MonitoringSpec, RagSpec, ResourceAmounts,
    ResourceSpec, SecretKeyRef,
};
pub use database::{
    DatabaseMode, DatabaseSpec, DeletionPolicy, ExternalDatabase, ManagedDatabase, StorageSpec,
};
pub use status::{
    ChatDeploymentStatus, ConditionStatus, ConditionType, Endpoints, Phase, Reason, set_condition,
};

/// The CRD as YAML, exactly as `crdgen` prints it and as committed in `crds/`.
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    use kube::CustomResourceExt;
    serde_yaml::to_string(&ChatDeployment::crd())
}
