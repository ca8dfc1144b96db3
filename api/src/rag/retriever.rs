//! Top-k passages by PostgreSQL full-text search, turned into the sources a client shows.

use serde::Serialize;

use crate::store::Db;
use crate::store::corpus::{self, Passage, Ranking};

/// The ranking the retrieval-quality test measures (docs/BENCHMARKS.md): BM25 with its usual
/// parameters (k1 = 1.2, b = 0.75), not tuned to the question set.
pub const RANKING: Ranking = Ranking {
    k1: 1.2,
    b: 0.75,
    common_share: 0.25,
    hint_weight: 0.3,
    page_boost: 1.5,
    hint_terms: 24,
};

/// A source as clients receive it and as it is stored with the answer (JSONB).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Source {
    pub slug: String,
    pub title: String,
    pub heading: String,
    pub anchor: String,
    /// `DOCS_BASE_URL` + slug + `#anchor`: the link lands on the section.
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chapter_number: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_number: Option<i32>,
    /// Plain text around the matched words (Markdown markup removed: a cut fragment of it
    /// would render broken).
    pub snippet: String,
    /// Rounded to 4 decimals, so the stored JSONB and the reply carry the same number.
    pub score: f64,
}

/// A passage with its source: the text goes to the model, the source to the client.
#[derive(Debug, Clone)]
pub struct Retrieved {
    pub source: Source,
    pub content: String,
}

/// What the reader is looking at, to steer retrieval.
#[derive(Debug, Default, Clone, Copy)]
pub struct Hints<'a> {
    pub highlighted_text: Option<&'a str>,
    /// A URL or path of the page; matched against slugs.
    pub current_page: Option<&'a str>,
}

pub struct Retriever {
    db: Db,
    top_k: u32,
    docs_base_url: String,
    ranking: Ranking,
}

impl Retriever {
    pub fn new(db: Db, top_k: u32, docs_base_url: String) -> Self {
        Self {
            db,
            top_k,
            docs_base_url,
            ranking: RANKING,
        }
    }

    #[tracing::instrument(name = "Retrieving passages", skip_all, fields(k = self.top_k))]
    pub async fn retrieve(
        &self,
        query: &str,
        hints: Hints<'_>,
    ) -> Result<Vec<Retrieved>, sqlx::Error> {
        let page = hints.current_page.map(|p| self.slug_of(p));
        let rows = corpus::search(
            &self.db,
            query,
            hints.highlighted_text,
            page.as_deref(),
            self.top_k,
            self.ranking,
        )
        .await?;
        Ok(rows
            .into_iter()
            .map(|p| self.to_retrieved(p, query, hints))
            .collect())
    }

