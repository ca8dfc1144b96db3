use std::fmt;

/// Who wrote a message. Clients may store `user` and `assistant` turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

impl Role {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "user" => Ok(Role::User),
            "assistant" => Ok(Role::Assistant),
            other => Err(format!(
                "unknown role {other:?}; expected \"user\" or \"assistant\""
            )),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

super::text_column!(Role);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_roles_parse() {
        assert_eq!(Role::parse("user"), Ok(Role::User));
        assert_eq!(Role::parse("assistant"), Ok(Role::Assistant));
        assert!(Role::parse("system").is_err());
        assert!(Role::parse("User").is_err());
    }
}
