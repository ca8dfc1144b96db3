//! What a request got back: the whole reply, and the server-sent events of a streamed one.

use reqwest::StatusCode;
use serde_json::Value;

/// A response read whole: status, headers and body (JSON when it parses).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn request_id(&self) -> String {
        self.header("x-request-id").unwrap_or_default().to_owned()
    }

    /// Asserts an RFC 9457 problem with this status.
    pub fn assert_problem(&self, status: u16, context: &str) {
        assert_eq!(self.status.as_u16(), status, "{context}: {}", self.text);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{context}: content type"
        );
        assert_eq!(self.body["status"], status, "{context}: problem status");
        assert!(
            self.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{context}: problem detail missing: {}",
            self.text
        );
    }

    /// The server-sent events of a streamed body, in order.
    pub fn events(&self) -> Vec<SseEvent> {
        parse_sse(&self.text)
    }

    /// The `rel="next"` target of the Link header, if any.
    pub fn next_link(&self) -> Option<String> {
        let link = self.header("link")?;
        let start = link.find('<')? + 1;
        let end = link.find('>')?;
        link.contains("rel=\"next\"")
            .then(|| link[start..end].to_owned())
    }
}

/// One server-sent event: its name and its JSON data.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub event: String,
    pub data: Value,
}

/// Parses `event:`/`data:` frames; comments (keep-alives) are skipped.
pub fn parse_sse(text: &str) -> Vec<SseEvent> {
    text.split("\n\n")
        .filter_map(|frame| {
            let mut event = None;
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                }
            }
            Some(SseEvent {
                event: event?,
                data: serde_json::from_str(&data).unwrap_or(Value::Null),
            })
        })
        .collect()
}
