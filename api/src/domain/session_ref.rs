use super::ConversationId;

/// Longest client session key accepted.
pub const MAX_CLIENT_KEY_CHARS: usize = 128;

/// What a `session_id` of `/agents/run` names: one of the caller's conversations by its id, or
/// a key the client made for its chat session (the original chatbot's widget sends
/// `session_<ms>_<random>`), bound to a conversation of the caller's on first use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionRef {
    Conversation(ConversationId),
    ClientKey(String),
}

impl SessionRef {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if let Ok(id) = ConversationId::parse(raw) {
            return Ok(SessionRef::Conversation(id));
        }
        if raw.is_empty()
            || raw.len() > MAX_CLIENT_KEY_CHARS
            || !raw.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(format!(
                "must be a conversation id (a UUID) or a client session key of 1 to \
                 {MAX_CLIENT_KEY_CHARS} printable ASCII characters without spaces"
            ));
        }
        Ok(SessionRef::ClientKey(raw.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_name_conversations_and_other_printable_strings_are_keys() {
        let id = ConversationId::new();
        assert_eq!(
            SessionRef::parse(&id.to_string()),
            Ok(SessionRef::Conversation(id))
        );
        assert_eq!(
            SessionRef::parse(" session_1700000000000_k3j4h5 "),
            Ok(SessionRef::ClientKey("session_1700000000000_k3j4h5".into()))
        );
        for bad in ["", "   ", "two words", "a\u{0}b", "é", &"x".repeat(129)] {
            assert!(SessionRef::parse(bad).is_err(), "{bad:?}");
        }
        assert!(SessionRef::parse(&"x".repeat(128)).is_ok());
    }
}
