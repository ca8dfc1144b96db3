//! Test helpers. `TestApp::builder()…spawn()` is the one way to start the application: the real
//! app on a random port, against a new, migrated PostgreSQL database of its own and a real local
//! auth endpoint (JWKS and get-session over HTTP); `TestApp` has a method per endpoint. Tests
//! without HTTP take a database from `databases` (empty or migrated) or `corpus` (ingested).

// Included by the test binary, benches/ and examples/bench_auth.rs, none of which uses every
// helper.
#![allow(dead_code)]

mod app;
mod auth_server;
mod corpus;
mod databases;
mod endpoints;
pub mod keys;
pub mod llm;
mod logs;
mod replies;

#[allow(unused_imports)]
pub use self::{
    app::{ALLOWED_ORIGIN, TestApp},
    auth_server::{AUDIENCE, AuthEndpoint, ISSUER, TestUser},
    corpus::{CorpusCopy, corpus_database, fixture_corpus_dir, question_set},
    databases::{admin_url, empty_database, migrated_database},
    endpoints::Auth,
    keys::{TestKey, TokenBuilder},
    logs::LogBuffer,
    replies::{Reply, SseEvent, parse_sse},
};
