//! The desired state as a pure function of the resource: every owned object of every example,
//! their wiring, security and determinism. No cluster, no mock: just the builders.

use std::{collections::BTreeMap, path::PathBuf};

use chatplane_crds::{ChatDeployment, MonitoringSpec};
use chatplane_operator::{
    render,
    resources::{
        DRAIN_SECONDS, Desired, GeneratedValues, INIT_SCRIPT, Images, Inputs, Object,
        PROVISION_SQL, desired,
    },
};
use k8s_openapi::{
    api::{
        apps::v1::{Deployment, StatefulSetSpec},
        core::v1::{Container, EnvVar, PodSpec, Service},
        networking::v1::{NetworkPolicyIngressRule, NetworkPolicyPeer},
    },
    apimachinery::pkg::{apis::meta::v1::LabelSelector, util::intstr::IntOrString},
};

fn inputs() -> Inputs {
    Inputs::new(Images::defaults())
}

fn example(name: &str) -> ChatDeployment {
    let path = manifest_dir().join("../examples").join(name);
    render::parse_file(path.to_str().unwrap()).unwrap()
}

/// The package's directory, read when the test runs (cargo sets it): `env!`'s value is the
/// directory of the checkout that built this binary, which cargo reuses unchanged for a checkout
/// elsewhere.
fn manifest_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"))
}

const EXAMPLES: [&str; 4] = [
    "minimal.yaml",
    "external-database.yaml",
    "ingress-tls.yaml",
    "llm.yaml",
];

fn build(cd: &ChatDeployment) -> Desired {
    desired(cd, &inputs(), &GeneratedValues::placeholders()).unwrap()
}

fn objects(d: &Desired) -> Vec<(String, String)> {
    d.manifests()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["kind"].as_str().unwrap().to_owned(),
                m["metadata"]["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn deployment<'a>(d: &'a Desired, name: &str) -> &'a Deployment {
    [&d.auth, &d.api]
        .into_iter()
        .find(|x| x.metadata.name.as_deref() == Some(name))
        .unwrap()
}

fn service<'a>(d: &'a Desired, name: &str) -> &'a Service {
    d.objects()
        .into_iter()
        .find_map(|o| match o {
            Object::Service(s) if s.metadata.name.as_deref() == Some(name) => Some(s),
            _ => None,
        })
        .unwrap()
}

fn stateful_set(d: &Desired) -> &StatefulSetSpec {
    d.postgres
        .as_ref()
        .unwrap()
        .stateful_set
        .spec
        .as_ref()
        .unwrap()
}

fn pod(d: &Deployment) -> &PodSpec {
    d.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
}

fn env(container: &Container) -> BTreeMap<String, EnvVar> {
    container
        .env
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|e| (e.name.clone(), e))
        .collect()
}

fn value(env: &BTreeMap<String, EnvVar>, name: &str) -> String {
    env.get(name)
        .and_then(|e| e.value.clone())
        .unwrap_or_else(|| panic!("{name} has no literal value"))
}

fn secret_ref(env: &BTreeMap<String, EnvVar>, name: &str) -> (String, String) {
    let selector = env[name]
        .value_from
        .as_ref()
        .unwrap()
        .secret_key_ref
        .as_ref()
        .unwrap();
    (selector.name.clone(), selector.key.clone())
}

#[test]
fn each_example_owns_exactly_the_expected_objects() {
    let managed = |n: &str| {
        vec![
            ("Secret", format!("{n}-auth-secret")),
            ("Secret", format!("{n}-database")),
            ("ConfigMap", format!("{n}-postgres-init")),
            ("Service", format!("{n}-postgres-headless")),
            ("Service", format!("{n}-postgres")),
            ("Service", format!("{n}-auth")),
            ("Service", format!("{n}-api")),
            ("StatefulSet", format!("{n}-postgres")),
            ("Deployment", format!("{n}-auth")),
            ("Deployment", format!("{n}-api")),
            ("NetworkPolicy", format!("{n}-postgres")),
            ("NetworkPolicy", format!("{n}-api")),
        ]
    };
    let owned = |list: Vec<(&str, String)>| {
        list.into_iter()
            .map(|(k, n)| (k.to_owned(), n))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        objects(&build(&example("minimal.yaml"))),
        owned(managed("chat"))
    );
    let mut with_ingress = managed("chat");
    with_ingress.push(("Ingress", "chat".to_owned()));
    assert_eq!(
        objects(&build(&example("ingress-tls.yaml"))),
        owned(with_ingress)
    );
    assert_eq!(
        objects(&build(&example("llm.yaml"))),
        owned(managed("docs-assistant"))
    );
    let n = "support-chat";
    assert_eq!(
        objects(&build(&example("external-database.yaml"))),
        owned(vec![
            ("Secret", format!("{n}-auth-secret")),
            ("Service", format!("{n}-auth")),
            ("Service", format!("{n}-api")),
            ("Deployment", format!("{n}-auth")),
            ("Deployment", format!("{n}-api")),
            ("NetworkPolicy", format!("{n}-api")),
        ])
    );
}

