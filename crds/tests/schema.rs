//! The committed CRD is what the Rust type generates, every example passes it, and each invalid
//! resource is refused for its stated reason — by serde's types or by the CRD's CEL rules, run
//! client-side with kube's `cel` feature as the API server would.

use std::path::{Path, PathBuf};

use chatplane_crds::ChatDeployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::core::cel::Validator;

const COMMITTED_CRD: &str = include_str!("../chatplane.dev_chatdeployments.yaml");

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// The openAPIV3Schema of the committed CRD: the file users install, not the in-memory type.
fn committed_schema() -> serde_json::Value {
    let crd: CustomResourceDefinition = serde_yaml::from_str(COMMITTED_CRD).unwrap();
    let schema = crd.spec.versions[0]
        .schema
        .clone()
        .unwrap()
        .open_api_v3_schema
        .unwrap();
    serde_json::to_value(schema).unwrap()
}

/// Admission as the API server does it, minus pruning: the types, then the CEL rules (with the
/// transition rules when `old` is the stored object).
fn admit_update(yaml: &str, old: Option<&str>) -> Result<(), String> {
    let parse = |yaml: &str| -> Result<serde_json::Value, String> {
        let value: serde_json::Value = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
        serde_json::from_value::<ChatDeployment>(value.clone()).map_err(|e| e.to_string())?;
        Ok(value)
    };
    let value = parse(yaml)?;
    let old = old.map(parse).transpose()?;
    Validator::new()
        .validate(&committed_schema(), &value, old.as_ref())
        .map_err(|errors| {
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        })
}

fn admit(yaml: &str) -> Result<(), String> {
    admit_update(yaml, None)
}

#[test]
fn committed_crd_yaml_matches_the_rust_type() {
    let generated = chatplane_crds::crd_yaml().unwrap();
    assert!(
        generated == COMMITTED_CRD,
        "crds/chatplane.dev_chatdeployments.yaml is stale: run \
         `cargo run -p chatplane-crds --bin crdgen > crds/chatplane.dev_chatdeployments.yaml`"
    );
}

#[test]
fn every_example_passes_the_crd_schema_and_cel_rules() {
    let mut seen = 0;
    for entry in std::fs::read_dir(examples_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let yaml = std::fs::read_to_string(&path).unwrap();
            assert_eq!(admit(&yaml), Ok(()), "{} should be valid", path.display());
            seen += 1;
        }
    }
    assert!(
        seen >= 4,
        "expected the four documented examples, found {seen}"
    );
}

const BASE: &str = "apiVersion: chatplane.dev/v1alpha1
kind: ChatDeployment
metadata:
  name: chat
spec:
  publicUrl: https://chat.example.com
";

/// `BASE` with extra lines appended under `spec:` (indented by the caller).
fn with_spec(extra: &str) -> String {
    format!("{BASE}{extra}")
}

