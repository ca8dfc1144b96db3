//! The messages sent to the model: instructions, the last turns of the conversation, and the
//! numbered passages (or the text to summarise) with the question.

use super::llm::ChatMessage;
use super::retriever::Retrieved;

const RAG_SYSTEM: &str = "You are the documentation assistant of this site. Answer the user's \
question using only the numbered passages provided with it. Cite the passages you use by their \
number in square brackets, like [1] or [2][3]. Write GitHub-flavoured Markdown: keep tables, \
lists, **bold** and code blocks when they help. If the passages do not contain the answer, say \
plainly that the documentation does not cover it instead of guessing. Be concise.";

const SUMMARY_SYSTEM: &str = "You summarise documentation for a reader. Summarise the text \
provided in a few short bullet points or a short paragraph, in GitHub-flavoured Markdown, \
keeping the key terms in **bold**. Use only the text given; add nothing that is not in it.";

/// A question over the corpus.
pub fn rag(history: &[ChatMessage], query: &str, passages: &[Retrieved]) -> Vec<ChatMessage> {
    let mut context = String::new();
    if passages.is_empty() {
        context.push_str("(No passage of the documentation matched this question.)\n");
    }
    for (i, p) in passages.iter().enumerate() {
        context.push_str(&format!(
            "[{}] {} — {} ({})\n{}\n\n",
            i + 1,
            p.source.title,
            p.source.heading,
            p.source.url,
            p.content.trim()
        ));
    }
    let mut out = vec![ChatMessage::system(RAG_SYSTEM)];
    out.extend_from_slice(history);
    out.push(ChatMessage::user(format!(
        "Passages:\n\n{context}Question: {query}"
    )));
    out
}

/// A summary of `text`; the reader's request rides along as an instruction.
pub fn summary(history: &[ChatMessage], query: &str, text: &str) -> Vec<ChatMessage> {
    let mut out = vec![ChatMessage::system(SUMMARY_SYSTEM)];
    out.extend_from_slice(history);
    out.push(ChatMessage::user(format!(
        "Text to summarise:\n\n{}\n\nRequest: {query}",
        text.trim()
    )));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rag::retriever::Source;

    #[test]
    fn passages_are_numbered_after_the_history() {
        let p = Retrieved {
            source: Source {
                slug: "/a".into(),
                title: "A".into(),
                heading: "H".into(),
                anchor: "h".into(),
                url: "/a#h".into(),
                chapter_number: None,
                page_number: None,
                snippet: String::new(),
                score: 1.0,
            },
            content: "Body text.".into(),
        };
        let history = [
            ChatMessage::user("earlier"),
            ChatMessage::assistant("reply"),
        ];
        let m = rag(&history, "What?", &[p.clone(), p]);
        assert_eq!(m.len(), 4);
        assert_eq!(m[1].content, "earlier");
        assert!(m[3].content.contains("[1] A — H (/a#h)\nBody text."));
        assert!(m[3].content.contains("[2] A"));
        assert!(m[3].content.ends_with("Question: What?"));
        assert!(rag(&[], "x", &[])[1].content.contains("No passage"));
    }
}
