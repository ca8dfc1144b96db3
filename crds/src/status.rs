//! The status of a ChatDeployment: what the operator last observed, in conditions a program reads
//! and a phase a person reads (`kubectl get chat`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Every field is optional: a fresh resource has no status until the first reconcile.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatDeploymentStatus {
    /// The `metadata.generation` this status describes; older means the spec changed since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// A summary for people; automation should read `conditions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// `Ready`, `DatabaseReady`, `AuthReady`, `ApiReady` and `Degraded`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Where the parts can be reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Endpoints>,
}

impl ChatDeploymentStatus {
    /// The condition of this type, when set.
    pub fn condition(&self, type_: ConditionType) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_.as_str())
    }

    /// The condition of this type when it has this status.
    pub fn condition_if(
        &self,
        type_: ConditionType,
        status: ConditionStatus,
    ) -> Option<&Condition> {
        self.condition(type_)
            .filter(|c| c.status == status.as_str())
    }
}

/// URLs of the deployment.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    /// What users open: `spec.publicUrl`.
    pub public: String,
    /// The chat API inside the cluster.
    pub api: String,
    /// The auth server inside the cluster.
    pub auth: String,
    /// The host of the Ingress the operator manages, when `spec.ingress` is set. The operator
    /// also reads it back: when `spec.ingress` is removed, it deletes that Ingress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<String>,
}

/// A summary for `kubectl get`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Phase {
    /// Objects are applied; some workloads are not ready yet.
    Progressing,
    /// Every workload is ready.
    Ready,
    /// The spec cannot be carried out as written (see the `Degraded` condition); retried with backoff.
    Degraded,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Progressing => "Progressing",
            Self::Ready => "Ready",
            Self::Degraded => "Degraded",
        }
    }
}

/// The condition types the operator sets: a closed set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionType {
    /// True when the database, auth and API conditions are all True.
    Ready,
    /// True when the managed StatefulSet has a ready replica, or an external database is configured.
    DatabaseReady,
    /// True when the auth Deployment has all desired replicas available.
    AuthReady,
    /// True when the API Deployment has all desired replicas available.
    ApiReady,
    /// True when the last reconcile could not apply the spec (missing Secret, ConfigMap, ...).
    Degraded,
}

impl ConditionType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "Ready",
            Self::DatabaseReady => "DatabaseReady",
            Self::AuthReady => "AuthReady",
            Self::ApiReady => "ApiReady",
            Self::Degraded => "Degraded",
        }
    }
}

/// Condition status as Kubernetes spells it. The operator knows each of its conditions after
/// every reconcile, so it never sets `Unknown`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionStatus {
    True,
    False,
}

impl ConditionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::True => "True",
            Self::False => "False",
        }
    }

    pub fn from_bool(value: bool) -> Self {
        if value { Self::True } else { Self::False }
    }
}

/// Condition reasons: a closed set of CamelCase tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Ready: every component is ready.
    AllComponentsReady,
    /// Ready: at least one component is not ready yet.
    ComponentsNotReady,
    /// Ready: the spec is degraded, nothing new was applied.
    SpecDegraded,
    /// DatabaseReady: the managed PostgreSQL answers `pg_isready`.
    PostgresReady,
    /// DatabaseReady: the managed PostgreSQL is starting or failing its readiness probe.
    PostgresNotReady,
    /// DatabaseReady: an external database is configured (its health shows in the API's readiness).
    ExternalDatabaseConfigured,
    /// AuthReady/ApiReady: all desired replicas are available.
    DeploymentAvailable,
    /// AuthReady/ApiReady: replicas are starting, rolling or failing their readiness probe.
    DeploymentNotAvailable,
    /// AuthReady/ApiReady: `replicas: 0` was asked for.
    ScaledToZero,
    /// Degraded False: the last reconcile applied everything.
    ReconcileSucceeded,
    /// Degraded: a referenced Secret does not exist.
    SecretNotFound,
    /// Degraded: a referenced Secret exists but lacks the named key.
    SecretKeyMissing,
    /// Degraded: the referenced corpus ConfigMap does not exist.
    ConfigMapNotFound,
    /// Degraded: the spec breaks a rule the CRD schema could not express (e.g. both database modes).
    InvalidSpec,
    /// Degraded: the API server refused an owned object (a quota, an admission policy, ...).
    ApplyFailed,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AllComponentsReady => "AllComponentsReady",
            Self::ComponentsNotReady => "ComponentsNotReady",
            Self::SpecDegraded => "SpecDegraded",
            Self::PostgresReady => "PostgresReady",
            Self::PostgresNotReady => "PostgresNotReady",
            Self::ExternalDatabaseConfigured => "ExternalDatabaseConfigured",
            Self::DeploymentAvailable => "DeploymentAvailable",
            Self::DeploymentNotAvailable => "DeploymentNotAvailable",
            Self::ScaledToZero => "ScaledToZero",
            Self::ReconcileSucceeded => "ReconcileSucceeded",
            Self::SecretNotFound => "SecretNotFound",
            Self::SecretKeyMissing => "SecretKeyMissing",
            Self::ConfigMapNotFound => "ConfigMapNotFound",
            Self::InvalidSpec => "InvalidSpec",
            Self::ApplyFailed => "ApplyFailed",
        }
    }
}

/// Sets one condition in place. `lastTransitionTime` moves only when the status flips, so an
/// unchanged observation leaves the list byte-identical and the operator skips the status patch.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: ConditionType,
    status: ConditionStatus,
    reason: Reason,
    message: impl Into<String>,
    observed_generation: Option<i64>,
    now: &Time,
) {
    let message = message.into();
    match conditions.iter_mut().find(|c| c.type_ == type_.as_str()) {
        Some(existing) => {
            if existing.status != status.as_str() {
                existing.last_transition_time = now.clone();
                existing.status = status.as_str().to_owned();
            }
            existing.reason = reason.as_str().to_owned();
            existing.message = message;
            existing.observed_generation = observed_generation;
        }
        None => conditions.push(Condition {
            type_: type_.as_str().to_owned(),
            status: status.as_str().to_owned(),
            reason: reason.as_str().to_owned(),
            message,
            observed_generation,
            last_transition_time: now.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn at(seconds: i64) -> Time {
        Time(Timestamp::from_second(seconds).unwrap())
    }

    #[test]
    fn transition_time_moves_only_when_the_status_flips() {
        let mut conditions = Vec::new();
        let (t1, t2, t3) = (at(100), at(200), at(300));
        set_condition(
            &mut conditions,
            ConditionType::ApiReady,
            ConditionStatus::False,
            Reason::DeploymentNotAvailable,
            "starting",
            Some(1),
            &t1,
        );
        set_condition(
            &mut conditions,
            ConditionType::ApiReady,
            ConditionStatus::False,
            Reason::DeploymentNotAvailable,
            "still starting",
            Some(2),
            &t2,
        );
        assert_eq!(
            conditions[0].last_transition_time, t1,
            "same status keeps the time"
        );
        assert_eq!(conditions[0].message, "still starting");
        assert_eq!(conditions[0].observed_generation, Some(2));
        set_condition(
            &mut conditions,
            ConditionType::ApiReady,
            ConditionStatus::True,
            Reason::DeploymentAvailable,
            "up",
            Some(2),
            &t3,
        );
        assert_eq!(conditions.len(), 1);
        assert_eq!(
            conditions[0].last_transition_time, t3,
            "a flip moves the time"
        );
        assert_eq!(conditions[0].status, "True");
        assert_eq!(conditions[0].reason, "DeploymentAvailable");
    }
}