#[test]
fn workloads_carry_owner_references_and_secrets_outlive_the_resource() {
    for name in EXAMPLES {
        let cd = example(name);
        for manifest in build(&cd).manifests().unwrap() {
            let refs = &manifest["metadata"]["ownerReferences"];
            if manifest["kind"] == "Secret" {
                assert!(
                    refs.is_null(),
                    "{name}: generated Secrets have no owner: {manifest}"
                );
                continue;
            }
            assert_eq!(refs.as_array().unwrap().len(), 1, "{name}: {manifest}");
            assert_eq!(refs[0]["kind"], "ChatDeployment");
            assert_eq!(refs[0]["apiVersion"], "chatplane.dev/v1alpha1");
            assert_eq!(refs[0]["name"], cd.metadata.name.clone().unwrap());
            assert_eq!(refs[0]["uid"], render::PLACEHOLDER_UID);
            assert_eq!(refs[0]["controller"], true);
            assert_eq!(
                manifest["metadata"]["namespace"],
                cd.metadata.namespace.clone().unwrap()
            );
        }
    }
}

#[test]
fn every_object_is_labelled_and_every_selector_matches_its_pods() {
    for name in EXAMPLES {
        let d = build(&example(name));
        for manifest in d.manifests().unwrap() {
            let labels = &manifest["metadata"]["labels"];
            for key in [
                "app.kubernetes.io/name",
                "app.kubernetes.io/instance",
                "app.kubernetes.io/component",
                "app.kubernetes.io/managed-by",
                "app.kubernetes.io/part-of",
            ] {
                assert!(
                    labels[key].is_string(),
                    "{name}: {key} missing on {}",
                    manifest["metadata"]["name"]
                );
            }
            assert_eq!(labels["app.kubernetes.io/managed-by"], "chatplane-operator");
        }
        for dep in [&d.auth, &d.api] {
            let spec = dep.spec.as_ref().unwrap();
            let pod_labels = spec
                .template
                .metadata
                .as_ref()
                .unwrap()
                .labels
                .as_ref()
                .unwrap();
            for (k, v) in spec.selector.match_labels.as_ref().unwrap() {
                assert_eq!(pod_labels.get(k), Some(v), "{name}: selector {k}");
            }
            let svc = service(&d, dep.metadata.name.as_deref().unwrap());
            for (k, v) in svc.spec.as_ref().unwrap().selector.as_ref().unwrap() {
                assert_eq!(pod_labels.get(k), Some(v), "{name}: service selector {k}");
            }
        }
    }
}

#[test]
fn the_api_trusts_exactly_the_tokens_the_auth_server_issues_and_fetches_keys_from_its_service() {
    for name in EXAMPLES {
        let cd = example(name);
        let d = build(&cd);
        let instance = cd.metadata.name.clone().unwrap();
        let namespace = cd.metadata.namespace.clone().unwrap();
        let auth = env(&pod(deployment(&d, &format!("{instance}-auth"))).containers[0]);
        let api = env(&pod(deployment(&d, &format!("{instance}-api"))).containers[0]);

        assert_eq!(
            value(&auth, "BETTER_AUTH_URL"),
            cd.spec.public_url,
            "{name}"
        );
        assert_eq!(
            value(&api, "AUTH_ISSUER"),
            value(&auth, "JWT_ISSUER"),
            "{name}"
        );
        assert_eq!(
            value(&api, "AUTH_AUDIENCE"),
            value(&auth, "JWT_AUDIENCE"),
            "{name}"
        );
        assert_eq!(value(&auth, "JWT_ISSUER"), cd.spec.public_url, "{name}");

        // AUTH_URL (JWKS at /api/auth/jwks) is the auth Service's in-cluster address and port.
        let svc = service(&d, &format!("{instance}-auth"));
        let port = svc.spec.as_ref().unwrap().ports.as_ref().unwrap()[0].port;
        assert_eq!(
            value(&api, "AUTH_URL"),
            format!(
                "http://{}.{namespace}.svc:{port}",
                svc.metadata.name.as_deref().unwrap()
            )
        );
        let container_port = pod(deployment(&d, &format!("{instance}-auth"))).containers[0]
            .ports
            .as_ref()
            .unwrap()[0]
            .container_port;
        assert_eq!(value(&auth, "PORT"), container_port.to_string());

        // CORS: the same origins on both servers, the public URL and every listed origin.
        assert_eq!(
            value(&api, "CORS_ALLOWED_ORIGINS"),
            value(&auth, "TRUSTED_ORIGINS"),
            "{name}"
        );
        let origins = value(&api, "CORS_ALLOWED_ORIGINS");
        let origins: Vec<&str> = origins.split(',').collect();
        assert_eq!(origins[0], cd.spec.public_url);
        for origin in &cd.spec.cors.allowed_origins {
            assert!(
                origins.contains(&origin.as_str()),
                "{name}: {origin} missing"
            );
        }
        // The web UI's config.js: the auth server at the public URL, not the in-cluster one.
        assert_eq!(value(&api, "WEB_AUTH_URL"), cd.spec.public_url, "{name}");
        assert_eq!(value(&api, "LISTEN_ADDR"), "0.0.0.0:8080");
        assert_eq!(value(&api, "RAG_TOP_K"), cd.spec.rag.top_k.to_string());
    }
}

