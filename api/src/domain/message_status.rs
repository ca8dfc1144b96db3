use std::fmt;

/// How far a stored message got: `complete` unless a stream was cut (`incomplete`) or the
/// model failed (`failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    Complete,
    Incomplete,
    Failed,
}

impl MessageStatus {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "complete" => Ok(MessageStatus::Complete),
            "incomplete" => Ok(MessageStatus::Incomplete),
            "failed" => Ok(MessageStatus::Failed),
            other => Err(format!("unknown message status {other:?}")),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            MessageStatus::Complete => "complete",
            MessageStatus::Incomplete => "incomplete",
            MessageStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

super::text_column!(MessageStatus);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_what_it_writes() {
        for s in [
            MessageStatus::Complete,
            MessageStatus::Incomplete,
            MessageStatus::Failed,
        ] {
            assert_eq!(MessageStatus::parse(s.as_str()), Ok(s));
        }
        assert!(MessageStatus::parse("Complete").is_err());
    }
}
