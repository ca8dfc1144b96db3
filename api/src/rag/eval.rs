//! Retrieval quality: recall@k of a question set, each question with the section(s) whose text
//! answers it. Used by the recall test (on the fixture corpus) and by `make eval-rag` (any corpus).

use std::path::Path;

use serde::Deserialize;

use super::{Hints, Retriever};

/// One question and the sections accepted as its answer: a slug and heading anchors.
#[derive(Debug, Clone, Deserialize)]
pub struct Question {
    pub question: String,
    pub slug: String,
    pub anchors: Vec<String>,
}

/// A question file: `questions` were used while choosing the ranking, `held_out` never were.
#[derive(Debug, Clone, Deserialize)]
pub struct QuestionSet {
    pub questions: Vec<Question>,
    pub held_out: Vec<Question>,
}

#[derive(Debug, thiserror::Error)]
pub enum QuestionSetError {
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    #[error("{0} is not a question set: {1}")]
    Parse(String, serde_json::Error),
}

impl QuestionSet {
    pub fn load(path: &Path) -> Result<Self, QuestionSetError> {
        let name = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|e| QuestionSetError::Read(name.clone(), e))?;
        serde_json::from_str(&text).map_err(|e| QuestionSetError::Parse(name, e))
    }
}

/// A question whose answering section was not retrieved, with what came back instead
/// (`slug#anchor`, best first).
#[derive(Debug, Clone)]
pub struct Miss {
    pub question: Question,
    pub got: Vec<String>,
}

impl std::fmt::Display for Miss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "miss: {:?} wanted {}#{:?}, got {:?}",
            self.question.question, self.question.slug, self.question.anchors, self.got
        )
    }
}

#[derive(Debug, Clone)]
pub struct Recall {
    pub asked: usize,
    pub hits: usize,
    pub misses: Vec<Miss>,
}

impl Recall {
    /// The share of questions answered among the retrieved passages (0 for no questions).
    pub fn rate(&self) -> f64 {
        if self.asked == 0 {
            return 0.0;
        }
        self.hits as f64 / self.asked as f64
    }
}

/// Asks every question without hints; a hit is a retrieved passage from an accepted section
/// among the retriever's top k.
pub async fn recall(retriever: &Retriever, questions: &[Question]) -> Result<Recall, sqlx::Error> {
    let mut out = Recall {
        asked: questions.len(),
        hits: 0,
        misses: Vec::new(),
    };
    for q in questions {
        let found = retriever.retrieve(&q.question, Hints::default()).await?;
        let hit = found
            .iter()
            .any(|r| r.source.slug == q.slug && q.anchors.contains(&r.source.anchor));
        if hit {
            out.hits += 1;
        } else {
            out.misses.push(Miss {
                question: q.clone(),
                got: found
                    .iter()
                    .map(|r| format!("{}#{}", r.source.slug, r.source.anchor))
                    .collect(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_the_share_of_hits_and_zero_without_questions() {
        let r = |asked, hits| Recall {
            asked,
            hits,
            misses: Vec::new(),
        };
        assert_eq!(r(4, 3).rate(), 0.75);
        assert_eq!(r(0, 0).rate(), 0.0);
    }

    #[test]
    fn a_question_file_that_is_missing_or_malformed_is_named_in_the_error() {
        let dir = std::env::temp_dir().join(format!("chatplane-eval-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let missing = QuestionSet::load(&dir.join("none.json")).expect_err("missing");
        assert!(matches!(missing, QuestionSetError::Read(..)), "{missing}");
        let bad = dir.join("bad.json");
        std::fs::write(&bad, r#"{"questions": []}"#).expect("write");
        let err = QuestionSet::load(&bad).expect_err("no held_out");
        assert!(err.to_string().contains("bad.json"), "{err}");
        assert!(err.to_string().contains("held_out"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_shipped_question_sets_parse() {
        let root = crate::manifest_dir();
        for path in [
            root.join("tests/data/retrieval_questions.json"),
            root.join("../bench/data/textbook_questions.json"),
        ] {
            let set = QuestionSet::load(&path).expect("question set");
            assert!(set.questions.len() >= 30 && set.held_out.len() >= 10);
        }
    }
}
