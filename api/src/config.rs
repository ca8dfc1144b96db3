//! Typed settings, read once from the environment (DESIGN.md §7). Each module owns its settings
//! type (`auth::AuthSettings`, `rag::RagSettings`); this file reads the variables into them.
//!
//! Every variable is checked before start-up goes on; all problems are gathered into one
//! [`ConfigError`] so an operator fixes them in one pass instead of one crash at a time.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::auth::AuthSettings;
use crate::rag::{LlmSettings, RagSettings};

/// Everything the service needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub http: HttpSettings,
    pub limits: Limits,
    pub rag: RagSettings,
    pub log_dir: Option<PathBuf>,
    pub otlp_endpoint: Option<String>,
    /// The web UI served at `/` (`WEB_DIR`); `None` without it.
    pub web: Option<crate::routes::WebSettings>,
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub max_connections: u32,
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub listen_addr: SocketAddr,
    /// Where `/metrics` is served: never on the API port, whose clients (and attackers) must not
    /// learn why tokens are refused (issue 13, item 8).
    pub metrics_addr: SocketAddr,
    /// Exact origins allowed by CORS (`scheme://host[:port]`).
    pub cors_allowed_origins: Vec<String>,
    pub shutdown_grace: Duration,
    pub connections: crate::server::ConnectionLimits,
}

/// Input limits; each is an environment variable so a deployment can tune it.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_body_bytes: u64,
    pub max_title_chars: usize,
    pub max_message_chars: usize,
    pub default_page_size: u32,
    pub max_page_size: u32,
    pub max_search_chars: usize,
    /// The longest a request body may take to arrive; a slower one is a 408.
    pub body_timeout: Duration,
    /// The longest one `/search` statement may run (503 beyond).
    pub search_statement_timeout: Duration,
    /// Searches of one user at a time (429 beyond).
    pub search_concurrency_per_user: usize,
    /// Messages one conversation may hold (409 beyond).
    pub max_messages_per_conversation: i32,
    /// How long an `Idempotency-Key` is remembered.
    pub idempotency_ttl: Duration,
    /// How long an `/agents/run` holding a key may take before a retry with that key may take
    /// it over (resuming from the stored question).
    pub idempotency_in_flight: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 256 * 1024,
            max_title_chars: 200,
            max_message_chars: 32_000,
            default_page_size: 50,
            max_page_size: 100,
            max_search_chars: 200,
            body_timeout: Duration::from_secs(30),
            search_statement_timeout: Duration::from_millis(2_000),
            search_concurrency_per_user: 2,
            max_messages_per_conversation: 10_000,
            idempotency_ttl: Duration::from_secs(24 * 3600),
            idempotency_in_flight: Duration::from_secs(300),
        }
    }
}

/// One message that names every missing or malformed variable.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<(String, String)>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: ")?;
        for (i, (var, why)) in self.problems.iter().enumerate() {
            if i > 0 {
                write!(f, "; ")?;
            }
            write!(f, "{var} {why}")?;
        }
        Ok(())
    }
}

/// Reads variables through `lookup` and records what is wrong with each.
struct Reader<F> {
    lookup: F,
    problems: Vec<(String, String)>,
}

impl<F: Fn(&str) -> Option<String>> Reader<F> {
    fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    fn fail(&mut self, name: &str, why: impl Into<String>) {
        self.problems.push((name.to_owned(), why.into()));
    }

    fn required(&mut self, name: &str) -> Option<String> {
        let value = self.get(name);
        if value.is_none() {
            self.fail(name, "is required but not set");
        }
        value
    }

    fn parsed<T: FromStr>(&mut self, name: &str, default: T, valid: impl Fn(&T) -> bool) -> T {
        match self.get(name) {
            None => default,
            Some(raw) => match raw.trim().parse::<T>() {
                Ok(v) if valid(&v) => v,
                _ => {
                    self.fail(name, format!("has an invalid value {raw:?}"));
                    default
                }
            },
        }
    }

    fn secs(&mut self, name: &str, default: u64, range: std::ops::RangeInclusive<u64>) -> Duration {
        let v = self.parsed(name, default, |v| range.contains(v));
        Duration::from_secs(v)
    }

