/// A Better Auth user id (a random string), as verified from a token's subject.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId(String);

impl UserId {
    pub fn parse(raw: String) -> Result<Self, String> {
        if raw.is_empty() || raw.len() > 255 {
            return Err("user id must be 1 to 255 bytes".into());
        }
        if raw.chars().any(|c| c.is_control()) {
            return Err("user id must not contain control characters".into());
        }
        Ok(Self(raw))
    }
}

impl AsRef<str> for UserId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn better_auth_ids_parse_and_junk_does_not() {
        assert!(UserId::parse("hJ8vYw2Xo6Kq1ZtPq9aN3mB5".into()).is_ok());
        assert!(UserId::parse(String::new()).is_err());
        assert!(UserId::parse("a\nb".into()).is_err());
        assert!(UserId::parse("x".repeat(256)).is_err());
    }
}