#[test]
fn each_role_gets_its_own_database_url_from_a_secret() {
    let d = build(&example("minimal.yaml"));
    let auth = env(&pod(deployment(&d, "chat-auth")).containers[0]);
    let api_pod = pod(deployment(&d, "chat-api"));
    let api = env(&api_pod.containers[0]);
    assert_eq!(
        secret_ref(&auth, "DATABASE_URL"),
        ("chat-database".into(), "auth-url".into())
    );
    assert_eq!(
        secret_ref(&api, "DATABASE_URL"),
        ("chat-database".into(), "api-url".into())
    );
    assert_eq!(
        secret_ref(&auth, "BETTER_AUTH_SECRET"),
        ("chat-auth-secret".into(), "BETTER_AUTH_SECRET".into())
    );
    let generated = d.database_secret.as_ref().unwrap();
    assert_eq!(generated.metadata.name.as_deref(), Some("chat-database"));
    let data = generated.string_data.as_ref().unwrap();
    assert_eq!(
        data["auth-url"],
        "postgres://chatplane_auth:GENERATED-AUTH-PASSWORD@chat-postgres.default.svc:5432/chatplane_auth"
    );
    assert_eq!(
        data["api-url"],
        "postgres://chatplane_api:GENERATED-API-PASSWORD@chat-postgres.default.svc:5432/chatplane_api"
    );
    // The migrate init container uses the API's role, nothing else.
    let migrate = &api_pod.init_containers.as_ref().unwrap()[0];
    assert_eq!(migrate.args.as_deref(), Some(&["migrate".to_owned()][..]));
    assert_eq!(env(migrate).keys().collect::<Vec<_>>(), ["DATABASE_URL"]);
    assert_eq!(
        secret_ref(&env(migrate), "DATABASE_URL"),
        ("chat-database".into(), "api-url".into())
    );

    let d = build(&example("external-database.yaml"));
    let auth = env(&pod(deployment(&d, "support-chat-auth")).containers[0]);
    let api = env(&pod(deployment(&d, "support-chat-api")).containers[0]);
    assert_eq!(
        secret_ref(&auth, "DATABASE_URL"),
        ("chat-db-urls".into(), "auth".into())
    );
    assert_eq!(
        secret_ref(&api, "DATABASE_URL"),
        ("chat-db-urls".into(), "api".into())
    );
}

#[test]
fn the_llm_and_corpus_settings_reach_the_api() {
    let d = build(&example("llm.yaml"));
    let pod = pod(deployment(&d, "docs-assistant-api"));
    let api = env(&pod.containers[0]);
    assert_eq!(value(&api, "LLM_BASE_URL"), "https://api.openai.com/v1");
    assert_eq!(value(&api, "LLM_MODEL"), "gpt-4o-mini");
    assert_eq!(
        secret_ref(&api, "LLM_API_KEY"),
        ("llm-credentials".into(), "api-key".into())
    );
    assert_eq!(value(&api, "RAG_TOP_K"), "5");
    assert_eq!(value(&api, "DOCS_BASE_URL"), "https://docs.example.com");
    let dir = value(&api, "RAG_CORPUS_DIR");
    let mount = pod.containers[0]
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.mount_path == dir)
        .unwrap();
    assert_eq!(mount.read_only, Some(true));
    let volume = pod
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .find(|v| v.name == mount.name)
        .unwrap();
    assert_eq!(volume.config_map.as_ref().unwrap().name, "product-docs");

    let minimal = build(&example("minimal.yaml"));
    let api = env(&self::pod(deployment(&minimal, "chat-api")).containers[0]);
    for absent in ["LLM_BASE_URL", "LLM_MODEL", "LLM_API_KEY", "RAG_CORPUS_DIR"] {
        assert!(
            !api.contains_key(absent),
            "{absent} set without an LLM or corpus"
        );
    }
}

