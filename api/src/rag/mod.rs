//! Retrieval-augmented answers: the retriever over `corpus_chunks`, the model client (or the
//! extractive fallback), the prompt, and the per-user rate limit of `/agents/run`.

pub mod agent;
pub mod eval;
pub mod extractive;
pub mod llm;
pub mod markdown;
pub mod prompt;
pub mod rate_limit;
pub mod retriever;
mod settings;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::ingest::{IngestError, ingest};
use crate::store::Db;

pub use agent::AgentType;
pub use llm::{ChatMessage, LlmClient, LlmError};
pub use rate_limit::RateLimiter;
pub use retriever::{Hints, Retrieved, Retriever, Source};
pub use settings::{LlmSettings, RagSettings};

/// Everything `/agents/run` needs besides the database, shared through `ApiContext`.
pub struct Rag {
    pub retriever: Retriever,
    /// None: answers are extractive.
    pub llm: Option<LlmClient>,
    pub limiter: RateLimiter,
    pub max_query_chars: usize,
    pub history_messages: u32,
    corpus_dir: Option<PathBuf>,
    /// False until the start-up ingest of `RAG_CORPUS_DIR` has finished (true without one).
    corpus_ready: AtomicBool,
}

impl Rag {
    pub fn new(db: Db, settings: &RagSettings) -> Result<Self, reqwest::Error> {
        Ok(Self {
            retriever: Retriever::new(db, settings.top_k, settings.docs_base_url.clone()),
            llm: settings.llm.clone().map(LlmClient::new).transpose()?,
            limiter: RateLimiter::new(settings.rate_per_minute),
            max_query_chars: settings.max_query_chars,
            history_messages: settings.history_messages,
            corpus_ready: AtomicBool::new(settings.corpus_dir.is_none()),
            corpus_dir: settings.corpus_dir.clone(),
        })
    }

    pub fn corpus_ready(&self) -> bool {
        self.corpus_ready.load(Ordering::SeqCst)
    }

    /// Ingests `RAG_CORPUS_DIR` in the background; the service reports ready once it is done.
    /// A database that is not there yet is waited for; a directory without Markdown is a
    /// configuration error that leaves the service not ready, with the reason in the log.
    pub fn spawn_startup_ingest(self: Arc<Self>, db: Db) -> Option<tokio::task::JoinHandle<()>> {
        let dir = self.corpus_dir.clone()?;
        Some(tokio::spawn(async move {
            let mut wait = Duration::from_millis(250);
            loop {
                match ingest(&db, &dir).await {
                    Ok(report) => {
                        for (file, why) in &report.skipped {
                            tracing::warn!(file = %file, reason = %why, "corpus file skipped");
                        }
                        self.corpus_ready.store(true, Ordering::SeqCst);
                        return;
                    }
                    Err(IngestError::Database(e)) => {
                        tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "corpus ingest waits for the database");
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(10));
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "corpus ingest failed; the service stays not ready");
                        return;
                    }
                }
            }
        }))
    }
}
