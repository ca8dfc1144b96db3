//! The chat API: its Deployment (with the `migrate` init container) and Service, each with the
//! API port `http` and the metrics port `metrics`.

use chatplane_crds::ResourceSpec;
use k8s_openapi::api::{
    apps::v1::Deployment,
    core::v1::{ConfigMapVolumeSource, Container, EnvVar, Service, Volume},
};

use super::{
    Scope,
    labels::Component,
    names::{API_METRICS_PORT, API_PORT, HTTP_PORT_NAME, METRICS_PORT_NAME},
    pod::{amounts, container_security_context, env, env_from_secret, mount, resources},
    secrets::API_URL_KEY,
    workload::{Workload, deployment, service},
};

/// The pod's and the Service's ports: the API (and probes), and `/metrics` on its own listener.
const API_PORTS: [(&str, i32); 2] = [
    (HTTP_PORT_NAME, API_PORT),
    (METRICS_PORT_NAME, API_METRICS_PORT),
];

/// A fixed non-root uid; the API image needs no particular user.
const API_UID: i64 = 10001;
const CORPUS_DIR: &str = "/var/lib/chatplane/corpus";

/// The API's environment (DESIGN §7). Issuer and audience are the auth server's, both the
/// public URL; JWKS and session checks go to the auth Service inside the cluster.
pub fn api_env(scope: &Scope) -> Vec<EnvVar> {
    let (db_secret, db_key) = scope.database_url_ref(API_URL_KEY, |e| &e.api_url_secret_ref);
    let rag = &scope.spec.rag;
    let mut env_vars = vec![
        env_from_secret("DATABASE_URL", &db_secret, &db_key),
        env("AUTH_URL", scope.names.auth_url()),
        env("AUTH_ISSUER", scope.spec.public_url.clone()),
        env("AUTH_AUDIENCE", scope.spec.public_url.clone()),
        env("CORS_ALLOWED_ORIGINS", scope.origins().join(",")),
        // The web UI (served from the image's WEB_DIR) sends the browser to the auth server where
        // the browser reaches it: the public URL, whose /api/auth the Ingress routes to it.
        env("WEB_AUTH_URL", scope.spec.public_url.clone()),
        env("LISTEN_ADDR", format!("0.0.0.0:{API_PORT}")),
        // /metrics is served here only; the API's NetworkPolicy opens it to the monitoring peer.
        env("METRICS_ADDR", format!("0.0.0.0:{API_METRICS_PORT}")),
        env("RAG_TOP_K", rag.top_k.to_string()),
    ];
    if rag.corpus.is_some() {
        env_vars.push(env("RAG_CORPUS_DIR", CORPUS_DIR));
    }
    if let Some(docs) = &rag.docs_base_url {
        env_vars.push(env("DOCS_BASE_URL", docs.clone()));
    }
    if let Some(llm) = &rag.llm {
        env_vars.push(env("LLM_BASE_URL", llm.base_url.clone()));
        env_vars.push(env("LLM_MODEL", llm.model.clone()));
        if let Some(key) = &llm.api_key_secret_ref {
            env_vars.push(env_from_secret("LLM_API_KEY", &key.name, &key.key));
        }
    }
    if let Some(endpoint) = &scope.inputs.otlp_endpoint {
        env_vars.push(env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.clone()));
    }
    env_vars
}

pub fn api_deployment(scope: &Scope) -> Deployment {
    let spec = &scope.spec.api;
    let image = spec
        .image
        .clone()
        .unwrap_or_else(|| scope.inputs.images.api.clone());
    let env_vars = api_env(scope);
    let defaults = ResourceSpec {
        requests: amounts("100m", "128Mi"),
        limits: amounts("1", "512Mi"),
    };
    let resources = resources(spec.resources.as_ref(), &defaults);
    // Migrations run before every start of a new version; they are idempotent (sqlx).
    let migrate = Container {
        name: "migrate".to_owned(),
        image: Some(image.clone()),
        args: Some(vec!["migrate".to_owned()]),
        env: Some(
            env_vars
                .iter()
                .filter(|e| e.name == "DATABASE_URL")
                .cloned()
                .collect(),
        ),
        resources: Some(resources.clone()),
        security_context: Some(container_security_context()),
        volume_mounts: Some(vec![mount("tmp", "/tmp", false)]),
        ..Default::default()
    };
    let (extra_volumes, extra_mounts, external_config) = match &scope.spec.rag.corpus {
        Some(corpus) => (
            vec![Volume {
                name: "corpus".to_owned(),
                config_map: Some(ConfigMapVolumeSource {
                    name: corpus.config_map_ref.name.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            vec![mount("corpus", CORPUS_DIR, true)],
            // The ConfigMap's resourceVersion: new documents roll the pods so they are ingested.
            vec![format!(
                "corpus={}",
                scope.inputs.corpus_version.clone().unwrap_or_default()
            )],
        ),
        None => (vec![], vec![], vec![]),
    };
    deployment(
        scope,
        Workload {
            name: scope.names.api(),
            component: Component::Api,
            image,
            args: vec!["serve".to_owned()],
            ports: &API_PORTS,
            uid: API_UID,
            replicas: spec.replicas,
            env: env_vars,
            resources,
            init_containers: vec![migrate],
            extra_volumes,
            extra_mounts,
            external_config,
        },
    )
}

pub fn api_service(scope: &Scope) -> Service {
    service(scope, scope.names.api(), Component::Api, &API_PORTS)
}
