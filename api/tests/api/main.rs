//! All integration tests build into this one binary (one link step).

mod agents;
mod auth;
mod bad_input;
mod cli;
mod columns;
mod common;
mod connections;
mod conversations;
mod headers;
mod health;
mod hostile_tokens;
mod idempotency;
mod ingest;
mod isolation;
mod messages;
mod pool;
mod retrieval;
mod search_bounds;
mod telemetry;
mod web;
