//! Test-only: the fixture resource with chainable modifiers, `Context::test()`, and a scripted
//! fake API server that answers like Kubernetes and records every request, so a test asserts
//! the exact calls (method, path, query, body) a reconcile made.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use chatplane_crds::{ChatDeployment, ChatDeploymentSpec, ChatDeploymentStatus};
use http::{Request, Response, StatusCode};
use kube::{
    Resource,
    client::{Body, ClientBuilder},
};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tower_test::mock::{self, Handle};

use crate::{
    context::{Settings, State},
    reconcile::FINALIZER,
    resources::{Images, Inputs},
};

pub const NAMESPACE: &str = "testns";

/// Test constructors on the resource itself (a trait: the type lives in chatplane-crds).
pub trait Fixture: Sized {
    /// A stored resource (uid, generation) that already carries the finalizer.
    fn test() -> Self;
    fn unfinalized(self) -> Self;
    fn deleting(self) -> Self;
    fn with_spec(self, edit: impl FnOnce(&mut ChatDeploymentSpec)) -> Self;
    fn with_status(self, status: ChatDeploymentStatus) -> Self;
    /// An LLM whose API key is the Secret key `llm-key`/`api-key`.
    fn with_llm_key(self) -> Self;
}

impl Fixture for ChatDeployment {
    fn test() -> Self {
        let spec: ChatDeploymentSpec =
            serde_json::from_value(json!({ "publicUrl": "https://chat.example.com" }))
                .expect("BUG: fixture spec");
        let mut cd = ChatDeployment::new("chat", spec);
        let meta = cd.meta_mut();
        meta.namespace = Some(NAMESPACE.to_owned());
        meta.uid = Some("2b7a1f4e-0000-4000-8000-000000000001".to_owned());
        meta.generation = Some(1);
        meta.resource_version = Some("100".to_owned());
        meta.finalizers = Some(vec![FINALIZER.to_owned()]);
        cd
    }

    fn unfinalized(mut self) -> Self {
        self.meta_mut().finalizers = None;
        self
    }

    fn deleting(mut self) -> Self {
        self.meta_mut().deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::from_second(1_800_000_000)
                    .expect("BUG: fixture time"),
            ));
        self
    }

    fn with_spec(mut self, edit: impl FnOnce(&mut ChatDeploymentSpec)) -> Self {
        edit(&mut self.spec);
        self
    }

    fn with_status(mut self, status: ChatDeploymentStatus) -> Self {
        self.status = Some(status);
        self
    }

    fn with_llm_key(self) -> Self {
        self.with_spec(|spec| {
            spec.rag.llm = Some(chatplane_crds::LlmSpec {
                base_url: "https://llm.example.com/v1".to_owned(),
                model: "m".to_owned(),
                api_key_secret_ref: Some(chatplane_crds::SecretKeyRef {
                    name: "llm-key".to_owned(),
                    key: "api-key".to_owned(),
                }),
            });
        })
    }
}

pub fn test_images() -> Images {
    Images {
        api: "api:test".to_owned(),
        auth: "auth:test".to_owned(),
        postgres: "postgres:test".to_owned(),
    }
}

pub fn test_inputs() -> Inputs {
    Inputs {
        images: test_images(),
        corpus_version: None,
        otlp_endpoint: None,
    }
}

/// One request as the fake API server saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    pub method: String,
    /// Path and query, e.g. `/api/v1/namespaces/testns/services/chat-api?&force=true&fieldManager=...`.
    pub uri: String,
    pub content_type: Option<String>,
    pub body: Value,
}

impl Recorded {
    pub fn path(&self) -> &str {
        self.uri.split('?').next().unwrap_or_default()
    }

    pub fn query(&self) -> &str {
        self.uri.split_once('?').map(|(_, q)| q).unwrap_or_default()
    }
}

