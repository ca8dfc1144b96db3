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
