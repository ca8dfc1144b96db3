//! Every default of the ChatDeployment spec. serde and the generated schema both read these, so
//! an omitted field means the same thing to the API server, `render` and the operator.

use std::collections::BTreeMap;

use crate::{DatabaseSpec, DeletionPolicy, MonitoringSpec};

/// One replica each: a working deployment; users scale up explicitly.
pub fn replicas() -> i32 {
    1
}

/// DESIGN §7: the API answers from the top 3 passages unless told otherwise.
pub fn top_k() -> i32 {
    3
}

/// Better Auth's own default token lifetime.
pub fn jwt_expires_in() -> String {
    "15m".to_owned()
}

/// Enough for the chat history of a small team; grow it by editing the claim.
pub fn storage_size() -> String {
    "1Gi".to_owned()
}

/// Keep the data: deleting a ChatDeployment must not delete chat history by accident.
pub fn deletion_policy() -> DeletionPolicy {
    DeletionPolicy::Retain
}

/// No database section means a managed PostgreSQL with its defaults.
pub fn database() -> DatabaseSpec {
    DatabaseSpec::default()
}

/// The label that lets a pod of the ChatDeployment's namespace scrape the API's metrics port
/// when `spec.monitoring` is unset (with the value `"true"`).
pub const MONITORING_LABEL: &str = "chatplane.dev/monitoring";

/// No monitoring section: pods of the same namespace labelled `chatplane.dev/monitoring: "true"`.
pub fn monitoring() -> MonitoringSpec {
    MonitoringSpec {
        namespace_labels: None,
        pod_labels: Some(BTreeMap::from([(
            MONITORING_LABEL.to_owned(),
            "true".to_owned(),
        )])),
    }
}