    fn database(&mut self) -> Option<DatabaseSettings> {
        let url = self.required("DATABASE_URL");
        if let Some(url) = &url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            self.fail("DATABASE_URL", "must be a postgres:// URL");
        }
        let max_connections =
            self.parsed("DATABASE_MAX_CONNECTIONS", 10u32, |v| (1..=200).contains(v));
        url.map(|url| DatabaseSettings {
            url: SecretString::from(url),
            max_connections,
        })
    }

    fn url(&mut self, name: &str) -> Option<Url> {
        let raw = self.required(name)?;
        self.check_url(name, &raw)
    }

    fn check_url(&mut self, name: &str, raw: &str) -> Option<Url> {
        match Url::parse(raw.trim()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Some(u),
            _ => {
                self.fail(name, "must be an http(s) URL");
                None
            }
        }
    }
}

impl<F: Fn(&str) -> Option<String>> Reader<F> {
    fn rag(&mut self) -> RagSettings {
        let corpus_dir = self.get("RAG_CORPUS_DIR").map(PathBuf::from);
        let top_k = self.parsed("RAG_TOP_K", 3u32, |v| (1..=20).contains(v));
        let docs_base_url = match self.get("DOCS_BASE_URL") {
            None => String::new(),
            Some(raw) => self
                .check_url("DOCS_BASE_URL", &raw)
                .map(|u| u.as_str().trim_end_matches('/').to_owned())
                .unwrap_or_default(),
        };
        let rate_per_minute = self.parsed("AGENTS_RATE_PER_MINUTE", 20u32, |v| *v <= 100_000);
        let max_query_chars = self.parsed("RAG_MAX_QUERY_CHARS", 4_000usize, |v| {
            (1..=100_000).contains(v)
        });
        let history_messages = self.parsed("LLM_HISTORY_MESSAGES", 6u32, |v| *v <= 50);
        let llm = self.llm();
        RagSettings {
            corpus_dir,
            top_k,
            docs_base_url,
            llm,
            rate_per_minute,
            max_query_chars,
            history_messages,
        }
    }

    /// The model is optional, but half a configuration is a mistake worth stopping for.
    fn llm(&mut self) -> Option<LlmSettings> {
        let base = self.get("LLM_BASE_URL");
        let model = self.get("LLM_MODEL");
        let api_key = self.get("LLM_API_KEY").map(SecretString::from);
        let timeout = self.secs("LLM_TIMEOUT_SECS", 60, 1..=600);
        let max_retries = self.parsed("LLM_MAX_RETRIES", 2u32, |v| *v <= 10);
        let retry_base = Duration::from_millis(
            self.parsed("LLM_RETRY_BASE_MS", 500u64, |v| (1..=60_000).contains(v)),
        );
        let max_tokens = self.parsed("LLM_MAX_TOKENS", 1_024u32, |v| (1..=100_000).contains(v));
        match (base, model) {
            (None, None) => {
                if api_key.is_some() {
                    self.fail(
                        "LLM_API_KEY",
                        "is set but LLM_BASE_URL and LLM_MODEL are not",
                    );
                }
                None
            }
            (Some(base), Some(model)) => Some(LlmSettings {
                base_url: self.check_url("LLM_BASE_URL", &base)?,
                model: model.trim().to_owned(),
                api_key,
                timeout,
                max_retries,
                retry_base,
                max_tokens,
            }),
            (Some(_), None) => {
                self.fail("LLM_MODEL", "is required when LLM_BASE_URL is set");
                None
            }
            (None, Some(_)) => {
                self.fail("LLM_BASE_URL", "is required when LLM_MODEL is set");
                None
            }
        }
    }
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Only what `migrate` needs.
    pub fn database_from_env() -> Result<DatabaseSettings, ConfigError> {
        let mut r = Reader {
            lookup: |name: &str| std::env::var(name).ok(),
            problems: Vec::new(),
        };
        let db = r.database();
        match db {
            Some(db) if r.problems.is_empty() => Ok(db),
            _ => Err(ConfigError {
                problems: r.problems,
            }),
        }
    }

