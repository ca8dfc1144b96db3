use std::fmt;

use uuid::Uuid;

/// A conversation's id: a UUID (v7 when the API makes one, so ids sort by creation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, sqlx::Type)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct ConversationId(Uuid);

impl ConversationId {
    /// A fresh id for a conversation about to be created.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    /// Parses a conversation id as a client sends it (a path segment or a `session_id`).
    pub fn parse(raw: &str) -> Result<Self, String> {
        Uuid::parse_str(raw)
            .map(Self)
            .map_err(|_| "must be a conversation id (a UUID)".into())
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for ConversationId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for ConversationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_parse_and_other_strings_do_not() {
        let id = ConversationId::new();
        assert_eq!(ConversationId::parse(&id.to_string()), Ok(id));
        assert!(ConversationId::parse(&format!(" {id}")).is_err());
        assert!(ConversationId::parse("session_1700000000000_abc").is_err());
        assert!(ConversationId::parse("").is_err());
    }
}
