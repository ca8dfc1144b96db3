//! The database of a ChatDeployment: a managed PostgreSQL StatefulSet or an external server.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use crate::{ResourceSpec, SecretKeyRef, defaults};

/// Exactly one of `managed` or `external`; a struct with a CEL rule rather than a Rust enum so
/// the API server's error names the rule instead of a schema mismatch.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.managed) != has(self.external)")
        .message(DatabaseSpec::NOT_ONE_MODE),
    validation = Rule::new("has(self.managed) == has(oldSelf.managed)")
        .message("the database mode cannot change after creation: move the data, then create a new ChatDeployment")
)]
pub struct DatabaseSpec {
    /// A PostgreSQL StatefulSet run by the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<ManagedDatabase>,
    /// An existing PostgreSQL server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalDatabase>,
}

impl Default for DatabaseSpec {
    fn default() -> Self {
        Self {
            managed: Some(ManagedDatabase::default()),
            external: None,
        }
    }
}

/// The database mode, once the exactly-one rule holds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DatabaseMode<'a> {
    Managed(&'a ManagedDatabase),
    External(&'a ExternalDatabase),
}

impl DatabaseSpec {
    /// The CEL rule's message, and the operator's for a resource that skipped admission.
    pub const NOT_ONE_MODE: &str = "set exactly one of database.managed or database.external";

    /// `None` when both or neither are set (the CRD's CEL rule refuses that; a resource that
    /// skipped admission, e.g. in `render`, still must not be guessed at).
    pub fn mode(&self) -> Option<DatabaseMode<'_>> {
        match (&self.managed, &self.external) {
            (Some(managed), None) => Some(DatabaseMode::Managed(managed)),
            (None, Some(external)) => Some(DatabaseMode::External(external)),
            _ => None,
        }
    }
}

/// PostgreSQL run by the operator.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedDatabase {
    /// Container image; the operator's `--postgres-image` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The data volume. Fixed at creation (a StatefulSet's claim template is immutable): to
    /// grow the volume, resize its PersistentVolumeClaim directly.
    #[serde(default)]
    #[x_kube(validation = Rule::new("self == oldSelf").message("database.managed.storage cannot change after creation: resize the PersistentVolumeClaim data-<name>-postgres-0 instead"))]
    pub storage: StorageSpec,
    /// CPU and memory; sensible requests and limits when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceSpec>,
    /// What happens to the data volume when the ChatDeployment is deleted.
    #[serde(default = "defaults::deletion_policy")]
    pub deletion_policy: DeletionPolicy,
}

impl Default for ManagedDatabase {
    fn default() -> Self {
        Self {
            image: None,
            storage: StorageSpec::default(),
            resources: None,
            deletion_policy: defaults::deletion_policy(),
        }
    }
}

/// The PersistentVolumeClaim of the managed database.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    /// Volume size as a quantity, e.g. `10Gi`.
    #[serde(default = "defaults::storage_size")]
    #[x_kube(validation = Rule::new("isQuantity(self)").message("database.managed.storage.size must be a quantity such as 10Gi"))]
    #[schemars(length(max = 32))]
    pub size: String,
    /// StorageClass; the cluster default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
}

impl Default for StorageSpec {
    fn default() -> Self {
        Self {
            size: defaults::storage_size(),
            storage_class_name: None,
        }
    }
}

/// Keep or delete the database volume when the ChatDeployment is deleted.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum DeletionPolicy {
    /// The PersistentVolumeClaim outlives the resource; re-creating the ChatDeployment with the
    /// same name reuses the data.
    #[default]
    Retain,
    /// The PersistentVolumeClaim is deleted with the resource: chat history is lost.
    Delete,
}

/// An existing PostgreSQL server, one connection URL per role (DESIGN §4: two databases, two
/// roles; the API's role cannot read Better Auth's tables).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalDatabase {
    /// `postgres://` URL of the API's database and role.
    pub api_url_secret_ref: SecretKeyRef,
    /// `postgres://` URL of the auth server's database and role.
    pub auth_url_secret_ref: SecretKeyRef,
}