#[test]
fn every_pod_runs_restricted_with_probes_and_resources() {
    for name in EXAMPLES {
        let d = build(&example(name));
        let mut pods: Vec<&PodSpec> = [&d.auth, &d.api].into_iter().map(pod).collect();
        pods.extend(d.postgres.iter().map(|p| {
            p.stateful_set
                .spec
                .as_ref()
                .unwrap()
                .template
                .spec
                .as_ref()
                .unwrap()
        }));
        for pod in pods {
            let psc = pod.security_context.as_ref().unwrap();
            assert_eq!(psc.run_as_non_root, Some(true));
            assert!(psc.run_as_user.unwrap() > 0);
            assert_eq!(
                psc.seccomp_profile.as_ref().unwrap().type_,
                "RuntimeDefault"
            );
            assert_eq!(pod.automount_service_account_token, Some(false));
            let init = pod.init_containers.clone().unwrap_or_default();
            for c in pod.containers.iter().chain(&init) {
                let sc = c.security_context.as_ref().unwrap();
                assert_eq!(
                    sc.allow_privilege_escalation,
                    Some(false),
                    "{name}/{}",
                    c.name
                );
                assert_eq!(
                    sc.read_only_root_filesystem,
                    Some(true),
                    "{name}/{}",
                    c.name
                );
                assert_eq!(sc.run_as_non_root, Some(true), "{name}/{}", c.name);
                assert_eq!(
                    sc.capabilities.as_ref().unwrap().drop.as_deref(),
                    Some(&["ALL".to_owned()][..])
                );
                assert_eq!(sc.seccomp_profile.as_ref().unwrap().type_, "RuntimeDefault");
                let resources = c.resources.as_ref().unwrap();
                for section in [&resources.requests, &resources.limits] {
                    let section = section.as_ref().unwrap();
                    assert!(
                        section.contains_key("cpu") && section.contains_key("memory"),
                        "{name}/{}",
                        c.name
                    );
                }
            }
            for c in &pod.containers {
                assert!(
                    c.readiness_probe.is_some() && c.liveness_probe.is_some(),
                    "{name}/{}",
                    c.name
                );
            }
        }
        for dep in [&d.auth, &d.api] {
            let probe = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
                p.as_ref()
                    .unwrap()
                    .http_get
                    .as_ref()
                    .unwrap()
                    .path
                    .clone()
                    .unwrap()
            };
            let c = &pod(dep).containers[0];
            assert_eq!(probe(&c.readiness_probe), "/readyz");
            assert_eq!(probe(&c.liveness_probe), "/healthz");
        }
    }
}

#[test]
fn the_serving_pods_drain_before_sigterm_within_their_grace_period() {
    for name in EXAMPLES {
        let d = build(&example(name));
        for dep in [&d.auth, &d.api] {
            let spec = pod(dep);
            let c = &spec.containers[0];
            let sleep = c
                .lifecycle
                .as_ref()
                .and_then(|l| l.pre_stop.as_ref())
                .and_then(|h| h.sleep.as_ref())
                .map(|s| s.seconds);
            assert_eq!(sleep, Some(DRAIN_SECONDS), "{name}/{}", c.name);
            // The drain, then the servers' 25 s shutdown grace, fit in the pod's grace period.
            let grace = spec.termination_grace_period_seconds.unwrap();
            assert!(grace > DRAIN_SECONDS + 25, "{name}/{}: {grace}", c.name);
        }
    }
}

#[test]
fn the_spec_resources_override_the_defaults() {
    let d = build(&example("ingress-tls.yaml"));
    let resources = pod(deployment(&d, "chat-api")).containers[0]
        .resources
        .clone()
        .unwrap();
    assert_eq!(resources.requests.unwrap()["memory"].0, "256Mi");
    assert_eq!(resources.limits.unwrap()["cpu"].0, "1");
}