    /// Builds settings from any variable source (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = Reader {
            lookup,
            problems: Vec::new(),
        };
        let database = r.database();

        let auth_url = r.url("AUTH_URL");
        let issuer = r.required("AUTH_ISSUER");
        let audience = r.required("AUTH_AUDIENCE");
        // Better Auth's tokens live 15 minutes; a leeway beyond 30 s would stretch that noticeably.
        let leeway = r.secs("AUTH_LEEWAY_SECS", 5, 0..=30);
        let jwks_refresh = r.secs("JWKS_REFRESH_SECS", 300, 1..=86_400);
        let jwks_min_refetch = r.secs("JWKS_MIN_REFETCH_SECS", 10, 0..=3_600);
        let session_cache_ttl = r.secs("SESSION_CACHE_TTL_SECS", 60, 0..=60);
        let session_refusal_ttl = r.secs("SESSION_REFUSAL_TTL_SECS", 10, 0..=300);
        let session_check_concurrency = r.parsed("SESSION_CHECK_CONCURRENCY", 32usize, |v| {
            (1..=10_000).contains(v)
        });
        let upstream_timeout = r.secs("AUTH_TIMEOUT_SECS", 5, 1..=60);

        let listen_addr = r.parsed(
            "LISTEN_ADDR",
            SocketAddr::from(([0, 0, 0, 0], 8080)),
            |_| true,
        );
        let metrics_addr = r.parsed(
            "METRICS_ADDR",
            SocketAddr::from(([0, 0, 0, 0], 9090)),
            |_| true,
        );
        if metrics_addr.port() != 0 && metrics_addr.port() == listen_addr.port() {
            r.fail(
                "METRICS_ADDR",
                "must use another port than LISTEN_ADDR: metrics stay off the API port",
            );
        }
        let cors_allowed_origins = match r.get("CORS_ALLOWED_ORIGINS") {
            None => Vec::new(),
            Some(raw) => match parse_origins(&raw) {
                Ok(list) => list,
                Err(why) => {
                    r.fail("CORS_ALLOWED_ORIGINS", why);
                    Vec::new()
                }
            },
        };
        let shutdown_grace = r.secs("SHUTDOWN_GRACE_SECS", 25, 0..=3_600);
        let c = crate::server::ConnectionLimits::default();
        let connections = crate::server::ConnectionLimits {
            header_read_timeout: r.secs(
                "HTTP_HEADER_READ_TIMEOUT_SECS",
                c.header_read_timeout.as_secs(),
                1..=3_600,
            ),
            idle_timeout: r.secs(
                "HTTP_IDLE_TIMEOUT_SECS",
                c.idle_timeout.as_secs(),
                1..=3_600,
            ),
            max_connections: r.parsed("HTTP_MAX_CONNECTIONS", c.max_connections, |v| {
                (1..=1_000_000).contains(v)
            }),
            linger: crate::server::Linger {
                time: r.secs("HTTP_LINGER_SECS", c.linger.time.as_secs(), 0..=60),
                bytes: r.parsed("HTTP_LINGER_MAX_BYTES", c.linger.bytes, |v| {
                    *v <= 1024 * 1024 * 1024
                }),
            },
        };

        let d = Limits::default();
        let limits = Limits {
            max_body_bytes: r.parsed("MAX_BODY_BYTES", d.max_body_bytes, |v| {
                (1024..=16 * 1024 * 1024).contains(v)
            }),
            max_title_chars: r.parsed("MAX_TITLE_CHARS", d.max_title_chars, |v| {
                (1..=10_000).contains(v)
            }),
            max_message_chars: r.parsed("MAX_MESSAGE_CHARS", d.max_message_chars, |v| {
                (1..=1_000_000).contains(v)
            }),
            default_page_size: r.parsed("DEFAULT_PAGE_SIZE", d.default_page_size, |v| {
                (1..=1000).contains(v)
            }),
            max_page_size: r.parsed("MAX_PAGE_SIZE", d.max_page_size, |v| (1..=1000).contains(v)),
            max_search_chars: d.max_search_chars,
            body_timeout: r.secs(
                "HTTP_BODY_TIMEOUT_SECS",
                d.body_timeout.as_secs(),
                1..=3_600,
            ),
            search_statement_timeout: Duration::from_millis(r.parsed(
                "SEARCH_STATEMENT_TIMEOUT_MS",
                d.search_statement_timeout.as_millis() as u64,
                |v| (1..=600_000).contains(v),
            )),
            search_concurrency_per_user: r.parsed(
                "SEARCH_CONCURRENCY_PER_USER",
                d.search_concurrency_per_user,
                |v| (1..=1_000).contains(v),
            ),
            max_messages_per_conversation: r.parsed(
                "MAX_MESSAGES_PER_CONVERSATION",
                d.max_messages_per_conversation,
                |v| (2..=100_000_000).contains(v),
            ),
            idempotency_ttl: r.secs(
                "IDEMPOTENCY_KEY_TTL_SECS",
                d.idempotency_ttl.as_secs(),
                60..=30 * 24 * 3600,
            ),
            idempotency_in_flight: r.secs(
                "IDEMPOTENCY_IN_FLIGHT_SECS",
                d.idempotency_in_flight.as_secs(),
                1..=3_600,
            ),
        };
        if limits.idempotency_in_flight >= limits.idempotency_ttl {
            r.fail(
                "IDEMPOTENCY_IN_FLIGHT_SECS",
                "must be less than IDEMPOTENCY_KEY_TTL_SECS",
            );
        }
        if limits.default_page_size > limits.max_page_size {
            r.fail("DEFAULT_PAGE_SIZE", "must not exceed MAX_PAGE_SIZE");
        }
        let rag = r.rag();
        let log_dir = r.get("LOG_DIR").map(PathBuf::from);
        let otlp_endpoint = r.get("OTEL_EXPORTER_OTLP_ENDPOINT");
        let web = crate::routes::WebSettings::from_lookup(|n| r.get(n), auth_url.as_ref())
            .unwrap_or_else(|problems| {
                for (name, why) in problems {
                    r.fail(&name, why);
                }
                None
            });

        match (database, auth_url, issuer, audience) {
            (Some(database), Some(url), Some(issuer), Some(audience)) if r.problems.is_empty() => {
                Ok(Settings {
                    database,
                    auth: AuthSettings {
                        url,
                        issuer,
                        audience,
                        leeway,
                        jwks_refresh,
                        jwks_min_refetch,
                        session_cache_ttl,
                        session_refusal_ttl,
                        session_check_concurrency,
                        upstream_timeout,
                        max_token_bytes: AuthSettings::DEFAULT_MAX_TOKEN_BYTES,
                    },
                    http: HttpSettings {
                        listen_addr,
                        metrics_addr,
                        cors_allowed_origins,
                        shutdown_grace,
                        connections,
                    },
                    limits,
                    rag,
                    log_dir,
                    otlp_endpoint,
                    web,
                })
            }
            _ => Err(ConfigError {
                problems: r.problems,
            }),
        }
    }
}

