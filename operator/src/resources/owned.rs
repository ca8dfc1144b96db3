//! The kinds a ChatDeployment owns, in apply order: the one list the reconciler applies by, the
//! controller watches and the RBAC rules (and so the chart, by test) are derived from.

use k8s_openapi::api::{
    apps::v1::{Deployment, StatefulSet},
    core::v1::{ConfigMap, Secret, Service},
    networking::v1::{Ingress, NetworkPolicy},
};

use crate::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Secret,
    ConfigMap,
    Service,
    StatefulSet,
    Deployment,
    NetworkPolicy,
    Ingress,
}

impl Kind {
    /// Apply order: what the workloads refer to (Secrets, the init script, Services) first.
    pub const ALL: [Kind; 7] = [
        Kind::Secret,
        Kind::ConfigMap,
        Kind::Service,
        Kind::StatefulSet,
        Kind::Deployment,
        Kind::NetworkPolicy,
        Kind::Ingress,
    ];

    /// API group and resource (the URL's plural), from the type.
    pub fn resource(self) -> (&'static str, &'static str) {
        fn of<K: k8s_openapi::Resource>() -> (&'static str, &'static str) {
            (K::GROUP, K::URL_PATH_SEGMENT)
        }
        match self {
            Self::Secret => of::<Secret>(),
            Self::ConfigMap => of::<ConfigMap>(),
            Self::Service => of::<Service>(),
            Self::StatefulSet => of::<StatefulSet>(),
            Self::Deployment => of::<Deployment>(),
            Self::NetworkPolicy => of::<NetworkPolicy>(),
            Self::Ingress => of::<Ingress>(),
        }
    }

    /// Generated Secrets are created once, never updated, and carry no owner reference (they
    /// outlive the resource); every other kind is server-side applied with one.
    pub fn created_once(self) -> bool {
        self == Self::Secret
    }

    /// Whether the controller watches it, so that a change of a child re-triggers its parent:
    /// every kind that carries the owner reference.
    pub fn watched(self) -> bool {
        !self.created_once()
    }
}

/// One owned object, typed.
#[derive(Clone, Copy, Debug)]
pub enum Object<'a> {
    Secret(&'a Secret),
    ConfigMap(&'a ConfigMap),
    Service(&'a Service),
    StatefulSet(&'a StatefulSet),
    Deployment(&'a Deployment),
    NetworkPolicy(&'a NetworkPolicy),
    Ingress(&'a Ingress),
}

impl Object<'_> {
    pub fn kind(&self) -> Kind {
        match self {
            Self::Secret(_) => Kind::Secret,
            Self::ConfigMap(_) => Kind::ConfigMap,
            Self::Service(_) => Kind::Service,
            Self::StatefulSet(_) => Kind::StatefulSet,
            Self::Deployment(_) => Kind::Deployment,
            Self::NetworkPolicy(_) => Kind::NetworkPolicy,
            Self::Ingress(_) => Kind::Ingress,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Self::Secret(o) => o.metadata.name.as_deref(),
            Self::ConfigMap(o) => o.metadata.name.as_deref(),
            Self::Service(o) => o.metadata.name.as_deref(),
            Self::StatefulSet(o) => o.metadata.name.as_deref(),
            Self::Deployment(o) => o.metadata.name.as_deref(),
            Self::NetworkPolicy(o) => o.metadata.name.as_deref(),
            Self::Ingress(o) => o.metadata.name.as_deref(),
        }
        .unwrap_or_default()
    }

    pub fn to_json(&self) -> Result<serde_json::Value> {
        match self {
            Self::Secret(o) => serde_json::to_value(o),
            Self::ConfigMap(o) => serde_json::to_value(o),
            Self::Service(o) => serde_json::to_value(o),
            Self::StatefulSet(o) => serde_json::to_value(o),
            Self::Deployment(o) => serde_json::to_value(o),
            Self::NetworkPolicy(o) => serde_json::to_value(o),
            Self::Ingress(o) => serde_json::to_value(o),
        }
        .map_err(Error::SerializationError)
    }
}
