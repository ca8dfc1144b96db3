//! The Deployment and Service shape the auth server and the API share.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment},
        core::v1::{
            Container, ContainerPort, EnvVar, Lifecycle, LifecycleHandler, PodSpec,
            PodTemplateSpec, ResourceRequirements, Service, ServicePort, ServiceSpec, SleepAction,
            Volume, VolumeMount,
        },
    },
    apimachinery::pkg::{apis::meta::v1::ObjectMeta, util::intstr::IntOrString},
};

use super::{
    Scope,
    config_hash::config_hash,
    labels::{CONFIG_HASH_ANNOTATION, Component, labels, selector, selector_labels},
    names::HTTP_PORT_NAME,
    pod::{container_security_context, http_probe, mount, pod_security_context, scratch_volume},
};

/// How long a terminating pod keeps serving before its process gets SIGTERM. The endpoint is
/// removed when termination starts, but every kube-proxy (and any ingress controller) needs a
/// moment to stop sending new connections; a process that stopped listening at once would refuse
/// the ones still routed to it. kubelet runs the sleep itself, so it needs nothing in the image.
pub const DRAIN_SECONDS: i64 = 5;

/// What the process gets after SIGTERM to finish requests in flight (both servers' default
/// shutdown grace is 25 s); the pod's grace period covers the drain and this.
const SHUTDOWN_SECONDS: i64 = 25;

/// What differs between the auth server and the API.
pub struct Workload {
    pub name: String,
    pub component: Component,
    pub image: String,
    pub args: Vec<String>,
    /// The container's named ports, the Service's too (`service`): the `http` one (probes, the
    /// Ingress) first, then any other (the API's `metrics`).
    pub ports: &'static [(&'static str, i32)],
    pub uid: i64,
    pub replicas: i32,
    pub env: Vec<EnvVar>,
    pub resources: ResourceRequirements,
    pub init_containers: Vec<Container>,
    pub extra_volumes: Vec<Volume>,
    pub extra_mounts: Vec<VolumeMount>,
    /// Inputs that live outside the template but change what the pod runs (a ConfigMap's version).
    pub external_config: Vec<String>,
}

pub fn deployment(scope: &Scope, w: Workload) -> Deployment {
    let mut mounts = vec![mount("tmp", "/tmp", false)];
    mounts.extend(w.extra_mounts);
    let mut volumes = vec![scratch_volume("tmp")];
    volumes.extend(w.extra_volumes);
    let env_json = serde_json::to_string(&w.env).unwrap_or_default();
    let hash = config_hash(
        std::iter::once(env_json.as_str()).chain(w.external_config.iter().map(String::as_str)),
    );
    let container = Container {
        name: w.component.as_str().to_owned(),
        image: Some(w.image),
        args: (!w.args.is_empty()).then_some(w.args),
        ports: Some(
            w.ports
                .iter()
                .map(|&(name, port)| ContainerPort {
                    name: Some(name.to_owned()),
                    container_port: port,
                    protocol: Some("TCP".to_owned()),
                    ..Default::default()
                })
                .collect(),
        ),
        env: Some(w.env),
        // Liveness is lenient: a restart is for a wedged process, not a slow dependency.
        readiness_probe: Some(http_probe("/readyz", HTTP_PORT_NAME, 5, 3)),
        liveness_probe: Some(http_probe("/healthz", HTTP_PORT_NAME, 10, 6)),
        lifecycle: Some(Lifecycle {
            pre_stop: Some(LifecycleHandler {
                sleep: Some(SleepAction {
                    seconds: DRAIN_SECONDS,
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        resources: Some(w.resources),
        security_context: Some(container_security_context()),
        volume_mounts: Some(mounts),
        ..Default::default()
    };
    Deployment {
        metadata: scope.meta(w.name, w.component),
        spec: Some(DeploymentSpec {
            replicas: Some(w.replicas),
            revision_history_limit: Some(5),
            selector: selector(&scope.names.instance, w.component),
            // Surge first, never below the desired count: a rollout drops no request (DESIGN §3).
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".to_owned()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(1)),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(&scope.names.instance, w.component)),
                    annotations: Some(BTreeMap::from([(CONFIG_HASH_ANNOTATION.to_owned(), hash)])),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    // Neither service talks to the Kubernetes API.
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    security_context: Some(pod_security_context(w.uid)),
                    termination_grace_period_seconds: Some(DRAIN_SECONDS + SHUTDOWN_SECONDS + 5),
                    init_containers: (!w.init_containers.is_empty()).then_some(w.init_containers),
                    containers: vec![container],
                    volumes: Some(volumes),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A ClusterIP Service with one port per named container port, each targeting it by name.
pub fn service(
    scope: &Scope,
    name: String,
    component: Component,
    ports: &[(&str, i32)],
) -> Service {
    Service {
        metadata: scope.meta(name, component),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            selector: Some(selector_labels(&scope.names.instance, component)),
            ports: Some(
                ports
                    .iter()
                    .map(|&(port_name, port)| ServicePort {
                        name: Some(port_name.to_owned()),
                        port,
                        target_port: Some(IntOrString::String(port_name.to_owned())),
                        protocol: Some("TCP".to_owned()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }),
        ..Default::default()
    }
}
