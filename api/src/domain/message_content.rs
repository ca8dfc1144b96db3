/// The text of a message: not blank, at most `max` characters, no NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageContent(String);

impl MessageContent {
    pub fn parse(raw: String, max: usize) -> Result<Self, String> {
        if raw.trim().is_empty() {
            return Err("must not be empty".into());
        }
        if raw.chars().count() > max {
            return Err(format!("must be at most {max} characters"));
        }
        if super::has_nul(&raw) {
            return Err("must not contain NUL characters".into());
        }
        Ok(Self(raw))
    }
}

impl AsRef<str> for MessageContent {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_keeps_markdown_but_not_blanks_or_nul() {
        let md = "| a | b |\n|---|---|\n| **1** | 2 |".to_string();
        assert_eq!(
            MessageContent::parse(md.clone(), 100).expect("ok").as_ref(),
            md
        );
        assert!(MessageContent::parse(" \n ".into(), 100).is_err());
        assert!(MessageContent::parse("a\u{0}".into(), 100).is_err());
        assert!(MessageContent::parse("é".repeat(101), 100).is_err());
        assert!(MessageContent::parse("é".repeat(100), 100).is_ok());
    }
}