/// How the fake cluster looks when the reconcile starts.
#[derive(Clone, Debug, Default)]
pub struct Scenario {
    /// Objects that exist, by API path (`/api/v1/namespaces/testns/secrets/chat-database`).
    pub existing: BTreeMap<String, Value>,
    /// Whether applied workloads come back with all replicas available.
    pub workloads_ready: bool,
    /// Requests the API server refuses, by API path: the answer's code, reason and message.
    pub refused: BTreeMap<String, (u16, String, String)>,
}

impl Scenario {
    pub fn with_secret(mut self, name: &str, keys: &[&str]) -> Self {
        let data: BTreeMap<&str, &str> = keys.iter().map(|k| (*k, "c2VjcmV0")).collect();
        self.existing.insert(
            format!("/api/v1/namespaces/{NAMESPACE}/secrets/{name}"),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NAMESPACE, "resourceVersion": "7"}, "data": data}),
        );
        self
    }

    pub fn with_config_map(mut self, name: &str) -> Self {
        self.existing.insert(
            format!("/api/v1/namespaces/{NAMESPACE}/configmaps/{name}"),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NAMESPACE, "resourceVersion": "42"}}),
        );
        self
    }

    /// The API server answers an apply of this path with a Status of that code (a quota, a webhook).
    pub fn refusing(mut self, path: &str, code: u16, reason: &str, message: &str) -> Self {
        self.refused.insert(
            path.to_owned(),
            (code, reason.to_owned(), message.to_owned()),
        );
        self
    }

    pub fn ready(mut self) -> Self {
        self.workloads_ready = true;
        self
    }
}

pub struct ApiServerVerifier(Handle<Request<Body>, Response<Body>>);

impl ApiServerVerifier {
    /// Answers every request of one scenario until the client is dropped, then returns them.
    pub fn run(self, cd: ChatDeployment, scenario: Scenario) -> JoinHandle<Vec<Recorded>> {
        let mut handle = self.0;
        tokio::spawn(async move {
            let mut fake = FakeCluster {
                objects: scenario.existing,
                ready: scenario.workloads_ready,
                refused: scenario.refused,
                cd,
            };
            let mut recorded = Vec::new();
            while let Some((request, send)) = handle.next_request().await {
                let (parts, body) = request.into_parts();
                let bytes = body.collect_bytes().await.expect("BUG: request body");
                let body: Value = if bytes.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&bytes).expect("JSON body")
                };
                let entry = Recorded {
                    method: parts.method.to_string(),
                    uri: parts.uri.to_string(),
                    content_type: parts
                        .headers
                        .get(http::header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned),
                    body,
                };
                let (status, response) = fake.answer(&entry);
                recorded.push(entry);
                send.send_response(
                    Response::builder()
                        .status(status)
                        .body(Body::from(
                            serde_json::to_vec(&response).expect("BUG: response"),
                        ))
                        .expect("BUG: response"),
                );
            }
            recorded
        })
    }
}

/// The little of Kubernetes' behaviour a reconcile depends on.
struct FakeCluster {
    objects: BTreeMap<String, Value>,
    ready: bool,
    refused: BTreeMap<String, (u16, String, String)>,
    cd: ChatDeployment,
}

fn status(code: u16, reason: &str) -> (StatusCode, Value) {
    (
        StatusCode::from_u16(code).expect("BUG: status code"),
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "message": reason, "code": code}),
    )
}

