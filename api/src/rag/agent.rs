//! Which agent answers: `rag` (answer from the corpus), `summarizer` (summarise what the reader
//! highlighted or the page they are on), `triage` (picks one of the two).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentType {
    Rag,
    Summarizer,
    Triage,
}

impl AgentType {
    pub fn parse(raw: Option<&str>) -> Result<Self, String> {
        match raw.map(str::trim) {
            None | Some("") | Some("rag") => Ok(AgentType::Rag),
            Some("summarizer") => Ok(AgentType::Summarizer),
            Some("triage") => Ok(AgentType::Triage),
            Some(other) => Err(format!(
                "unknown agent_type {other:?}; expected \"rag\", \"summarizer\" or \"triage\""
            )),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            AgentType::Rag => "rag",
            AgentType::Summarizer => "summarizer",
            AgentType::Triage => "triage",
        }
    }

    /// Triage is a rule, not a model call: a request to summarise, with something to summarise
    /// (highlighted text or the current page), goes to the summarizer; everything else is a
    /// question for `rag`. Cheap, predictable, and the same with or without a model.
    pub fn resolve(self, query: &str, has_text: bool) -> AgentType {
        match self {
            AgentType::Triage if has_text && asks_for_summary(query) => AgentType::Summarizer,
            AgentType::Triage => AgentType::Rag,
            other => other,
        }
    }
}

fn asks_for_summary(query: &str) -> bool {
    let q = query.to_lowercase();
    [
        "summar",
        "tl;dr",
        "tldr",
        "key points",
        "main points",
        "in short",
        "overview of this",
        "recap",
        "gist",
    ]
    .iter()
    .any(|w| q.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_types_parse_and_triage_picks_one() {
        assert_eq!(AgentType::parse(None), Ok(AgentType::Rag));
        assert_eq!(
            AgentType::parse(Some("summarizer")),
            Ok(AgentType::Summarizer)
        );
        assert!(AgentType::parse(Some("RAG!")).is_err());
        let t = AgentType::Triage;
        assert_eq!(
            t.resolve("Summarize this section", true),
            AgentType::Summarizer
        );
        assert_eq!(t.resolve("Summarize this section", false), AgentType::Rag);
        assert_eq!(t.resolve("What is an IMU?", true), AgentType::Rag);
        assert_eq!(AgentType::Rag.resolve("summarize", true), AgentType::Rag);
    }
}
