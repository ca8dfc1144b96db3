//! What every handler shares, built once by `startup` (no globals).

use std::sync::Arc;

use crate::auth::{Authenticator, JwksCache};
use crate::config::Limits;
use crate::metrics::Metrics;
use crate::rag::Rag;
use crate::store::Db;

#[derive(Clone)]
pub struct ApiContext {
    pub db: Db,
    pub auth: Arc<Authenticator>,
    pub jwks: Arc<JwksCache>,
    pub metrics: Arc<Metrics>,
    pub limits: Limits,
    pub rag: Arc<Rag>,
    pub search_gate: Arc<crate::routes::SearchGate>,
}
