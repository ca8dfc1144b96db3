//! The `Idempotency-Key` request header (draft-ietf-httpapi-idempotency-key-header): a client's
//! unique value for one logical request, sent again with every retry of it.

/// Longest key accepted (Stripe's bound; a UUID, a ULID or 32 random bytes in base64 fit).
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;

/// A checked key: 1 to 255 characters of `A–Z a–z 0–9 - _ . ~ + / = :`. The draft defines the
/// header as a Structured Field string (`"…"`); the bare token clients such as Stripe's send is
/// accepted too, and both spellings are the same key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Parses the header's values (all of them: two headers are refused, as with
    /// `Authorization`, since a proxy that reads the other one would see another request).
    pub fn from_header_values<'a>(
        mut values: impl Iterator<Item = &'a [u8]>,
    ) -> Result<Option<Self>, String> {
        let Some(first) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err("Idempotency-Key was sent more than once".into());
        }
        Self::parse(first).map(Some)
    }

    pub fn parse(raw: &[u8]) -> Result<Self, String> {
        let raw = raw.trim_ascii();
        let inner = match raw {
            [b'"', inner @ .., b'"'] => inner,
            other => other,
        };
        let allowed = |b: &u8| b.is_ascii_alphanumeric() || b"-_.~+/=:".contains(b);
        if inner.is_empty() || inner.len() > MAX_IDEMPOTENCY_KEY_CHARS || !inner.iter().all(allowed)
        {
            return Err(format!(
                "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters of \
                 A-Z a-z 0-9 - _ . ~ + / = : (optionally in double quotes), such as a UUID"
            ));
        }
        // Only ASCII passed the check above.
        Ok(Self(String::from_utf8_lossy(inner).into_owned()))
    }
}

impl AsRef<str> for IdempotencyKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_bounded_tokens_quoted_or_not() {
        let uuid = "8e03978e-40d5-43e8-bc93-6894a57f9324";
        assert_eq!(
            IdempotencyKey::parse(uuid.as_bytes()).unwrap().as_ref(),
            uuid
        );
        assert_eq!(
            IdempotencyKey::parse(format!("\"{uuid}\"").as_bytes()).unwrap(),
            IdempotencyKey::parse(uuid.as_bytes()).unwrap()
        );
        assert!(IdempotencyKey::parse("x".repeat(255).as_bytes()).is_ok());
        for bad in [
            "",
            "\"\"",
            "two words",
            "a,b",
            "a\"b",
            "é",
            "a\u{0}b",
            &"x".repeat(256),
        ] {
            assert!(IdempotencyKey::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn two_headers_are_refused_and_none_is_no_key() {
        assert_eq!(
            IdempotencyKey::from_header_values(std::iter::empty()),
            Ok(None)
        );
        assert!(IdempotencyKey::from_header_values([&b"a"[..], b"a"].into_iter()).is_err());
    }
}
