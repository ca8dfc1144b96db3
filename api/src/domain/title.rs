/// A conversation title: trimmed, not empty, at most `max` characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    pub fn parse(raw: &str, max: usize) -> Result<Self, String> {
        let t = raw.trim();
        if t.is_empty() {
            return Err("must not be empty".into());
        }
        if t.chars().count() > max {
            return Err(format!("must be at most {max} characters"));
        }
        if t.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(t.to_owned()))
    }

    /// A title made from the start of a first question: one line, cut at a word boundary.
    pub fn from_query(query: &str, max: usize) -> Self {
        let line: String = query
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        let limit = max.clamp(1, 80);
        if line.is_empty() {
            return Self("New conversation".into());
        }
        if line.chars().count() <= limit {
            return Self(line);
        }
        let cut: String = line.chars().take(limit - 1).collect();
        let cut = match cut.rfind(' ') {
            Some(i) if i > limit / 2 => cut[..i].to_owned(),
            _ => cut,
        };
        Self(format!("{}…", cut.trim_end()))
    }
}

impl AsRef<str> for Title {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_trimmed_and_bounded() {
        assert_eq!(Title::parse("  Hello ", 10).expect("ok").as_ref(), "Hello");
        assert!(Title::parse("   ", 10).is_err());
        assert!(Title::parse("elevenchars", 10).is_err());
        assert!(Title::parse("ten chars!", 10).is_ok());
        assert!(Title::parse("a\u{0}b", 10).is_err());
        assert!(Title::parse("a\tb", 10).is_err());
    }

    #[test]
    fn titles_from_queries_are_one_short_line() {
        assert_eq!(
            Title::from_query("What is\nROS 2?", 200).as_ref(),
            "What is ROS 2?"
        );
        let long = "word ".repeat(50);
        let t = Title::from_query(&long, 200);
        assert!(t.as_ref().chars().count() <= 80);
        assert!(t.as_ref().ends_with('…'));
        assert_eq!(Title::from_query("  ", 200).as_ref(), "New conversation");
    }
}
