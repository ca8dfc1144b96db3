//! chatplane-api: the chat history service.

/// Verifying callers: JWKS cache, JWT and session-token checks, user sync.
pub mod auth;
/// Joining paths onto configured base URLs.
pub mod base_url;
/// The use cases: starting a conversation, answering a turn of `/agents/run`.
pub mod chat;
/// Settings read from the environment, validated once.
pub mod config;
/// The shared handler context.
pub mod context;
/// Domain values parsed at the boundary.
pub mod domain;
/// `ApiError` and the problem+json rendering.
pub mod error;
/// The properties the fuzz targets check (`fuzz/`), replayed by the tests.
#[doc(hidden)]
pub mod fuzzing;
/// Corpus ingestion (`chatplane-api ingest <dir>`, and at start-up).
pub mod ingest;
/// Log lines written in batches by one thread.
pub mod log_buffer;
/// Prometheus metrics.
pub mod metrics;
/// Retrieval, the model client, extractive answers.
pub mod rag;
/// The HTTP routes.
pub mod routes;
/// The HTTP server loop: request ids, access log, metrics, graceful stop.
pub mod server;
/// Building and running the application.
pub mod startup;
/// SQL, scoped by the caller.
pub mod store;
/// Logs and traces.
pub mod telemetry;

/// The package's directory, for unit tests that read its files: read when the test runs (cargo
/// sets it), as `env!`'s value is the directory of the checkout that built the binary, which cargo
/// reuses unchanged for a checkout elsewhere.
#[cfg(test)]
fn manifest_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo test"))
}
