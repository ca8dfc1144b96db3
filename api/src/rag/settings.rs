use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::base_url::join;

/// Retrieval, answers and `/agents/run` (DESIGN.md §2 step 5).
#[derive(Debug, Clone)]
pub struct RagSettings {
    /// Ingested at start-up when set.
    pub corpus_dir: Option<PathBuf>,
    pub top_k: u32,
    /// Prefix of source links: `DOCS_BASE_URL` + slug + `#anchor`. Empty: links are site-relative.
    pub docs_base_url: String,
    /// None: answers are extractive (composed from the passages, no model).
    pub llm: Option<LlmSettings>,
    /// `/agents/run` calls per user per minute (0 = unlimited).
    pub rate_per_minute: u32,
    pub max_query_chars: usize,
    /// Earlier messages of the conversation given to the model.
    pub history_messages: u32,
}

/// An OpenAI-compatible chat-completions endpoint.
#[derive(Debug, Clone)]
pub struct LlmSettings {
    /// Base URL, e.g. `https://api.openai.com/v1`; `/chat/completions` is appended.
    pub base_url: Url,
    pub model: String,
    pub api_key: Option<SecretString>,
    /// Time allowed for the model's response to start, and between two streamed chunks.
    pub timeout: Duration,
    /// Retries after a 429, a 5xx or a refused connection; never after a timeout.
    pub max_retries: u32,
    pub retry_base: Duration,
    pub max_tokens: u32,
}

impl LlmSettings {
    pub fn completions_url(&self) -> Url {
        join(&self.base_url, "chat/completions")
    }
}
