//! The ChatDeployment spec. Each CEL rule catches, at `kubectl apply` time, a mistake that would
//! otherwise surface later as a crash-looping pod; its message says how to fix it.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{ChatDeploymentStatus, DatabaseSpec, defaults};

/// A Better Auth server, the chat API and their PostgreSQL database, wired together.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "chatplane.dev",
    version = "v1alpha1",
    kind = "ChatDeployment",
    namespaced,
    status = "ChatDeploymentStatus",
    shortname = "chat",
    category = "chatplane",
    derive = "PartialEq",
    doc = "An authenticated RAG chatbot: a Better Auth server, the chat API and PostgreSQL.",
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Endpoint", type_ = "string", json_path = ".status.endpoints.public"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    cel,
    // Child names append up to 18 characters ("-postgres-headless") and must stay DNS labels.
    validation = Rule::new("size(self.metadata.name) <= 40")
        .message("metadata.name must be at most 40 characters: the operator derives child names from it")
)]
#[x_kube(
    validation = Rule::new("!has(self.ingress) || url(self.publicUrl).getHostname() == self.ingress.host")
        .message("ingress.host must be the host of publicUrl"),
    validation = Rule::new("!has(self.ingress) || !has(self.ingress.tls) || self.publicUrl.startsWith('https://')")
        .message("publicUrl must use https:// when ingress.tls is set")
)]
#[serde(rename_all = "camelCase")]
pub struct ChatDeploymentSpec {
    /// The origin users reach the chat on, e.g. `https://chat.example.com` (no path). It becomes
    /// Better Auth's base URL and the JWT issuer and audience.
    #[x_kube(
        validation = Rule::new("self.matches('^https?://[a-zA-Z0-9.-]+(:[0-9]{1,5})?$')")
            .message("publicUrl must be an http(s) origin such as https://chat.example.com, without path or trailing slash")
    )]
    #[schemars(length(max = 253))]
    pub public_url: String,

    /// Browser origins allowed to call the auth server and the API with credentials.
    #[serde(default)]
    pub cors: CorsSpec,

    /// The chat API.
    #[serde(default)]
    pub api: ApiSpec,

    /// The Better Auth server.
    #[serde(default)]
    pub auth: AuthSpec,

    /// Exactly one of `managed` (the default) or `external`.
    #[serde(default = "defaults::database")]
    pub database: DatabaseSpec,

    /// Retrieval and answer generation.
    #[serde(default)]
    pub rag: RagSpec,

    /// An optional Ingress: `/api/auth` to the auth server, everything else to the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressSpec>,

    /// Who may scrape the API's metrics port (9090, `/metrics` only; the API port and the Ingress
    /// do not serve it): pods matching `podLabels` in namespaces matching `namespaceLabels`, as a
    /// NetworkPolicy peer selects them. Only `podLabels`: those pods of this namespace; only
    /// `namespaceLabels`: every pod of those namespaces; an empty map matches everything. When
    /// unset: pods of this namespace labelled `chatplane.dev/monitoring: "true"`. Prometheus in
    /// namespace `monitoring`: `namespaceLabels: {kubernetes.io/metadata.name: monitoring}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<MonitoringSpec>,
}

/// The pods allowed to reach the API's metrics port: one NetworkPolicy peer (see
/// `ChatDeploymentSpec::monitoring`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.namespaceLabels) || has(self.podLabels)")
        .message(MonitoringSpec::NO_PEER)
)]
pub struct MonitoringSpec {
    /// Labels of the namespaces the scraper runs in; unset: the ChatDeployment's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_labels: Option<BTreeMap<String, String>>,
    /// Labels of the scraper's pods; unset: every pod of the selected namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_labels: Option<BTreeMap<String, String>>,
}

impl MonitoringSpec {
    /// The CEL rule's message, and the operator's for a resource that skipped admission.
    pub const NO_PEER: &str = "monitoring: set namespaceLabels, podLabels or both";

    /// What the CEL rule requires; a resource that skipped admission (e.g. in `render`) without
    /// it must not get an empty peer, which would open the port to the whole namespace.
    pub fn names_a_peer(&self) -> bool {
        self.namespace_labels.is_some() || self.pod_labels.is_some()
    }
}

/// Browser origins for CORS and Better Auth's trusted origins.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CorsSpec {
    /// Exact origins (`scheme://host[:port]`), e.g. the docs site that embeds the widget. The
    /// public URL is always allowed. No wildcard: credentials are sent.
    #[serde(default)]
    #[schemars(schema_with = "origin_list_schema")]
    pub allowed_origins: Vec<String>,
}

/// A list of origins; the rules sit on each item so the error names the bad entry.
fn origin_list_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "maxItems": 32,
        "default": [],
        "items": {
            "type": "string",
            "maxLength": 253,
            "x-kubernetes-validations": [
                {
                    "rule": "!self.contains('*')",
                    "message": "a CORS origin must not contain '*': list each origin exactly"
                },
                {
                    "rule": "self.matches('^https?://[a-zA-Z0-9.-]+(:[0-9]{1,5})?$')",
                    "message": "a CORS origin is scheme://host[:port], without path or trailing slash"
                }
            ]
        }
    })
}

