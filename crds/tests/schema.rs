//! The committed CRD is what the Rust type generates, every example passes it, and each invalid
//! resource is refused for its stated reason — by serde's types or by the CRD's CEL rules, run
//! client-side with kube's `cel` feature as the API server would.

use std::path::PathBuf;

use chatplane_crds::ChatDeployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::core::cel::Validator;

const COMMITTED_CRD: &str = include_str!("../chatplane.dev_chatdeployments.yaml");

fn examples_dir() -> PathBuf {
    // Read when the test runs, where cargo sets it: `env!`'s value is the directory of the
    // checkout that built this binary, which cargo reuses unchanged for a checkout elsewhere.
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo test"))
        .join("../examples")
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
fn admit_update(value: &serde_json::Value, old: Option<&serde_json::Value>) -> Result<(), String> {
    for object in std::iter::once(value).chain(old) {
        serde_json::from_value::<ChatDeployment>(object.clone()).map_err(|e| e.to_string())?;
    }
    Validator::new()
        .validate(&committed_schema(), value, old)
        .map_err(|errors| {
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        })
}

fn admit(yaml: &str) -> Result<(), String> {
    let value: serde_json::Value = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
    admit_update(&value, None)
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

/// The refusal table shared with the real-server test (scripts/test.d/50-cluster.sh).
const CASES: &str = include_str!("cases.json");

#[derive(serde::Deserialize)]
struct Cases {
    invalid: Vec<Case>,
    updates: Updates,
}

#[derive(serde::Deserialize)]
struct Updates {
    allowed: Vec<Case>,
    refused: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    case: String,
    name: Option<String>,
    spec: Option<serde_json::Value>,
    old: Option<serde_json::Value>,
    new: Option<serde_json::Value>,
    /// What the client-side check says; the server's words when `server` is absent.
    message: Option<String>,
}

fn cases() -> Cases {
    serde_json::from_str(CASES).unwrap()
}

/// A ChatDeployment with this name (default `chat`) and spec.
fn resource(name: Option<&str>, spec: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "chatplane.dev/v1alpha1",
        "kind": "ChatDeployment",
        "metadata": {"name": name.unwrap_or("chat")},
        "spec": spec,
    })
}

fn expect_refusal(case: &Case, result: Result<(), String>) {
    let expected = case.message.as_deref().unwrap();
    match result {
        Ok(()) => panic!(
            "{}: accepted, expected refusal with {expected:?}",
            case.case
        ),
        Err(error) => assert!(
            error.contains(expected),
            "{}: refused with {error:?}, expected {expected:?}",
            case.case
        ),
    }
}

#[test]
fn invalid_resources_are_refused_for_their_stated_reason() {
    let cases = cases();
    assert!(cases.invalid.len() >= 20, "the table lost its cases");
    for case in &cases.invalid {
        let value = resource(case.name.as_deref(), case.spec.as_ref().unwrap());
        expect_refusal(case, admit_update(&value, None));
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
    // No monitoring section: the operator opens the metrics port to defaults::monitoring().
    assert!(spec.monitoring.is_none());
    let monitoring = chatplane_crds::defaults::monitoring();
    assert!(monitoring.namespace_labels.is_none());
    assert_eq!(
        monitoring.pod_labels.unwrap()["chatplane.dev/monitoring"],
        "true"
    );
}

#[test]
fn updates_may_not_change_what_the_workloads_cannot_follow() {
    let cases = cases();
    let pair = |case: &Case| {
        (
            resource(case.name.as_deref(), case.new.as_ref().unwrap()),
            resource(case.name.as_deref(), case.old.as_ref().unwrap()),
        )
    };
    assert!(!cases.updates.allowed.is_empty() && cases.updates.refused.len() >= 3);
    for case in &cases.updates.allowed {
        let (new, old) = pair(case);
        assert_eq!(admit_update(&new, Some(&old)), Ok(()), "{}", case.case);
    }
    for case in &cases.updates.refused {
        let (new, old) = pair(case);
        expect_refusal(case, admit_update(&new, Some(&old)));
    }
}
