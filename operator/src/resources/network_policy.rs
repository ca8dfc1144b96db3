//! Ingress to the pods of a ChatDeployment: only its auth and API pods may reach its PostgreSQL;
//! the API port is open to every client, the API's metrics port only to the monitoring peer.

use std::collections::BTreeMap;

use chatplane_crds::{MonitoringSpec, defaults};
use k8s_openapi::{
    api::networking::v1::{
        NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
        NetworkPolicySpec,
    },
    apimachinery::pkg::{
        apis::meta::v1::{LabelSelector, LabelSelectorRequirement},
        util::intstr::IntOrString,
    },
};

use super::{
    Scope,
    labels::{COMPONENT_LABEL, Component, INSTANCE_LABEL, NAME_LABEL, selector},
    names::{API_METRICS_PORT, API_PORT, POSTGRES_PORT},
};

fn tcp(port: i32) -> Option<Vec<NetworkPolicyPort>> {
    Some(vec![NetworkPolicyPort {
        port: Some(IntOrString::Int(port)),
        protocol: Some("TCP".to_owned()),
        ..Default::default()
    }])
}

pub fn postgres_network_policy(scope: &Scope) -> NetworkPolicy {
    let clients = LabelSelector {
        match_labels: Some(
            [
                (NAME_LABEL.to_owned(), "chatplane".to_owned()),
                (INSTANCE_LABEL.to_owned(), scope.names.instance.clone()),
            ]
            .into(),
        ),
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: COMPONENT_LABEL.to_owned(),
            operator: "In".to_owned(),
            values: Some(vec![
                Component::Api.as_str().to_owned(),
                Component::Auth.as_str().to_owned(),
            ]),
        }]),
    };
    NetworkPolicy {
        metadata: scope.meta(scope.names.postgres(), Component::Postgres),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(selector(&scope.names.instance, Component::Postgres)),
            policy_types: Some(vec!["Ingress".to_owned()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![NetworkPolicyPeer {
                    pod_selector: Some(clients),
                    ..Default::default()
                }]),
                ports: tcp(POSTGRES_PORT),
            }]),
            ..Default::default()
        }),
    }
}

/// The peer `spec.monitoring` names (its default when unset): a namespace selector and a pod
/// selector, each only when its labels are set, so the server reads them as a NetworkPolicy
/// peer's documentation says (no namespace selector: this namespace only).
fn monitoring_peer(monitoring: Option<&MonitoringSpec>) -> NetworkPolicyPeer {
    let default = defaults::monitoring();
    let monitoring = monitoring.unwrap_or(&default);
    let selector = |labels: &Option<BTreeMap<String, String>>| {
        labels.as_ref().map(|labels| LabelSelector {
            match_labels: Some(labels.clone()),
            ..Default::default()
        })
    };
    NetworkPolicyPeer {
        namespace_selector: selector(&monitoring.namespace_labels),
        pod_selector: selector(&monitoring.pod_labels),
        ..Default::default()
    }
}

/// The API pods: the API port from anywhere (the Ingress controller, other apps' pods), the
/// metrics port only from the monitoring peer. Other ports of the pods are closed.
pub fn api_network_policy(scope: &Scope) -> NetworkPolicy {
    NetworkPolicy {
        metadata: scope.meta(scope.names.api_network_policy(), Component::Api),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(selector(&scope.names.instance, Component::Api)),
            policy_types: Some(vec!["Ingress".to_owned()]),
            ingress: Some(vec![
                NetworkPolicyIngressRule {
                    from: None,
                    ports: tcp(API_PORT),
                },
                NetworkPolicyIngressRule {
                    from: Some(vec![monitoring_peer(scope.spec.monitoring.as_ref())]),
                    ports: tcp(API_METRICS_PORT),
                },
            ]),
            ..Default::default()
        }),
    }
}
