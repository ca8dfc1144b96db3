//! Answers without a model: the most relevant blocks of the top passages, quoted with their
//! citations, or the key sentences of a text. Labelled as such (`agent_used: "extractive"`),
//! never dressed up as a model's answer.

use std::collections::{HashMap, HashSet};

use super::retriever::Retrieved;

/// Characters quoted from one passage.
const PER_PASSAGE_CHARS: usize = 700;
const SUMMARY_SENTENCES: usize = 4;

const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "how",
    "in", "is", "it", "its", "of", "on", "or", "that", "the", "this", "to", "what", "when",
    "where", "which", "who", "why", "with", "you", "your", "we", "our", "i", "me", "my", "about",
    "explain", "tell", "describe", "should", "would", "could", "there", "their", "they", "them",
    "these", "those", "has", "have", "was", "were", "will", "not", "but", "if", "so", "than",
];

/// Lower-cased content words, cut to a 5-letter stem so "sensors" meets "sensor".
pub(crate) fn terms(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .map(|w| w.chars().take(5).collect())
        .collect()
}

/// The answer to `query` from the passages; says so plainly when there are none.
pub fn answer(query: &str, passages: &[Retrieved]) -> String {
    if passages.is_empty() {
        return "I could not find anything about this in the documentation. Try different \
                words, or ask about a topic the documentation covers."
            .into();
    }
    let wanted: HashSet<String> = terms(query).into_iter().collect();
    let mut out = String::from(
        "_Extractive answer: no language model is configured, so these are the most relevant \
         passages of the documentation, quoted._\n\n",
    );
    for (i, p) in passages.iter().enumerate() {
        out.push_str(&format!(
            "**[{}] [{} › {}]({})**\n\n{}\n\n",
            i + 1,
            p.source.title,
            p.source.heading,
            p.source.url,
            best_blocks(&p.content, &wanted, PER_PASSAGE_CHARS)
        ));
    }
    out.trim_end().to_owned()
}

/// The blocks (paragraphs, lists, tables) of `content` sharing most terms with the question,
/// in their original order, within `budget` characters. Blocks stay whole so tables and code
/// keep their Markdown.
fn best_blocks(content: &str, wanted: &HashSet<String>, budget: usize) -> String {
    let blocks: Vec<&str> = content
        .split("\n\n")
        .map(str::trim)
        .filter(|b| !b.is_empty() && !b.chars().all(|c| matches!(c, '-' | '*' | '_')))
        .collect();
    let mut ranked: Vec<(usize, usize)> = blocks
        .iter()
        .enumerate()
        .map(|(i, b)| (i, terms(b).iter().filter(|t| wanted.contains(*t)).count()))
        .collect();
    // Most matching terms first; ties keep reading order.
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut chosen = Vec::new();
    let mut used = 0;
    for (i, _) in ranked {
        let len = blocks[i].chars().count();
        if used + len > budget && !chosen.is_empty() {
            continue;
        }
        chosen.push(i);
        used += len;
        if used >= budget {
            break;
        }
    }
    chosen.sort_unstable();
    let text = chosen
        .iter()
        .map(|i| blocks[*i])
        .collect::<Vec<_>>()
        .join("\n\n");
    if text.chars().count() > budget * 2 {
        let cut: String = text.chars().take(budget * 2).collect();
        format!("{}…", cut.trim_end())
    } else {
        text
    }
}

/// The key sentences of `text`: scored by how often their content words occur in the whole
/// text, the best few kept in reading order.
pub fn summary(text: &str) -> String {
    let sentences: Vec<&str> = text
        .split_inclusive(['.', '!', '?', '\n'])
        .map(str::trim)
        .filter(|s| s.split_whitespace().count() >= 4)
        .collect();
    if sentences.is_empty() {
        return "There is not enough text to summarise.".into();
    }
    let mut freq: HashMap<String, usize> = HashMap::new();
    for t in terms(text) {
        *freq.entry(t).or_default() += 1;
    }
    let mut scored: Vec<(usize, f64)> = sentences
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let ts = terms(s);
            let total: usize = ts.iter().map(|t| freq.get(t).copied().unwrap_or(0)).sum();
            (i, total as f64 / (ts.len().max(1) as f64).sqrt())
        })
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut keep: Vec<usize> = scored
        .iter()
        .take(SUMMARY_SENTENCES)
        .map(|(i, _)| *i)
        .collect();
    keep.sort_unstable();
    let mut out = String::from(
        "_Extractive summary: no language model is configured, so these are the key sentences \
         of the text._\n\n",
    );
    for i in keep {
        out.push_str("- ");
        out.push_str(sentences[i].trim_start_matches(['-', '*', '>', ' ']));
        out.push('\n');
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rag::retriever::Source;

    fn passage(content: &str) -> Retrieved {
        Retrieved {
            source: Source {
                slug: "/s".into(),
                title: "Sensors".into(),
                heading: "IMU".into(),
                anchor: "imu".into(),
                url: "/s#imu".into(),
                chapter_number: None,
                page_number: None,
                snippet: String::new(),
                score: 0.5,
            },
            content: content.into(),
        }
    }

    #[test]
    fn answers_quote_the_matching_blocks_with_citations() {
        let p = passage(
            "Cameras see colour.\n\nAn IMU measures acceleration and rotation.\n\n| a | b |\n|---|---|\n| 1 | 2 |",
        );
        let a = answer("What does an IMU measure?", &[p]);
        assert!(a.starts_with("_Extractive answer"), "{a}");
        assert!(a.contains("**[1] [Sensors › IMU](/s#imu)**"), "{a}");
        assert!(a.contains("An IMU measures acceleration"), "{a}");
        assert!(answer("anything", &[]).contains("could not find"));
    }

    #[test]
    fn summaries_keep_the_key_sentences_in_order() {
        let text = "Balance depends on the center of mass. The center of mass must stay over \
                    the support polygon. Lunch was good today at noon. A robot falls when the \
                    center of mass leaves the support polygon.";
        let s = summary(text);
        assert!(s.contains("- Balance depends"), "{s}");
        let first = s.find("Balance").expect("kept");
        let last = s.find("A robot falls").expect("kept");
        assert!(first < last);
        assert!(summary("too short").contains("not enough"));
    }
}