#[test]
fn invalid_resources_are_refused_for_their_stated_reason() {
    let long_name = format!(
        "apiVersion: chatplane.dev/v1alpha1\nkind: ChatDeployment\nmetadata:\n  name: {}\nspec:\n  publicUrl: https://a.example.com\n",
        "a".repeat(41)
    );
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "both database modes",
            with_spec(
                "  database:\n    managed: {}\n    external:\n      apiUrlSecretRef: {name: db, key: api}\n      authUrlSecretRef: {name: db, key: auth}\n",
            ),
            "set exactly one of database.managed or database.external",
        ),
        (
            "no database mode",
            with_spec("  database: {}\n"),
            "set exactly one of database.managed or database.external",
        ),
        (
            "wildcard CORS origin",
            with_spec("  cors:\n    allowedOrigins: ['*']\n"),
            "must not contain '*'",
        ),
        (
            "wildcard subdomain origin",
            with_spec("  cors:\n    allowedOrigins: ['https://*.example.com']\n"),
            "must not contain '*'",
        ),
        (
            "CORS origin with a path",
            with_spec("  cors:\n    allowedOrigins: ['https://docs.example.com/guide']\n"),
            "without path",
        ),
        (
            "CORS origin with a trailing slash",
            with_spec("  cors:\n    allowedOrigins: ['https://docs.example.com/']\n"),
            "without path",
        ),
        (
            "topK of 0",
            with_spec("  rag:\n    topK: 0\n"),
            "rag.topK must be between 1 and 20",
        ),
        (
            "topK of 21",
            with_spec("  rag:\n    topK: 21\n"),
            "rag.topK must be between 1 and 20",
        ),
        (
            "negative API replicas",
            with_spec("  api:\n    replicas: -1\n"),
            "api.replicas must be 0 or more",
        ),
        (
            "negative auth replicas",
            with_spec("  auth:\n    replicas: -2\n"),
            "auth.replicas must be 0 or more",
        ),
        (
            "storage size not a quantity",
            with_spec("  database:\n    managed:\n      storage:\n        size: ten gigs\n"),
            "storage.size must be a quantity",
        ),
        (
            "memory not a quantity",
            with_spec("  api:\n    resources:\n      limits: {memory: 512MB}\n"),
            "memory must be a quantity",
        ),
        (
            "cpu not a quantity",
            with_spec("  auth:\n    resources:\n      requests: {cpu: lots}\n"),
            "cpu must be a quantity",
        ),
        (
            "public URL with a path",
            BASE.replace("https://chat.example.com", "https://chat.example.com/app"),
            "publicUrl must be an http(s) origin",
        ),
        (
            "public URL without scheme",
            BASE.replace("https://chat.example.com", "chat.example.com"),
            "publicUrl must be an http(s) origin",
        ),
        (
            "ingress host differs from publicUrl",
            with_spec("  ingress:\n    host: other.example.com\n"),
            "ingress.host must be the host of publicUrl",
        ),
        (
            "TLS ingress on an http publicUrl",
            BASE.replace("https://", "http://")
                + "  ingress:\n    host: chat.example.com\n    tls: {secretName: tls}\n",
            "publicUrl must use https://",
        ),
        (
            "JWT lifetime without unit",
            with_spec("  auth:\n    jwt:\n      expiresIn: '900'\n"),
            "auth.jwt.expiresIn must be a number and a unit",
        ),
        (
            "LLM base URL not a URL",
            with_spec("  rag:\n    llm:\n      baseUrl: not a url\n      model: m\n"),
            "rag.llm.baseUrl must be an http(s) URL",
        ),
        (
            "name too long for child names",
            long_name,
            "metadata.name must be at most 40 characters",
        ),
        (
            "unknown deletion policy",
            with_spec("  database:\n    managed:\n      deletionPolicy: Shred\n"),
            "unknown variant `Shred`",
        ),
        (
            "missing publicUrl",
            BASE.replace("  publicUrl: https://chat.example.com\n", "  cors: {}\n"),
            "missing field `publicUrl`",
        ),
        (
            "replicas as text",
            with_spec("  api:\n    replicas: two\n"),
            "invalid type",
        ),
    ];
    for (description, yaml, expected) in cases {
        match admit(&yaml) {
            Ok(()) => panic!("{description}: accepted, expected refusal with {expected:?}"),
            Err(error) => assert!(
                error.contains(expected),
                "{description}: refused with {error:?}, expected {expected:?}"
            ),
        }
    }
}

#[test]
fn omitted_fields_get_the_documented_defaults() {
    let resource: ChatDeployment = serde_yaml::from_str(BASE).unwrap();
    let spec = &resource.spec;
    assert_eq!(spec.api.replicas, 1);
    assert_eq!(spec.auth.replicas, 1);
    assert_eq!(spec.rag.top_k, 3);
    assert_eq!(spec.auth.jwt.expires_in, "15m");
    let managed = spec
        .database
        .managed
        .as_ref()
        .expect("managed database by default");
    assert_eq!(managed.storage.size, "1Gi");
    assert_eq!(
        managed.deletion_policy,
        chatplane_crds::DeletionPolicy::Retain
    );
    assert!(spec.database.external.is_none());
}

#[test]
fn updates_may_not_change_what_the_workloads_cannot_follow() {
    let managed = with_spec("  database:\n    managed:\n      storage: {size: 1Gi}\n");
    let grown = with_spec("  database:\n    managed:\n      storage: {size: 5Gi}\n");
    let external = with_spec(
        "  database:\n    external:\n      apiUrlSecretRef: {name: db, key: api}\n      authUrlSecretRef: {name: db, key: auth}\n",
    );
    let scaled = with_spec(
        "  database:\n    managed:\n      storage: {size: 1Gi}\n  api:\n    replicas: 3\n",
    );
    assert_eq!(
        admit_update(&scaled, Some(&managed)),
        Ok(()),
        "other fields stay editable"
    );
    assert_eq!(
        admit_update(&with_spec("  rag: {topK: 4}\n"), Some(BASE)),
        Ok(()),
        "defaults compare equal"
    );
    let cases = [
        (
            "growing the volume",
            &grown,
            &managed,
            "storage cannot change after creation",
        ),
        (
            "managed to external",
            &external,
            &managed,
            "the database mode cannot change",
        ),
        (
            "external to managed",
            &managed,
            &external,
            "the database mode cannot change",
        ),
    ];
    for (description, new, old, expected) in cases {
        match admit_update(new, Some(old)) {
            Ok(()) => panic!("{description}: accepted, expected {expected:?}"),
            Err(error) => assert!(
                error.contains(expected),
                "{description}: {error:?}, expected {expected:?}"
            ),
        }
    }
}
