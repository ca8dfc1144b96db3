//! Names of the objects a ChatDeployment owns, derived from its name. The CRD caps the name at 40
//! characters so the longest (`-postgres-headless`) stays a DNS label.

/// Child object names and in-cluster addresses for one ChatDeployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    pub instance: String,
    pub namespace: String,
}

/// Database and role names inside the managed PostgreSQL (DESIGN §4: one each for auth and API).
pub const AUTH_DATABASE: &str = "chatplane_auth";
pub const API_DATABASE: &str = "chatplane_api";
pub const AUTH_PORT: i32 = 3000;
pub const API_PORT: i32 = 8080;
/// The API's second listener (`METRICS_ADDR`): `/metrics` only, open to the monitoring peer of
/// `spec.monitoring` alone; the Ingress and every other client get the API port.
pub const API_METRICS_PORT: i32 = 9090;
/// Container and Service port names: probes and the Ingress use `http`, scrapers select `metrics`.
pub const HTTP_PORT_NAME: &str = "http";
pub const METRICS_PORT_NAME: &str = "metrics";
pub const POSTGRES_PORT: i32 = 5432;

impl Names {
    pub fn new(instance: &str, namespace: &str) -> Self {
        Self {
            instance: instance.to_owned(),
            namespace: namespace.to_owned(),
        }
    }

    pub fn api(&self) -> String {
        format!("{}-api", self.instance)
    }

    pub fn auth(&self) -> String {
        format!("{}-auth", self.instance)
    }

    /// The API pods' NetworkPolicy (the API port open, the metrics port to the monitoring peer).
    pub fn api_network_policy(&self) -> String {
        self.api()
    }

    pub fn postgres(&self) -> String {
        format!("{}-postgres", self.instance)
    }

    pub fn postgres_headless(&self) -> String {
        format!("{}-postgres-headless", self.instance)
    }

    pub fn postgres_init(&self) -> String {
        format!("{}-postgres-init", self.instance)
    }

    /// Generated: BETTER_AUTH_SECRET.
    pub fn auth_secret(&self) -> String {
        format!("{}-auth-secret", self.instance)
    }

    /// Generated: the PostgreSQL passwords and the two connection URLs.
    pub fn database_secret(&self) -> String {
        format!("{}-database", self.instance)
    }

    /// The auth server as the API reaches it (JWKS, get-session).
    pub fn auth_url(&self) -> String {
        format!("http://{}.{}.svc:{AUTH_PORT}", self.auth(), self.namespace)
    }

    pub fn api_url(&self) -> String {
        format!("http://{}.{}.svc:{API_PORT}", self.api(), self.namespace)
    }

    pub fn postgres_host(&self) -> String {
        format!("{}.{}.svc", self.postgres(), self.namespace)
    }
}