    /// The slug of the page a reader is on, from a full URL or a path: the query, the
    /// fragment, a trailing slash and the docs site's own path prefix are dropped.
    pub fn slug_of(&self, page: &str) -> String {
        let path = match url::Url::parse(page) {
            Ok(u) if u.has_host() => u.path().to_owned(),
            _ => page.split(['?', '#']).next().unwrap_or(page).to_owned(),
        };
        let prefix = url::Url::parse(&self.docs_base_url)
            .map(|u| u.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        let path = match path.strip_prefix(&prefix) {
            Some(rest) if !prefix.is_empty() && (rest.is_empty() || rest.starts_with('/')) => rest,
            _ => path.as_str(),
        };
        let trimmed = path.trim_matches('/');
        format!("/{trimmed}")
    }

    pub fn url_for(&self, slug: &str, anchor: &str) -> String {
        let mut url = format!("{}{}", self.docs_base_url, slug);
        if !anchor.is_empty() {
            url.push('#');
            url.push_str(anchor);
        }
        url
    }

    fn to_retrieved(&self, p: Passage, query: &str, hints: Hints<'_>) -> Retrieved {
        let snippet = snippet(&p.content, query, hints.highlighted_text);
        Retrieved {
            source: Source {
                url: self.url_for(&p.slug, &p.anchor),
                slug: p.slug,
                title: p.title,
                heading: p.heading,
                anchor: p.anchor,
                chapter_number: p.chapter_number,
                page_number: p.page_number,
                snippet,
                score: (f64::from(p.score) * 10_000.0).round() / 10_000.0,
            },
            content: p.content,
        }
    }

    /// The text of the page with this slug, in reading order (at most `max_chunks` chunks).
    pub async fn page_text(&self, slug: &str, max_chunks: i64) -> Result<Vec<String>, sqlx::Error> {
        corpus::page_text(&self.db, slug, max_chunks).await
    }
}

/// Words shown around the best match.
const SNIPPET_WORDS: usize = 40;

/// Plain text around the matched words: the window of `SNIPPET_WORDS` words holding the most
/// words of the question (or of the highlighted text), Markdown markup removed (a cut fragment
/// of it would render broken). Computed here rather than with ts_headline, which cost the
/// database about as much as the ranking itself.
fn snippet(content: &str, query: &str, highlight: Option<&str>) -> String {
    use std::collections::HashSet;
    let text = crate::rag::markdown::strip_inline(content).replace(['|', '#'], " ");
    let words: Vec<&str> = text
        .split_whitespace()
        .filter(|w| !w.chars().all(|c| matches!(c, '-' | ':' | '>')))
        .collect();
    let mut wanted: HashSet<String> = crate::rag::extractive::terms(query).into_iter().collect();
    if let Some(h) = highlight {
        wanted.extend(crate::rag::extractive::terms(h));
    }
    let hit: Vec<usize> = words
        .iter()
        .map(|w| {
            usize::from(
                crate::rag::extractive::terms(w)
                    .iter()
                    .any(|t| wanted.contains(t)),
            )
        })
        .collect();
    let width = SNIPPET_WORDS.min(words.len());
    let (mut best, mut best_hits) = (0, 0);
    let mut hits: usize = hit[..width].iter().sum();
    if hits > best_hits {
        best_hits = hits;
    }
    for start in 1..=words.len() - width {
        hits = hits + hit[start + width - 1] - hit[start - 1];
        if hits > best_hits {
            (best, best_hits) = (start, hits);
        }
    }
    let mut out = words[best..best + width].join(" ");
    if best > 0 {
        out.insert_str(0, "… ");
    }
    if best + width < words.len() {
        out.push_str(" …");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retriever(base: &str) -> Retriever {
        let db = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .expect("lazy pool");
        Retriever::new(Db::new(db), 3, base.into())
    }

    #[tokio::test]
    async fn urls_land_on_the_section() {
        let r = retriever("https://docs.example/book");
        assert_eq!(
            r.url_for("/02-ros2/nodes", "topics"),
            "https://docs.example/book/02-ros2/nodes#topics"
        );
        assert_eq!(r.url_for("/intro", ""), "https://docs.example/book/intro");
        assert_eq!(retriever("").url_for("/intro", "a"), "/intro#a");
    }

    #[test]
    fn snippets_show_the_words_of_the_question() {
        let filler = "lorem ipsum dolor ".repeat(30);
        let content =
            format!("{filler} The **ZMP** is where the forces create zero torque. {filler}");
        let s = snippet(&content, "What creates zero torque?", None);
        assert!(s.contains("zero torque"), "{s}");
        assert!(s.starts_with("… ") && s.ends_with(" …"), "{s}");
        assert!(!s.contains('*'));
        assert_eq!(
            s.split_whitespace().filter(|w| *w != "…").count(),
            SNIPPET_WORDS
        );
        assert_eq!(snippet("Short text.", "nothing", None), "Short text.");
        assert_eq!(snippet("", "x", None), "");
    }

    #[tokio::test]
    async fn current_page_urls_become_slugs() {
        let r = retriever("https://docs.example/book");
        for page in [
            "https://docs.example/book/02-ros2/nodes/",
            "/book/02-ros2/nodes#topics",
            "/02-ros2/nodes?x=1",
            "02-ros2/nodes",
        ] {
            assert_eq!(r.slug_of(page), "/02-ros2/nodes", "{page}");
        }
        assert_eq!(r.slug_of("/bookish/x"), "/bookish/x");
    }
}