#[test]
fn postgres_keeps_its_data_on_a_claim_and_creates_two_isolated_databases() {
    let retain = build(&example("minimal.yaml"));
    let sts = stateful_set(&retain);
    assert_eq!(sts.service_name.as_deref(), Some("chat-postgres-headless"));
    let claim = &sts.volume_claim_templates.as_ref().unwrap()[0];
    assert_eq!(
        claim
            .spec
            .as_ref()
            .unwrap()
            .resources
            .as_ref()
            .unwrap()
            .requests
            .as_ref()
            .unwrap()["storage"]
            .0,
        "1Gi"
    );
    assert_eq!(
        sts.persistent_volume_claim_retention_policy
            .as_ref()
            .unwrap()
            .when_deleted
            .as_deref(),
        Some("Retain")
    );
    let probe = sts.template.spec.as_ref().unwrap().containers[0]
        .readiness_probe
        .as_ref()
        .unwrap();
    assert_eq!(
        probe.exec.as_ref().unwrap().command.as_ref().unwrap()[0],
        "pg_isready"
    );
    // The ConfigMap carries the init step and the one provisioning SQL as they are in sql/; that
    // they initialize, provision and isolate the roles is proven on real PostgreSQL binaries by
    // tests/postgres_init.rs. Here: the pod runs them, and runs the server without an entrypoint.
    let managed = retain.postgres.as_ref().unwrap();
    assert_eq!(managed.init_script(), Some(INIT_SCRIPT));
    assert_eq!(managed.provision_sql(), Some(PROVISION_SQL));
    let pod = sts.template.spec.as_ref().unwrap();
    let init = &pod.init_containers.as_ref().unwrap()[..];
    assert_eq!(init.len(), 1);
    let (init, server) = (&init[0], &pod.containers[0]);
    assert_eq!(
        init.image, server.image,
        "the init step runs in the server's image"
    );
    assert_eq!(
        init.command.as_deref().unwrap(),
        ["sh", "/chatplane-init/postgres-init.sh"]
    );
    let init_env = env(init);
    assert_eq!(value(&init_env, "AUTH_DB_NAME"), "chatplane_auth");
    assert_eq!(value(&init_env, "API_DB_NAME"), "chatplane_api");
    assert_eq!(
        value(&init_env, "PROVISION_SQL"),
        "/chatplane-init/provision.sql"
    );
    for (variable, key) in [
        ("POSTGRES_PASSWORD", "postgres-password"),
        ("AUTH_DB_PASSWORD", "auth-password"),
        ("API_DB_PASSWORD", "api-password"),
    ] {
        assert_eq!(
            secret_ref(&init_env, variable),
            ("chat-database".to_owned(), key.to_owned())
        );
    }
    assert_eq!(
        server.command.as_deref().unwrap()[..3],
        ["postgres", "-D", "/var/lib/postgresql/data/pgdata"]
    );
    assert!(server.args.is_none());
    let server_env = env(server);
    assert_eq!(
        server_env.keys().collect::<Vec<_>>(),
        ["PGDATA"],
        "no image entrypoint variables, no passwords in the server container"
    );
    for c in [init, server] {
        let mounts: Vec<&str> = c
            .volume_mounts
            .iter()
            .flatten()
            .map(|m| m.mount_path.as_str())
            .collect();
        assert!(
            !mounts.contains(&"/docker-entrypoint-initdb.d"),
            "{}: {mounts:?}",
            c.name
        );
        assert!(mounts.contains(&"/var/lib/postgresql/data"), "{}", c.name);
    }
    let delete = build(&example("llm.yaml"));
    let sts = stateful_set(&delete);
    assert_eq!(
        sts.persistent_volume_claim_retention_policy
            .as_ref()
            .unwrap()
            .when_deleted
            .as_deref(),
        Some("Delete")
    );

    let headless = service(&retain, "chat-postgres-headless");
    assert_eq!(
        headless.spec.as_ref().unwrap().cluster_ip.as_deref(),
        Some("None")
    );
}

