//! The desired state: a pure function of a ChatDeployment and the operator's settings. No
//! client, no clock, no randomness (generated secret values come in as an argument), so the same
//! resource always yields byte-identical manifests; this is what `render` prints and what the
//! reconciler applies.

mod api;
mod auth;
mod config_hash;
mod ingress;
pub mod labels;
pub mod names;
mod network_policy;
mod pod;
mod postgres;
pub mod secrets;
mod workload;

use chatplane_crds::{
    ChatDeployment, ChatDeploymentSpec, DatabaseMode, ExternalDatabase, SecretKeyRef,
};
use k8s_openapi::{
    api::{
        apps::v1::{Deployment, StatefulSet},
        core::v1::{ConfigMap, Secret, Service},
        networking::v1::{Ingress, NetworkPolicy},
    },
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference},
};
use serde::Serialize;

pub use self::{
    api::api_env,
    config_hash::config_hash,
    labels::Component,
    names::Names,
    postgres::{PROVISION_SQL, data_claim_name_for},
    secrets::GeneratedValues,
};
use crate::{Error, Result};

/// Default images, one per component; a ChatDeployment may override each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Images {
    pub api: String,
    pub auth: String,
    pub postgres: String,
}

pub const DEFAULT_API_IMAGE: &str = concat!(
    "ghcr.io/chatplane/chatplane-api:",
    env!("CARGO_PKG_VERSION")
);
pub const DEFAULT_AUTH_IMAGE: &str = concat!(
    "ghcr.io/chatplane/chatplane-auth:",
    env!("CARGO_PKG_VERSION")
);
/// Debian-based: the pod's uid 999 is its `postgres` user.
pub const DEFAULT_POSTGRES_IMAGE: &str = "docker.io/library/postgres:17.6";

impl Images {
    /// The images of this release, what `--api-image` and friends default to.
    pub fn defaults() -> Self {
        Self {
            api: DEFAULT_API_IMAGE.to_owned(),
            auth: DEFAULT_AUTH_IMAGE.to_owned(),
            postgres: DEFAULT_POSTGRES_IMAGE.to_owned(),
        }
    }
}

/// Everything besides the resource that shapes the desired state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inputs {
    pub images: Images,
    /// resourceVersion of the corpus ConfigMap, read by the reconciler; in the config hash.
    pub corpus_version: Option<String>,
    /// Passed on to the API as OTEL_EXPORTER_OTLP_ENDPOINT when the operator has one.
    pub otlp_endpoint: Option<String>,
}

impl Inputs {
    /// Inputs with nothing read from the cluster: what `render` uses.
    pub fn new(images: Images) -> Self {
        Self {
            images,
            corpus_version: None,
            otlp_endpoint: None,
        }
    }
}

/// One ChatDeployment seen from its builders.
pub struct Scope<'a> {
    pub spec: &'a ChatDeploymentSpec,
    pub names: Names,
    pub owner: OwnerReference,
    pub inputs: &'a Inputs,
}

impl Scope<'_> {
    /// Metadata of an object garbage-collected with the ChatDeployment.
    fn meta(&self, name: String, component: Component) -> ObjectMeta {
        labels::object_meta(
            name,
            &self.names.namespace,
            &self.names.instance,
            component,
            Some(&self.owner),
        )
    }

    /// Browser origins for both CORS layers: the public URL first, then the listed ones, once each.
    pub fn origins(&self) -> Vec<String> {
        let mut origins = vec![self.spec.public_url.clone()];
        for origin in &self.spec.cors.allowed_origins {
            if !origins.contains(origin) {
                origins.push(origin.clone());
            }
        }
        origins
    }

    /// The Secret key holding a role's DATABASE_URL: generated for a managed database, the
    /// user's reference for an external one.
    fn database_url_ref(
        &self,
        managed_key: &str,
        external: impl Fn(&ExternalDatabase) -> &SecretKeyRef,
    ) -> (String, String) {
        match &self.spec.database.external {
            Some(e) => (external(e).name.clone(), external(e).key.clone()),
            None => (self.names.database_secret(), managed_key.to_owned()),
        }
    }
}

/// Every object a ChatDeployment owns, grouped by kind, in apply order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Desired {
    /// Created once, never updated (see `secrets`).
    pub generated_secrets: Vec<Secret>,
    pub config_maps: Vec<ConfigMap>,
    pub services: Vec<Service>,
    pub stateful_sets: Vec<StatefulSet>,
    pub deployments: Vec<Deployment>,
    pub network_policies: Vec<NetworkPolicy>,
    pub ingresses: Vec<Ingress>,
}

pub fn desired(
    cd: &ChatDeployment,
    inputs: &Inputs,
    generated: &GeneratedValues,
) -> Result<Desired> {
    let name = cd
        .metadata
        .name
        .as_deref()
        .ok_or(Error::MissingObjectKey("metadata.name"))?;
    let namespace = cd
        .metadata
        .namespace
        .as_deref()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    let uid = cd
        .metadata
        .uid
        .as_deref()
        .ok_or(Error::MissingObjectKey("metadata.uid"))?;
    let scope = Scope {
        spec: &cd.spec,
        names: Names::new(name, namespace),
        owner: labels::owner_reference(cd, uid),
        inputs,
    };
    let mode = cd.spec.database.mode().ok_or_else(|| {
        Error::InvalidSpec("set exactly one of database.managed or database.external".to_owned())
    })?;

    let mut desired = Desired::default();
    desired
        .generated_secrets
        .extend(secrets::auth_secret(&scope, generated));
    desired
        .generated_secrets
        .extend(secrets::database_secret(&scope, generated));
    if let DatabaseMode::Managed(db) = mode {
        desired.config_maps.push(postgres::init_config_map(&scope));
        desired.services.push(postgres::headless_service(&scope));
        desired.services.push(postgres::service(&scope));
        desired
            .stateful_sets
            .push(postgres::stateful_set(&scope, db));
        desired
            .network_policies
            .push(network_policy::postgres_network_policy(&scope));
    }
    desired.services.push(auth::auth_service(&scope));
    desired.services.push(api::api_service(&scope));
    desired.deployments.push(auth::auth_deployment(&scope));
    desired.deployments.push(api::api_deployment(&scope));
    if let Some(spec) = &cd.spec.ingress {
        desired.ingresses.push(ingress::ingress(&scope, spec));
    }
    Ok(desired)
}

impl Desired {
    /// Every object as JSON, in apply order.
    pub fn manifests(&self) -> Result<Vec<serde_json::Value>> {
        fn push<T: Serialize>(out: &mut Vec<serde_json::Value>, items: &[T]) -> Result<()> {
            for item in items {
                out.push(serde_json::to_value(item).map_err(Error::SerializationError)?);
            }
            Ok(())
        }
        let mut out = Vec::new();
        push(&mut out, &self.generated_secrets)?;
        push(&mut out, &self.config_maps)?;
        push(&mut out, &self.services)?;
        push(&mut out, &self.stateful_sets)?;
        push(&mut out, &self.deployments)?;
        push(&mut out, &self.network_policies)?;
        push(&mut out, &self.ingresses)?;
        Ok(out)
    }

    /// A multi-document YAML stream, like `helm template`.
    pub fn to_yaml(&self) -> Result<String> {
        let mut out = String::new();
        for manifest in self.manifests()? {
            out.push_str("---\n");
            out.push_str(&serde_yaml::to_string(&manifest).map_err(Error::ParseError)?);
        }
        Ok(out)
    }
}
