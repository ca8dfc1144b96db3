//! An OpenAI-compatible chat-completions client: one answer, or a stream of deltas.
//!
//! A 429, a 5xx or a refused connection is retried (bounded, with exponential backoff, honouring
//! `Retry-After` up to a cap) before any byte of the answer arrived; a timeout is not retried,
//! because the caller is already waiting as long as it was told to.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::{Value, json};

use super::LlmSettings;

/// The longest wait between two attempts, whatever `Retry-After` asks for.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ChatMessage {
    pub role: &'static str,
    pub content: String,
}

impl ChatMessage {
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: "system",
            content: content.into(),
        }
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: "user",
            content: content.into(),
        }
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: "assistant",
            content: content.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    #[error("the model did not answer in time")]
    Timeout,
    #[error("the model endpoint answered HTTP {0}")]
    Status(u16),
    #[error("the model endpoint could not be reached: {0}")]
    Transport(String),
    #[error("the model's answer could not be read: {0}")]
    Malformed(String),
}

impl LlmError {
    pub fn is_timeout(&self) -> bool {
        matches!(self, LlmError::Timeout)
    }
}

pub struct LlmClient {
    http: reqwest::Client,
    settings: LlmSettings,
}

impl LlmClient {
    pub fn new(settings: LlmSettings) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            .build()?;
        Ok(Self { http, settings })
    }

    /// One whole answer.
    #[tracing::instrument(name = "Asking the model", skip_all, fields(model = %self.settings.model))]
    pub async fn complete(&self, messages: &[ChatMessage]) -> Result<String, LlmError> {
        let res = self.send(messages, false).await?;
        let body: Value = tokio::time::timeout(self.settings.timeout, res.json())
            .await
            .map_err(|_| LlmError::Timeout)?
            .map_err(|e| LlmError::Malformed(e.to_string()))?;
        body.pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| LlmError::Malformed("no choices[0].message.content".into()))
    }

    /// Starts a streamed answer: resolves once the endpoint accepted the request (so a refusal
    /// is still an HTTP error for the caller), then yields the text as it arrives.
    #[tracing::instrument(name = "Streaming from the model", skip_all, fields(model = %self.settings.model))]
    pub async fn stream(&self, messages: &[ChatMessage]) -> Result<DeltaStream, LlmError> {
        let res = self.send(messages, true).await?;
        Ok(DeltaStream {
            bytes: res.bytes_stream().boxed(),
            buffer: Vec::new(),
            idle: self.settings.timeout,
            finished: false,
            saw_finish_reason: false,
        })
    }

    async fn send(
        &self,
        messages: &[ChatMessage],
        stream: bool,
    ) -> Result<reqwest::Response, LlmError> {
        let body = json!({
            "model": self.settings.model,
            "messages": messages,
            "stream": stream,
            "max_tokens": self.settings.max_tokens,
            "temperature": 0.2,
        });
        let mut attempt = 0;
        loop {
            let mut req = self.http.post(self.settings.completions_url()).json(&body);
            if stream {
                req = req.header(reqwest::header::ACCEPT, "text/event-stream");
            }
            if let Some(key) = &self.settings.api_key {
                req = req.bearer_auth(key.expose_secret());
            }
            let outcome = tokio::time::timeout(self.settings.timeout, req.send()).await;
            let (error, retry_after) = match outcome {
                Err(_) => return Err(LlmError::Timeout),
                Ok(Ok(res)) if res.status().is_success() => return Ok(res),
                Ok(Ok(res)) => {
                    let status = res.status();
                    let retryable = status.as_u16() == 429 || status.is_server_error();
                    if !retryable {
                        return Err(LlmError::Status(status.as_u16()));
                    }
                    (LlmError::Status(status.as_u16()), retry_after(&res))
                }
                Ok(Err(e)) if e.is_timeout() => return Err(LlmError::Timeout),
                Ok(Err(e)) if e.is_connect() => (LlmError::Transport(e.to_string()), None),
                Ok(Err(e)) => return Err(LlmError::Transport(e.to_string())),
            };
            if attempt >= self.settings.max_retries {
                return Err(error);
            }
            let backoff = self.settings.retry_base * 2u32.saturating_pow(attempt);
            let wait = retry_after
                .unwrap_or(backoff)
                .max(backoff)
                .min(MAX_RETRY_WAIT);
            tracing::warn!(error = %error, attempt = attempt + 1, wait_ms = wait.as_millis() as u64, "retrying the model");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

fn retry_after(res: &reqwest::Response) -> Option<Duration> {
    res.headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// The text of a streamed answer (`data: {...}` lines of chat.completion.chunk objects,
/// ended by `data: [DONE]`).
pub struct DeltaStream {
    bytes: BoxStream<'static, Result<Bytes, reqwest::Error>>,
    buffer: Vec<u8>,
    idle: Duration,
    finished: bool,
    saw_finish_reason: bool,
}

impl DeltaStream {
    /// The next piece of text; `Ok(None)` once the answer is complete. Waiting longer than the
    /// timeout for the next bytes is a timeout; a stream that ends without `[DONE]` or a
    /// finish reason was cut and is an error.
    pub async fn next(&mut self) -> Result<Option<String>, LlmError> {
        loop {
            if self.finished {
                return Ok(None);
            }
            while let Some(line) = self.take_line() {
                if let Some(text) = self.parse_line(&line)? {
                    return Ok(Some(text));
                }
                if self.finished {
                    return Ok(None);
                }
            }
            match tokio::time::timeout(self.idle, self.bytes.next()).await {
                Err(_) => return Err(LlmError::Timeout),
                Ok(Some(Ok(chunk))) => self.buffer.extend_from_slice(&chunk),
                Ok(Some(Err(e))) => return Err(LlmError::Transport(e.to_string())),
                Ok(None) => {
                    // A last line without its newline still counts.
                    if !self.buffer.is_empty() {
                        self.buffer.push(b'\n');
                        continue;
                    }
                    if self.saw_finish_reason {
                        self.finished = true;
                        return Ok(None);
                    }
                    return Err(LlmError::Malformed("the stream ended before [DONE]".into()));
                }
            }
        }
    }

    fn take_line(&mut self) -> Option<String> {
        let end = self.buffer.iter().position(|b| *b == b'\n')?;
        let line: Vec<u8> = self.buffer.drain(..=end).collect();
        Some(
            String::from_utf8_lossy(&line)
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
        )
    }

    /// Text carried by one SSE line, if any. Comments, `event:`/`id:` lines and chunks without
    /// content (the role announcement, the finish chunk) carry none.
    fn parse_line(&mut self, line: &str) -> Result<Option<String>, LlmError> {
        let Some(data) = line.strip_prefix("data:") else {
            return Ok(None);
        };
        let data = data.trim();
        if data == "[DONE]" {
            self.finished = true;
            return Ok(None);
        }
        if data.is_empty() {
            return Ok(None);
        }
        let chunk: Value = serde_json::from_str(data)
            .map_err(|e| LlmError::Malformed(format!("a chunk is not JSON: {e}")))?;
        if chunk.get("error").is_some() {
            return Err(LlmError::Malformed("the stream carried an error".into()));
        }
        let choices = chunk
            .get("choices")
            .and_then(Value::as_array)
            .ok_or_else(|| LlmError::Malformed("a chunk has no choices".into()))?;
        // Some servers end with a usage-only chunk whose choices are empty.
        let Some(choice) = choices.first() else {
            return Ok(None);
        };
        if choice.get("finish_reason").is_some_and(|f| !f.is_null()) {
            self.saw_finish_reason = true;
        }
        Ok(choice
            .pointer("/delta/content")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_owned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(parts: &[&str]) -> DeltaStream {
        let parts: Vec<Result<Bytes, reqwest::Error>> = parts
            .iter()
            .map(|p| Ok(Bytes::from(p.to_string())))
            .collect();
        DeltaStream {
            bytes: futures::stream::iter(parts).boxed(),
            buffer: Vec::new(),
            idle: Duration::from_secs(1),
            finished: false,
            saw_finish_reason: false,
        }
    }

    async fn collect(mut s: DeltaStream) -> Result<String, LlmError> {
        let mut out = String::new();
        while let Some(piece) = s.next().await? {
            out.push_str(&piece);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn chunks_split_anywhere_are_reassembled() {
        let s = stream(&[
            ": keep-alive\r\n\r\ndata: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\r\n\r\nda",
            "ta: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":null}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"total_tokens\":3}}\n\ndata: [DONE]\n\n",
        ]);
        assert_eq!(collect(s).await, Ok("Hello".into()));
    }

    #[tokio::test]
    async fn a_cut_stream_is_an_error_unless_it_finished() {
        let cut = stream(&["data: {\"choices\":[{\"delta\":{\"content\":\"Hal\"}}]}\n\n"]);
        assert!(matches!(collect(cut).await, Err(LlmError::Malformed(_))));
        let finished = stream(&[
            "data: {\"choices\":[{\"delta\":{\"content\":\"Done\"},\"finish_reason\":\"stop\"}]}",
        ]);
        assert_eq!(collect(finished).await, Ok("Done".into()));
        let broken = stream(&["data: {not json}\n\n"]);
        assert!(matches!(collect(broken).await, Err(LlmError::Malformed(_))));
        let error = stream(&["data: {\"error\":{\"message\":\"overloaded\"}}\n\n"]);
        assert!(matches!(collect(error).await, Err(LlmError::Malformed(_))));
    }
}
