//! The optional Ingress: Better Auth's routes to the auth server, everything else to the API.

use chatplane_crds::IngressSpec;
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec as K8sIngressSpec, IngressTLS, ServiceBackendPort,
};

use super::{
    Scope,
    labels::Component,
    names::{API_PORT, AUTH_PORT},
};

pub fn ingress(scope: &Scope, spec: &IngressSpec) -> Ingress {
    let path = |prefix: &str, service: String, port: i32| HTTPIngressPath {
        path: Some(prefix.to_owned()),
        path_type: "Prefix".to_owned(),
        backend: IngressBackend {
            service: Some(IngressServiceBackend {
                name: service,
                port: Some(ServiceBackendPort {
                    number: Some(port),
                    name: None,
                }),
            }),
            resource: None,
        },
    };
    Ingress {
        metadata: scope.meta(scope.names.instance.clone(), Component::Api),
        spec: Some(K8sIngressSpec {
            ingress_class_name: spec.class_name.clone(),
            rules: Some(vec![IngressRule {
                host: Some(spec.host.clone()),
                http: Some(HTTPIngressRuleValue {
                    // Longest prefix wins, so /api/auth goes to Better Auth whatever the order.
                    paths: vec![
                        path("/api/auth", scope.names.auth(), AUTH_PORT),
                        path("/", scope.names.api(), API_PORT),
                    ],
                }),
            }]),
            tls: spec.tls.as_ref().map(|tls| {
                vec![IngressTLS {
                    hosts: Some(vec![spec.host.clone()]),
                    secret_name: Some(tls.secret_name.clone()),
                }]
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}