#[test]
fn only_the_auth_and_api_pods_of_the_same_deployment_reach_postgres() {
    let d = build(&example("minimal.yaml"));
    let policy = d
        .postgres
        .as_ref()
        .unwrap()
        .network_policy
        .spec
        .as_ref()
        .unwrap();
    let target = policy
        .pod_selector
        .as_ref()
        .unwrap()
        .match_labels
        .as_ref()
        .unwrap();
    assert_eq!(target["app.kubernetes.io/component"], "postgres");
    assert_eq!(target["app.kubernetes.io/instance"], "chat");
    let rules = policy.ingress.as_ref().unwrap();
    assert_eq!(rules.len(), 1);
    let peers = rules[0].from.as_ref().unwrap();
    assert_eq!(peers.len(), 1);
    assert!(
        peers[0].namespace_selector.is_none() && peers[0].ip_block.is_none(),
        "pods of this namespace only"
    );
    let selector = peers[0].pod_selector.as_ref().unwrap();
    assert_eq!(
        selector.match_labels.as_ref().unwrap()["app.kubernetes.io/instance"],
        "chat"
    );
    let expr = &selector.match_expressions.as_ref().unwrap()[0];
    assert_eq!(
        (expr.key.as_str(), expr.operator.as_str()),
        ("app.kubernetes.io/component", "In")
    );
    assert_eq!(
        expr.values.as_deref(),
        Some(&["api".to_owned(), "auth".to_owned()][..])
    );
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn match_labels(pairs: &[(&str, &str)]) -> Option<LabelSelector> {
    Some(LabelSelector {
        match_labels: Some(labels(pairs)),
        ..Default::default()
    })
}

/// An ingress rule as its (port, protocol) pairs and its peers (`None`: every source).
type Rule = (Vec<(i32, String)>, Option<Vec<NetworkPolicyPeer>>);

/// The API policy's rules.
fn api_rules(d: &Desired) -> Vec<Rule> {
    let spec = d.api_network_policy.spec.as_ref().unwrap();
    let rules: &[NetworkPolicyIngressRule] = spec.ingress.as_deref().unwrap();
    rules
        .iter()
        .map(|rule| {
            let ports = rule
                .ports
                .iter()
                .flatten()
                .map(|p| match p.port {
                    Some(IntOrString::Int(port)) => (port, p.protocol.clone().unwrap()),
                    ref other => panic!("a numbered port, not {other:?}"),
                })
                .collect();
            (ports, rule.from.clone())
        })
        .collect()
}

/// The one peer of the metrics port's rule.
fn metrics_peer(d: &Desired) -> NetworkPolicyPeer {
    let rules = api_rules(d);
    let (_, from) = rules
        .iter()
        .find(|(ports, _)| ports == &[(9090, "TCP".to_owned())])
        .expect("a rule for the metrics port");
    let peers = from.as_ref().expect("the metrics port is not open to all");
    assert_eq!(peers.len(), 1, "{peers:?}");
    peers[0].clone()
}

#[test]
fn the_api_port_is_open_to_all_and_the_metrics_port_only_to_the_monitoring_peer() {
    for name in EXAMPLES {
        let cd = example(name);
        let d = build(&cd);
        let instance = cd.metadata.name.clone().unwrap();
        let policy = &d.api_network_policy;
        assert_eq!(
            policy.metadata.name.as_deref(),
            Some(format!("{instance}-api").as_str())
        );
        let spec = policy.spec.as_ref().unwrap();
        assert_eq!(
            spec.policy_types.as_deref(),
            Some(&["Ingress".to_owned()][..])
        );
        assert_eq!(
            spec.pod_selector.as_ref(),
            Some(&d.api.spec.as_ref().unwrap().selector),
            "{name}: the policy selects exactly the API Deployment's pods"
        );
        let rules = api_rules(&d);
        assert_eq!(rules.len(), 2, "{name}: {rules:?}");
        assert_eq!(
            rules[0],
            (vec![(8080, "TCP".to_owned())], None),
            "{name}: the API port from anywhere (the Ingress controller, other apps)"
        );
        let expected = match name {
            // Prometheus's namespace, every pod of it.
            "ingress-tls.yaml" => NetworkPolicyPeer {
                namespace_selector: match_labels(&[("kubernetes.io/metadata.name", "monitoring")]),
                ..Default::default()
            },
            // No spec.monitoring: pods of this namespace labelled chatplane.dev/monitoring=true.
            _ => {
                assert!(cd.spec.monitoring.is_none(), "{name}");
                NetworkPolicyPeer {
                    pod_selector: match_labels(&[("chatplane.dev/monitoring", "true")]),
                    namespace_selector: None,
                    ip_block: None,
                }
            }
        };
        assert_eq!(metrics_peer(&d), expected, "{name}");
        // Every port the API container declares is in a rule: none is closed by accident.
        let declared: Vec<i32> = pod(&d.api).containers[0]
            .ports
            .iter()
            .flatten()
            .map(|p| p.container_port)
            .collect();
        let opened: Vec<i32> = rules
            .iter()
            .flat_map(|(ports, _)| ports.iter().map(|(port, _)| *port))
            .collect();
        assert_eq!(declared, opened, "{name}");
    }
}

#[test]
fn spec_monitoring_names_the_peer_of_the_metrics_port() {
    let with = |monitoring: &str| {
        let yaml = format!(
            "apiVersion: chatplane.dev/v1alpha1
kind: ChatDeployment
metadata: {{name: chat, namespace: default, uid: 00000000-0000-0000-0000-000000000000}}
spec:
  publicUrl: https://chat.example.com
  monitoring: {monitoring}
"
        );
        let cd: ChatDeployment = serde_yaml::from_str(&yaml).unwrap();
        desired(&cd, &inputs(), &GeneratedValues::placeholders())
    };
    let prometheus = [("kubernetes.io/metadata.name", "monitoring")];
    // Only namespaceLabels: every pod of those namespaces.
    assert_eq!(
        metrics_peer(
            &with("{namespaceLabels: {kubernetes.io/metadata.name: monitoring}}").unwrap()
        ),
        NetworkPolicyPeer {
            namespace_selector: match_labels(&prometheus),
            ..Default::default()
        }
    );
    // Both: those pods of those namespaces.
    assert_eq!(
        metrics_peer(
            &with(
                "{namespaceLabels: {kubernetes.io/metadata.name: monitoring}, \
                 podLabels: {app.kubernetes.io/name: prometheus}}"
            )
            .unwrap()
        ),
        NetworkPolicyPeer {
            namespace_selector: match_labels(&prometheus),
            pod_selector: match_labels(&[("app.kubernetes.io/name", "prometheus")]),
            ..Default::default()
        }
    );
    // Only podLabels: those pods of the ChatDeployment's namespace (no namespace selector).
    assert_eq!(
        metrics_peer(&with("{podLabels: {app: scraper}}").unwrap()),
        NetworkPolicyPeer {
            pod_selector: match_labels(&[("app", "scraper")]),
            ..Default::default()
        }
    );
    // Whatever the peer, the API port stays open to all.
    let d = with("{podLabels: {app: scraper}}").unwrap();
    assert_eq!(api_rules(&d)[0], (vec![(8080, "TCP".to_owned())], None));
    // Neither (the CRD's rule refuses it; `render` skips admission): refused, not opened.
    let error = with("{}").unwrap_err();
    assert!(
        error
            .to_string()
            .contains("monitoring: set namespaceLabels, podLabels or both"),
        "{error}"
    );
    // The struct the test builds by hand is the one the YAML gives.
    let mut cd = example("minimal.yaml");
    cd.spec.monitoring = Some(MonitoringSpec {
        namespace_labels: Some(labels(&prometheus)),
        pod_labels: None,
    });
    assert_eq!(
        metrics_peer(&build(&cd)).namespace_selector,
        match_labels(&prometheus)
    );
}

#[test]
fn the_api_serves_metrics_on_its_own_named_port_and_service_port() {
    for name in EXAMPLES {
        let cd = example(name);
        let d = build(&cd);
        let instance = cd.metadata.name.clone().unwrap();
        let container = &pod(&d.api).containers[0];
        assert_eq!(value(&env(container), "METRICS_ADDR"), "0.0.0.0:9090");
        assert_eq!(value(&env(container), "LISTEN_ADDR"), "0.0.0.0:8080");
        let ports: Vec<(String, i32, String)> = container
            .ports
            .iter()
            .flatten()
            .map(|p| {
                (
                    p.name.clone().unwrap(),
                    p.container_port,
                    p.protocol.clone().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            ports,
            [
                ("http".to_owned(), 8080, "TCP".to_owned()),
                ("metrics".to_owned(), 9090, "TCP".to_owned())
            ],
            "{name}"
        );
        // The probes stay on the API port.
        for probe in [&container.readiness_probe, &container.liveness_probe] {
            let http = probe.as_ref().unwrap().http_get.as_ref().unwrap();
            assert_eq!(http.port, IntOrString::String("http".to_owned()), "{name}");
        }
        // The Service: both ports, named (a ServiceMonitor selects `metrics`), by target name.
        let svc = service(&d, &format!("{instance}-api"));
        let svc_ports: Vec<(String, i32, IntOrString)> = svc
            .spec
            .as_ref()
            .unwrap()
            .ports
            .iter()
            .flatten()
            .map(|p| {
                (
                    p.name.clone().unwrap(),
                    p.port,
                    p.target_port.clone().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            svc_ports,
            [
                (
                    "http".to_owned(),
                    8080,
                    IntOrString::String("http".to_owned())
                ),
                (
                    "metrics".to_owned(),
                    9090,
                    IntOrString::String("metrics".to_owned())
                )
            ],
            "{name}"
        );
        // The auth server has no metrics listener: one port as before.
        let auth = service(&d, &format!("{instance}-auth"));
        assert_eq!(auth.spec.as_ref().unwrap().ports.as_ref().unwrap().len(), 1);
    }
}

#[test]
fn the_ingress_routes_auth_paths_to_the_auth_server_with_tls() {
    let d = build(&example("ingress-tls.yaml"));
    let spec = d.ingress.as_ref().unwrap().spec.as_ref().unwrap();
    assert_eq!(spec.ingress_class_name.as_deref(), Some("nginx"));
    let tls = &spec.tls.as_ref().unwrap()[0];
    assert_eq!(tls.secret_name.as_deref(), Some("chat-example-com-tls"));
    assert_eq!(
        tls.hosts.as_deref(),
        Some(&["chat.example.com".to_owned()][..])
    );
    let rule = &spec.rules.as_ref().unwrap()[0];
    assert_eq!(rule.host.as_deref(), Some("chat.example.com"));
    let routes: Vec<(String, String, i32)> = rule
        .http
        .as_ref()
        .unwrap()
        .paths
        .iter()
        .map(|p| {
            let backend = p.backend.service.as_ref().unwrap();
            (
                p.path.clone().unwrap(),
                backend.name.clone(),
                backend.port.as_ref().unwrap().number.unwrap(),
            )
        })
        .collect();
    assert_eq!(
        routes,
        [
            ("/api/auth".to_owned(), "chat-auth".to_owned(), 3000),
            ("/".to_owned(), "chat-api".to_owned(), 8080)
        ]
    );
}

#[test]
fn the_same_resource_yields_byte_identical_manifests() {
    for name in EXAMPLES {
        let cd = example(name);
        assert_eq!(
            build(&cd).to_yaml().unwrap(),
            build(&cd).to_yaml().unwrap(),
            "{name}"
        );
        // Secret values are the only input outside the resource; they touch nothing else.
        let with = |values: &GeneratedValues| {
            let mut d = desired(&cd, &inputs(), values).unwrap();
            (d.auth_secret, d.database_secret) = (None, None);
            d.to_yaml().unwrap()
        };
        assert_eq!(
            with(&GeneratedValues::placeholders()),
            with(&GeneratedValues::random()),
            "{name}"
        );
    }
}

#[test]
fn a_configuration_change_changes_the_config_hash_of_the_affected_pods_only() {
    let hash = |d: &Desired, name: &str| {
        deployment(d, name)
            .spec
            .as_ref()
            .unwrap()
            .template
            .metadata
            .as_ref()
            .unwrap()
            .annotations
            .as_ref()
            .unwrap()["chatplane.dev/config-hash"]
            .clone()
    };
    let before = build(&example("minimal.yaml"));
    let mut cd = example("minimal.yaml");
    cd.spec.rag.top_k = 7;
    let after = build(&cd);
    assert_ne!(hash(&before, "chat-api"), hash(&after, "chat-api"));
    assert_eq!(hash(&before, "chat-auth"), hash(&after, "chat-auth"));
    cd.spec
        .cors
        .allowed_origins
        .push("https://docs.example.com".to_owned());
    let both = build(&cd);
    assert_ne!(
        hash(&after, "chat-auth"),
        hash(&both, "chat-auth"),
        "TRUSTED_ORIGINS changed"
    );
}

#[test]
fn a_resource_with_both_database_modes_is_refused_not_guessed() {
    let mut cd = example("external-database.yaml");
    cd.spec.database.managed = Some(Default::default());
    let error = desired(&cd, &inputs(), &GeneratedValues::placeholders()).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("exactly one of database.managed or database.external"),
        "{error}"
    );
}

#[test]
fn render_prints_placeholders_instead_of_secrets() {
    let path = manifest_dir().join("../examples/minimal.yaml");
    let yaml = render::render_file(path.to_str().unwrap(), &inputs()).unwrap();
    assert!(yaml.contains("BETTER_AUTH_SECRET: GENERATED-AUTH-SECRET"));
    assert_eq!(
        yaml.matches("\n---\n").count() + 1,
        12,
        "one document per object"
    );
}