impl FakeCluster {
    fn answer(&mut self, request: &Recorded) -> (StatusCode, Value) {
        let path = request.path().to_owned();
        if let Some((code, reason, message)) = self.refused.get(&path) {
            let (code_, mut body) = status(*code, reason);
            body["message"] = json!(message);
            return (code_, body);
        }
        match request.method.as_str() {
            "GET" => match self.objects.get(&path) {
                Some(object) => (StatusCode::OK, object.clone()),
                None => status(404, "NotFound"),
            },
            "POST" if path.ends_with("/events") => (StatusCode::CREATED, request.body.clone()),
            "POST" => {
                let name = request.body["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default();
                let key = format!("{path}/{name}");
                if self.objects.contains_key(&key) {
                    return status(409, "AlreadyExists");
                }
                self.objects.insert(key, request.body.clone());
                (StatusCode::CREATED, request.body.clone())
            }
            "PUT" => {
                self.objects.insert(path, request.body.clone());
                (StatusCode::OK, request.body.clone())
            }
            "DELETE" => match self.objects.remove(&path) {
                Some(object) => (StatusCode::OK, object),
                None => status(404, "NotFound"),
            },
            "PATCH" if request.content_type.as_deref() == Some("application/json-patch+json") => {
                // The finalizer helper's add/remove: answer with the resource as patched.
                let mut cd = self.cd.clone();
                let adds = request
                    .body
                    .as_array()
                    .is_some_and(|ops| ops.iter().any(|op| op["op"] == "add"));
                cd.meta_mut().finalizers = adds.then(|| vec![FINALIZER.to_owned()]);
                (
                    StatusCode::OK,
                    serde_json::to_value(cd).expect("BUG: fixture"),
                )
            }
            "PATCH" if path.ends_with("/status") => {
                let mut cd = serde_json::to_value(&self.cd).expect("BUG: fixture");
                cd["status"] = request.body["status"].clone();
                (StatusCode::OK, cd)
            }
            "PATCH" => {
                let mut object = request.body.clone();
                object["metadata"]["generation"] = json!(1);
                let replicas = object["spec"]["replicas"].as_i64().unwrap_or(1);
                let up = if self.ready { replicas } else { 0 };
                match object["kind"].as_str() {
                    Some("Deployment") => {
                        object["status"] = json!({"observedGeneration": 1, "replicas": replicas, "availableReplicas": up, "updatedReplicas": up});
                    }
                    Some("StatefulSet") => {
                        object["status"] = json!({"observedGeneration": 1, "replicas": 1, "readyReplicas": if self.ready { 1 } else { 0 }})
                    }
                    _ => {}
                }
                self.objects.insert(path, object.clone());
                (StatusCode::OK, object)
            }
            _ => status(405, "MethodNotAllowed"),
        }
    }
}

impl crate::context::Context {
    /// A context whose client talks to a scripted fake API server.
    pub fn test() -> (Arc<Self>, ApiServerVerifier) {
        let (ctx, _, verifier) = Self::test_with_caches();
        (ctx, verifier)
    }

    /// `test`, with the write halves of its watch caches (to fill them as a watch would).
    pub fn test_with_caches() -> (
        Arc<Self>,
        crate::controller::CacheWriters,
        ApiServerVerifier,
    ) {
        let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
        let state = State::new(
            Settings {
                images: test_images(),
                otlp_endpoint: None,
                identity: "operator-0".to_owned(),
            },
            false,
        );
        let client = ClientBuilder::new(service, NAMESPACE)
            .with_layer(&state.client_layer())
            .build();
        let (ctx, writers) = state.to_context(client);
        (ctx, writers, ApiServerVerifier(handle))
    }
}

/// Runs `work` against a fake cluster and returns its result with every request it made. The
/// timeout only guards against a hung test; nothing asserts on time.
pub async fn against<T>(
    cd: &ChatDeployment,
    scenario: Scenario,
    work: impl AsyncFnOnce(Arc<crate::context::Context>) -> T,
) -> (T, Vec<Recorded>, Arc<crate::metrics::Metrics>) {
    against_with_caches(cd, scenario, async |ctx, _| work(ctx).await).await
}

/// `against`, with the write halves of the context's watch caches.
pub async fn against_with_caches<T>(
    cd: &ChatDeployment,
    scenario: Scenario,
    work: impl AsyncFnOnce(Arc<crate::context::Context>, crate::controller::CacheWriters) -> T,
) -> (T, Vec<Recorded>, Arc<crate::metrics::Metrics>) {
    let (ctx, writers, verifier) = crate::context::Context::test_with_caches();
    let metrics = ctx.metrics.clone();
    let server = verifier.run(cd.clone(), scenario);
    let result = work(ctx, writers).await;
    let recorded = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the fake API server did not finish: a client is still alive")
        .expect("the fake API server panicked");
    (result, recorded, metrics)
}