/// The chat API workload.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiSpec {
    /// Container image; the operator's `--api-image` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Pod count; 0 stops the API without deleting anything.
    #[serde(default = "defaults::replicas")]
    #[x_kube(validation = Rule::new("self >= 0").message("api.replicas must be 0 or more"))]
    pub replicas: i32,
    /// CPU and memory; sensible requests and limits when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceSpec>,
}

impl Default for ApiSpec {
    fn default() -> Self {
        Self {
            image: None,
            replicas: defaults::replicas(),
            resources: None,
        }
    }
}

/// The Better Auth workload.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthSpec {
    /// Container image; the operator's `--auth-image` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Pod count; 0 stops sign-in without deleting anything.
    #[serde(default = "defaults::replicas")]
    #[x_kube(validation = Rule::new("self >= 0").message("auth.replicas must be 0 or more"))]
    pub replicas: i32,
    /// CPU and memory; sensible requests and limits when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceSpec>,
    /// A Secret key holding BETTER_AUTH_SECRET. When unset the operator generates one once and
    /// keeps it: changing it makes Better Auth's stored keys undecryptable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeyRef>,
    /// JSON Web Tokens issued to the browser for the API.
    #[serde(default)]
    pub jwt: JwtSpec,
}

impl Default for AuthSpec {
    fn default() -> Self {
        Self {
            image: None,
            replicas: defaults::replicas(),
            resources: None,
            secret_ref: None,
            jwt: JwtSpec::default(),
        }
    }
}

/// Token settings of the auth server.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct JwtSpec {
    /// Token lifetime as a number and a unit (s, m, h, d), e.g. `15m`.
    #[serde(default = "defaults::jwt_expires_in")]
    #[x_kube(
        validation = Rule::new("self.matches('^[1-9][0-9]{0,5}[smhd]$')")
            .message("auth.jwt.expiresIn must be a number and a unit (s, m, h, d), e.g. 15m")
    )]
    #[schemars(length(max = 8))]
    pub expires_in: String,
}

impl Default for JwtSpec {
    fn default() -> Self {
        Self {
            expires_in: defaults::jwt_expires_in(),
        }
    }
}

/// Retrieval and answer generation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RagSpec {
    /// Passages retrieved per question, 1 to 20.
    #[serde(default = "defaults::top_k")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 20").message("rag.topK must be between 1 and 20"))]
    pub top_k: i32,
    /// Base URL that source links in answers point to, e.g. `https://docs.example.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("isURL(self) && self.matches('^https?://')").message("rag.docsBaseUrl must be an http(s) URL"))]
    #[schemars(length(max = 2048))]
    pub docs_base_url: Option<String>,
    /// The documentation corpus; without one the API answers from what is already ingested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corpus: Option<CorpusSpec>,
    /// An OpenAI-compatible model; without one answers are composed from the passages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmSpec>,
}

impl Default for RagSpec {
    fn default() -> Self {
        Self {
            top_k: defaults::top_k(),
            docs_base_url: None,
            corpus: None,
            llm: None,
        }
    }
}

/// Where the corpus comes from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CorpusSpec {
    /// A ConfigMap whose keys are Markdown files, mounted read-only as the corpus directory.
    pub config_map_ref: ConfigMapRef,
}

/// An OpenAI-compatible chat completion endpoint.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct LlmSpec {
    /// e.g. `https://api.openai.com/v1`.
    #[x_kube(validation = Rule::new("isURL(self) && self.matches('^https?://')").message("rag.llm.baseUrl must be an http(s) URL"))]
    #[schemars(length(max = 2048))]
    pub base_url: String,
    /// Model name passed to the endpoint.
    #[schemars(length(min = 1, max = 253))]
    pub model: String,
    /// The API key; omit for endpoints that need none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_secret_ref: Option<SecretKeyRef>,
}

/// Ingress in front of both services.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressSpec {
    /// IngressClass name; the cluster default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
    /// Host name, the host of `publicUrl`.
    #[schemars(length(min = 1, max = 253))]
    pub host: String,
    /// TLS termination with a certificate from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<IngressTls>,
}

/// A TLS certificate for the Ingress.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressTls {
    /// A `kubernetes.io/tls` Secret in the same namespace (e.g. issued by cert-manager).
    #[schemars(length(min = 1, max = 253))]
    pub secret_name: String,
}

/// One key of a Secret in the ChatDeployment's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Secret name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key inside the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// A ConfigMap in the ChatDeployment's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapRef {
    /// ConfigMap name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// Requests and limits of one container.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceSpec {
    /// What the scheduler reserves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<ResourceAmounts>,
    /// The ceiling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<ResourceAmounts>,
}

/// CPU and memory as Kubernetes quantities (`250m`, `512Mi`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceAmounts {
    /// e.g. `250m` or `1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("isQuantity(self)").message("cpu must be a quantity such as 250m or 1"))]
    #[schemars(length(max = 32))]
    pub cpu: Option<String>,
    /// e.g. `256Mi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("isQuantity(self)").message("memory must be a quantity such as 256Mi"))]
    #[schemars(length(max = 32))]
    pub memory: Option<String>,
}
