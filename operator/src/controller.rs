//! The kube-runtime Controller: ChatDeployments plus every kind they own (`Kind::ALL`), so a
//! change to (or the deletion of) a child re-triggers its parent.
//!
//! Every watch is built here, with a reflector cache the reconciler reads (`Caches`) and its own
//! retry backoff. A watch's error is logged and dropped before the streams are merged: the
//! Controller backs off its one merged trigger stream on any error, and after an API server
//! restart each watch's resourceVersion expires in turn (410), which would otherwise keep every
//! trigger (the ChatDeployments' too) waiting for minutes.

use std::{fmt::Debug, sync::Arc};

use chatplane_crds::ChatDeployment;
use futures::{Stream, StreamExt};
use k8s_openapi::api::{
    apps::v1::{Deployment, StatefulSet},
    core::v1::{ConfigMap, Service},
    networking::v1::{Ingress, NetworkPolicy},
};
use kube::{
    Api, Client, Resource,
    api::ListParams,
    core::PartialObjectMeta,
    runtime::{
        Controller, WatchStreamExt,
        controller::Config,
        reflector::{self, ObjectRef, Store, reflector, store::Writer},
        watcher,
    },
};
use serde::de::DeserializeOwned;
use tracing::{error, info, warn};

use crate::{
    Error, Result,
    applied::strip_field_sets,
    context::Context,
    reconcile::{error_policy, reconcile},
    resources::labels::{MANAGED_BY, MANAGED_BY_LABEL},
};

/// The watch caches of the owned kinds: the workloads whole (their status makes the
/// ChatDeployment's; the pod template is dropped), the rest as metadata. Every object's
/// managedFields keep who wrote when, without the field sets (`applied::strip_field_sets`).
#[derive(Clone)]
pub struct Caches {
    pub config_maps: Store<PartialObjectMeta<ConfigMap>>,
    pub services: Store<PartialObjectMeta<Service>>,
    pub network_policies: Store<PartialObjectMeta<NetworkPolicy>>,
    pub ingresses: Store<PartialObjectMeta<Ingress>>,
    pub stateful_sets: Store<StatefulSet>,
    pub deployments: Store<Deployment>,
}

/// The write halves of `Caches`, consumed by `run`.
pub struct CacheWriters {
    pub(crate) config_maps: Writer<PartialObjectMeta<ConfigMap>>,
    pub(crate) services: Writer<PartialObjectMeta<Service>>,
    pub(crate) network_policies: Writer<PartialObjectMeta<NetworkPolicy>>,
    pub(crate) ingresses: Writer<PartialObjectMeta<Ingress>>,
    pub(crate) stateful_sets: Writer<StatefulSet>,
    pub(crate) deployments: Writer<Deployment>,
}

impl Caches {
    pub fn new() -> (Self, CacheWriters) {
        let (config_maps, config_maps_w) = reflector::store();
        let (services, services_w) = reflector::store();
        let (network_policies, network_policies_w) = reflector::store();
        let (ingresses, ingresses_w) = reflector::store();
        let (stateful_sets, stateful_sets_w) = reflector::store();
        let (deployments, deployments_w) = reflector::store();
        (
            Self {
                config_maps,
                services,
                network_policies,
                ingresses,
                stateful_sets,
                deployments,
            },
            CacheWriters {
                config_maps: config_maps_w,
                services: services_w,
                network_policies: network_policies_w,
                ingresses: ingresses_w,
                stateful_sets: stateful_sets_w,
                deployments: deployments_w,
            },
        )
    }
}

/// A cached object by namespace and name.
pub fn cached<K>(store: &Store<K>, namespace: &str, name: &str) -> Option<Arc<K>>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    store.get(&ObjectRef::new(name).within(namespace))
}

/// The metadata of a cached object, by namespace and name.
pub fn cached_meta<K>(
    store: &Store<PartialObjectMeta<K>>,
    namespace: &str,
    name: &str,
) -> Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    cached(store, namespace, name).map(|object| object.metadata.clone())
}

