//! Only the auth and API pods of the same ChatDeployment may reach its PostgreSQL.

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
    names::POSTGRES_PORT,
};

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
                ports: Some(vec![NetworkPolicyPort {
                    port: Some(IntOrString::Int(POSTGRES_PORT)),
                    protocol: Some("TCP".to_owned()),
                    ..Default::default()
                }]),
            }]),
            ..Default::default()
        }),
    }
}
