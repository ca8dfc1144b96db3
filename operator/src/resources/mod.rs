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
pub mod owned;
mod pod;
mod postgres;
pub mod secrets;
mod workload;

use chatplane_crds::{
    ChatDeployment, ChatDeploymentSpec, DatabaseMode, DatabaseSpec, ExternalDatabase,
    MonitoringSpec, SecretKeyRef,
};
use k8s_openapi::{
    api::{
        apps::v1::{Deployment, StatefulSet},
        core::v1::{ConfigMap, Secret, Service},
        networking::v1::{Ingress, NetworkPolicy},
    },
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference},
};

pub use self::{
    api::api_env,
    config_hash::config_hash,
    labels::Component,
    names::Names,
    owned::{Kind, Object},
    postgres::{INIT_SCRIPT, PROVISION_SQL, data_claim_name_for},
    secrets::GeneratedValues,
    workload::DRAIN_SECONDS,
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

/// Every object a ChatDeployment owns, one field each.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    /// Generated once, never updated (see `secrets`); `None` when the spec names its own.
    pub auth_secret: Option<Secret>,
    pub database_secret: Option<Secret>,
    /// The managed database; `None` with an external one.
    pub postgres: Option<ManagedPostgres>,
    pub auth_service: Service,
    pub api_service: Service,
    pub auth: Deployment,
    pub api: Deployment,
    /// The API port open to all, the metrics port to `spec.monitoring`'s peer only.
    pub api_network_policy: NetworkPolicy,
    pub ingress: Option<Ingress>,
}

/// The managed PostgreSQL's objects.
#[derive(Clone, Debug, PartialEq)]
pub struct ManagedPostgres {
    pub init: ConfigMap,
    pub headless_service: Service,
    pub service: Service,
    pub stateful_set: StatefulSet,
    pub network_policy: NetworkPolicy,
}

impl ManagedPostgres {
    /// The init step's script the init ConfigMap carries (sql/postgres-init.sh).
    pub fn init_script(&self) -> Option<&str> {
        self.init_file(postgres::INIT_SCRIPT_KEY)
    }

    /// The provisioning SQL the init ConfigMap carries beside it (sql/provision.sql).
    pub fn provision_sql(&self) -> Option<&str> {
        self.init_file(postgres::PROVISION_SQL_KEY)
    }

    fn init_file(&self, key: &str) -> Option<&str> {
        self.init.data.as_ref()?.get(key).map(String::as_str)
    }
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
    let mode = cd
        .spec
        .database
        .mode()
        .ok_or_else(|| Error::InvalidSpec(DatabaseSpec::NOT_ONE_MODE.to_owned()))?;
    if cd
        .spec
        .monitoring
        .as_ref()
        .is_some_and(|m| !m.names_a_peer())
    {
        return Err(Error::InvalidSpec(MonitoringSpec::NO_PEER.to_owned()));
    }

    let postgres = match mode {
        DatabaseMode::Managed(db) => Some(ManagedPostgres {
            init: postgres::init_config_map(&scope),
            headless_service: postgres::headless_service(&scope),
            service: postgres::service(&scope),
            stateful_set: postgres::stateful_set(&scope, db),
            network_policy: network_policy::postgres_network_policy(&scope),
        }),
        DatabaseMode::External(_) => None,
    };
    Ok(Desired {
        auth_secret: secrets::auth_secret(&scope, generated),
        database_secret: secrets::database_secret(&scope, generated),
        postgres,
        auth_service: auth::auth_service(&scope),
        api_service: api::api_service(&scope),
        auth: auth::auth_deployment(&scope),
        api: api::api_deployment(&scope),
        api_network_policy: network_policy::api_network_policy(&scope),
        ingress: cd
            .spec
            .ingress
            .as_ref()
            .map(|spec| ingress::ingress(&scope, spec)),
    })
}

impl Desired {
    /// Every object, in apply order: by kind as `Kind::ALL` lists them, then as listed here.
    pub fn objects(&self) -> Vec<Object<'_>> {
        let postgres = self.postgres.as_ref();
        let mut objects: Vec<Object<'_>> = [
            self.auth_secret.as_ref().map(Object::Secret),
            self.database_secret.as_ref().map(Object::Secret),
            postgres.map(|p| Object::ConfigMap(&p.init)),
            postgres.map(|p| Object::Service(&p.headless_service)),
            postgres.map(|p| Object::Service(&p.service)),
            Some(Object::Service(&self.auth_service)),
            Some(Object::Service(&self.api_service)),
            postgres.map(|p| Object::StatefulSet(&p.stateful_set)),
            Some(Object::Deployment(&self.auth)),
            Some(Object::Deployment(&self.api)),
            postgres.map(|p| Object::NetworkPolicy(&p.network_policy)),
            Some(Object::NetworkPolicy(&self.api_network_policy)),
            self.ingress.as_ref().map(Object::Ingress),
        ]
        .into_iter()
        .flatten()
        .collect();
        objects.sort_by_key(Object::kind);
        objects
    }

    /// Every object as JSON, in apply order.
    pub fn manifests(&self) -> Result<Vec<serde_json::Value>> {
        self.objects().iter().map(Object::to_json).collect()
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