/// Fails fast, with the fix, when the CRD is missing; otherwise runs until SIGTERM/SIGINT.
pub async fn run(
    client: Client,
    ctx: Arc<Context>,
    writers: CacheWriters,
    config: Config,
) -> Result<()> {
    let chat_deployments = Api::<ChatDeployment>::all(client.clone());
    if let Err(e) = chat_deployments.list(&ListParams::default().limit(1)).await {
        error!(
            "ChatDeployments cannot be listed ({e}). Is the CRD installed? \
             kubectl apply -f crds/chatplane.dev_chatdeployments.yaml"
        );
        return Err(Error::KubeError(e));
    }
    // Only our children: the watches stay small in clusters with many Deployments.
    let owned = watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}"));
    info!("starting the ChatDeployment controller");
    let (reader, writer) = reflector::store();
    let parents = reflector(
        writer,
        watcher(chat_deployments, watcher::Config::default().any_semantic()).default_backoff(),
    )
    .touched_objects();
    // Not watched (`Kind::watched`): generated Secrets carry no owner reference.
    Controller::for_stream(logged("chatdeployments", parents), reader)
        .owns_stream(metadata_cache::<ConfigMap>(
            &client,
            &owned,
            writers.config_maps,
        ))
        .owns_stream(metadata_cache::<Service>(&client, &owned, writers.services))
        .owns_stream(workload_cache(
            &client,
            &owned,
            writers.stateful_sets,
            |s: &mut StatefulSet| {
                if let Some(spec) = s.spec.as_mut() {
                    spec.template = Default::default();
                    spec.volume_claim_templates = None;
                }
            },
        ))
        .owns_stream(workload_cache(
            &client,
            &owned,
            writers.deployments,
            |d: &mut Deployment| {
                if let Some(spec) = d.spec.as_mut() {
                    spec.template = Default::default();
                }
            },
        ))
        .owns_stream(metadata_cache::<NetworkPolicy>(
            &client,
            &owned,
            writers.network_policies,
        ))
        .owns_stream(metadata_cache::<Ingress>(
            &client,
            &owned,
            writers.ingresses,
        ))
        .with_config(config)
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                warn!(error = %e, "controller event");
            }
        })
        .await;
    info!("controller stopped");
    Ok(())
}

/// Drops (and logs) a watch's errors: its own backoff has already paced the retry, and an error
/// reaching the merged trigger stream would pause every other watch too.
fn logged<K, S>(watch: &'static str, stream: S) -> impl Stream<Item = Result<K, watcher::Error>>
where
    S: Stream<Item = Result<K, watcher::Error>> + Send,
{
    stream.filter_map(move |result| async move {
        match result {
            Ok(object) => Some(Ok(object)),
            Err(error) => {
                warn!(watch, %error, "watch failed; retrying with backoff");
                None
            }
        }
    })
}

/// A metadata watch of one owned kind, cached, that triggers the owner.
fn metadata_cache<K>(
    client: &Client,
    config: &watcher::Config,
    writer: Writer<PartialObjectMeta<K>>,
) -> impl Stream<Item = Result<PartialObjectMeta<K>, watcher::Error>> + Send + 'static
where
    K: Resource<DynamicType = ()>
        + k8s_openapi::Resource
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static,
{
    let stream = watcher(
        Api::<PartialObjectMeta<K>>::all(client.clone()),
        config.clone(),
    )
    .default_backoff()
    .modify(|object| strip_field_sets(&mut object.metadata));
    logged(
        K::URL_PATH_SEGMENT,
        reflector(writer, stream).touched_objects(),
    )
}

/// A full watch of a workload kind (its status is read), cached without what is never read.
fn workload_cache<K>(
    client: &Client,
    config: &watcher::Config,
    writer: Writer<K>,
    strip: fn(&mut K),
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: Resource<DynamicType = ()>
        + k8s_openapi::Resource
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static,
{
    let stream = watcher(Api::<K>::all(client.clone()), config.clone())
        .default_backoff()
        .modify(move |object| {
            strip_field_sets(object.meta_mut());
            strip(object);
        });
    logged(
        K::URL_PATH_SEGMENT,
        reflector(writer, stream).touched_objects(),
    )
}

#[cfg(test)]
mod tests {
    use chatplane_crds::ChatDeployment;

    use super::{Caches, run};
    use crate::{
        Error,
        fixtures::{Fixture, Scenario, against},
    };

    #[tokio::test]
    async fn without_the_crd_the_operator_stops_at_once_instead_of_watching() {
        let (result, recorded, _) =
            against(&ChatDeployment::test(), Scenario::default(), async |ctx| {
                let (_, writers) = Caches::new();
                run(ctx.client.clone(), ctx, writers, Default::default()).await
            })
            .await;
        assert!(matches!(result, Err(Error::KubeError(_))), "{result:?}");
        assert_eq!(recorded.len(), 1, "one list, no watch: {recorded:#?}");
        assert_eq!(recorded[0].method, "GET");
        assert_eq!(
            recorded[0].uri,
            "/apis/chatplane.dev/v1alpha1/chatdeployments?&limit=1"
        );
    }
}