/// Parses a comma list of exact origins. `*`, paths, queries and non-http schemes are refused:
/// browsers compare origins byte for byte, and a wildcard with credentials is a hole.
pub fn parse_origins(raw: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if item == "*" || item.contains('*') {
            return Err("must list exact origins; \"*\" is not allowed".into());
        }
        let url = Url::parse(item).map_err(|_| format!("has an invalid origin {item:?}"))?;
        let only_origin = matches!(url.scheme(), "http" | "https")
            && url.has_host()
            && url.path() == "/"
            && url.query().is_none()
            && url.fragment().is_none()
            && url.username().is_empty();
        if !only_origin {
            return Err(format!(
                "has {item:?}, which is not an origin (scheme://host[:port])"
            ));
        }
        out.push(url.origin().ascii_serialization());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    const VALID: &[(&str, &str)] = &[
        ("DATABASE_URL", "postgres://u@localhost/db"),
        ("AUTH_URL", "http://127.0.0.1:3000"),
        ("AUTH_ISSUER", "http://localhost:3000"),
        ("AUTH_AUDIENCE", "http://localhost:3000"),
    ];

    #[test]
    fn a_complete_environment_parses_with_defaults() {
        let s = settings(VALID).expect("valid settings");
        assert_eq!(s.http.listen_addr.port(), 8080);
        assert_eq!(s.http.metrics_addr.port(), 9090);
        assert_eq!(s.auth.leeway, Duration::from_secs(5));
        assert_eq!(
            s.auth.jwks_url().as_str(),
            "http://127.0.0.1:3000/api/auth/jwks"
        );
    }

    #[test]
    fn metrics_may_not_share_the_api_port() {
        let mut vars = VALID.to_vec();
        vars.push(("LISTEN_ADDR", "0.0.0.0:8080"));
        vars.push(("METRICS_ADDR", "127.0.0.1:8080"));
        let err = settings(&vars).expect_err("same port refused");
        assert!(err.to_string().contains("METRICS_ADDR"), "{err}");
        vars.pop();
        vars.push(("METRICS_ADDR", "127.0.0.1:0"));
        settings(&vars).expect("a free port is another port");
    }

    #[test]
    fn every_bad_variable_is_named_in_one_error() {
        let err = settings(&[
            ("AUTH_URL", "not a url"),
            ("AUTH_LEEWAY_SECS", "120"),
            ("CORS_ALLOWED_ORIGINS", "*"),
        ])
        .expect_err("invalid settings");
        let text = err.to_string();
        for var in [
            "DATABASE_URL",
            "AUTH_URL",
            "AUTH_ISSUER",
            "AUTH_AUDIENCE",
            "AUTH_LEEWAY_SECS",
            "CORS_ALLOWED_ORIGINS",
        ] {
            assert!(text.contains(var), "{var} missing from {text}");
        }
    }

    #[test]
    fn rag_defaults_to_top_3_and_extractive_answers() {
        let s = settings(VALID).expect("valid settings");
        assert_eq!(s.rag.top_k, 3);
        assert!(s.rag.llm.is_none());
        assert!(s.rag.corpus_dir.is_none());
        assert_eq!(s.rag.docs_base_url, "");
    }

    #[test]
    fn a_complete_llm_configuration_parses() {
        let mut vars = VALID.to_vec();
        vars.extend([
            ("LLM_BASE_URL", "http://127.0.0.1:9/v1/"),
            ("LLM_MODEL", "gpt-test"),
            ("LLM_API_KEY", "sk-secret"),
            ("DOCS_BASE_URL", "https://docs.example/book/"),
            ("RAG_TOP_K", "5"),
        ]);
        let s = settings(&vars).expect("valid settings");
        let llm = s.rag.llm.expect("llm configured");
        assert_eq!(
            llm.completions_url().as_str(),
            "http://127.0.0.1:9/v1/chat/completions"
        );
        assert!(
            !format!("{llm:?}").contains("sk-secret"),
            "key leaks in Debug"
        );
        assert_eq!(s.rag.docs_base_url, "https://docs.example/book");
        assert_eq!(s.rag.top_k, 5);
    }

    #[test]
    fn bad_rag_variables_are_all_named() {
        let mut vars = VALID.to_vec();
        vars.extend([
            ("RAG_TOP_K", "21"),
            ("LLM_BASE_URL", "not a url"),
            ("DOCS_BASE_URL", "ftp://x"),
            ("LLM_TIMEOUT_SECS", "0"),
        ]);
        let text = settings(&vars).expect_err("invalid").to_string();
        for var in [
            "RAG_TOP_K",
            "LLM_MODEL",
            "DOCS_BASE_URL",
            "LLM_TIMEOUT_SECS",
        ] {
            assert!(text.contains(var), "{var} missing from {text}");
        }
        let mut vars = VALID.to_vec();
        vars.extend([("LLM_MODEL", "m"), ("RAG_TOP_K", "0")]);
        let text = settings(&vars).expect_err("invalid").to_string();
        assert!(
            text.contains("LLM_BASE_URL") && text.contains("RAG_TOP_K"),
            "{text}"
        );
    }

    #[test]
    fn origins_must_be_exact() {
        assert_eq!(
            parse_origins("https://a.example, http://localhost:5173").expect("valid"),
            vec!["https://a.example", "http://localhost:5173"]
        );
        for bad in [
            "*",
            "https://*.example",
            "https://a.example/path",
            "ftp://a.example",
            "a.example",
            "https://a.example?x=1",
        ] {
            assert!(parse_origins(bad).is_err(), "{bad} should be refused");
        }
    }
}
