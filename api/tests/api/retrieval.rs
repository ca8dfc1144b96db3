//! Retrieval quality and hints, measured on the fixture corpus (tests/data/corpus) with
//! full-text search alone.

use chatplane_api::rag::eval::{Question, recall};
use chatplane_api::rag::{Hints, Retriever};

use crate::common::{corpus_database, question_set};

/// recall@3 of `questions`, every miss printed.
async fn recall_at_3(retriever: &Retriever, questions: &[Question]) -> f64 {
    for q in questions {
        let found = retriever
            .retrieve(&q.question, Hints::default())
            .await
            .expect("retrieve");
        assert!(found.len() <= 3);
    }
    let recall = recall(retriever, questions).await.expect("retrieve");
    for miss in &recall.misses {
        eprintln!("{miss}");
    }
    recall.rate()
}

#[tokio::test]
async fn recall_at_3_over_the_fixture_question_set_is_at_least_0_9() {
    let db = corpus_database().await;
    let retriever = Retriever::new(db, 3, String::new());
    let set = question_set();
    let (tuning, held_out) = (set.questions, set.held_out);
    assert!(
        tuning.len() >= 30,
        "the set must hold at least 30 questions"
    );
    assert!(held_out.len() >= 10, "and at least 10 held out");

    let tuning_recall = recall_at_3(&retriever, &tuning).await;
    let held_out_recall = recall_at_3(&retriever, &held_out).await;
    let all: Vec<Question> = tuning.into_iter().chain(held_out).collect();
    let overall = recall_at_3(&retriever, &all).await;

    eprintln!(
        "recall@3: {tuning_recall:.3} on the tuning set, {held_out_recall:.3} held out, {overall:.3} over all {}",
        all.len()
    );
    assert!(
        tuning_recall >= 0.9,
        "recall@3 {tuning_recall:.3} is below 0.9"
    );
    assert!(
        overall >= 0.9,
        "recall@3 {overall:.3} over all questions is below 0.9"
    );
}

#[tokio::test]
async fn sources_carry_links_to_the_section_and_page_numbers() {
    let db = corpus_database().await;
    let retriever = Retriever::new(db, 3, "https://book.example/docs".into());
    let found = retriever
        .retrieve("What is the dew point?", Hints::default())
        .await
        .expect("retrieve");
    let top = &found[0].source;
    assert_eq!(top.slug, "/04-analysis/4-1-derived-quantities");
    assert_eq!(
        top.url,
        "https://book.example/docs/04-analysis/4-1-derived-quantities#the-dew-point-when-air-becomes-saturated"
    );
    assert_eq!(top.chapter_number, Some(4));
    assert_eq!(top.page_number, Some(11));
    assert!(top.snippet.contains("saturated"), "{}", top.snippet);
    assert!(!top.snippet.contains('*'), "plain text: {}", top.snippet);
    assert!(top.score > found[2].source.score);

    // A heading's custom id ({#...}) is its anchor.
    let found = retriever
        .retrieve("How do I respond to a silent station?", Hints::default())
        .await
        .expect("retrieve");
    assert_eq!(
        found[0].source.url,
        "https://book.example/docs/03-operations/3-3-alerts-and-on-call#silent-station-runbook"
    );
}

/// The question the web UI's browser test asks: its answer is a Markdown table, passed whole.
#[tokio::test]
async fn a_table_is_retrieved_as_the_answer_to_a_schedule_question() {
    let db = corpus_database().await;
    let retriever = Retriever::new(db, 3, String::new());
    let found = retriever
        .retrieve(
            "How often should the guy-wire tension be checked?",
            Hints::default(),
        )
        .await
        .expect("retrieve");
    assert_eq!(found[0].source.slug, "/03-operations/3-1-field-visits");
    assert_eq!(found[0].source.anchor, "maintenance-schedule");
    let table = &found[0].content;
    assert!(
        table.contains("| Check the guy-wire tension | every 6 months |"),
        "{table}"
    );
    assert!(table.contains("| --- | --- | --- |"), "{table}");
}

#[tokio::test]
async fn the_current_page_and_highlighted_text_steer_retrieval() {
    let db = corpus_database().await;
    let retriever = Retriever::new(db, 3, "https://book.example/docs".into());
    // Every lesson has self-test questions: the page the reader is on decides which.
    for page in [
        "https://book.example/docs/02-telemetry/2-2-collector",
        "/docs/03-operations/3-2-calibration/#intro",
    ] {
        let found = retriever
            .retrieve(
                "self-test questions",
                Hints {
                    current_page: Some(page),
                    ..Default::default()
                },
            )
            .await
            .expect("retrieve");
        assert!(
            page.contains(&found[0].source.slug),
            "{page}: {:?}",
            found[0].source
        );
    }
    // A vague question is answered from what the reader highlighted.
    let highlighted = "The dew point is the temperature at which air becomes saturated.";
    let found = retriever
        .retrieve(
            "what does this mean?",
            Hints {
                highlighted_text: Some(highlighted),
                ..Default::default()
            },
        )
        .await
        .expect("retrieve");
    assert_eq!(
        found[0].source.anchor,
        "the-dew-point-when-air-becomes-saturated"
    );
    // Only stop words: nothing matches, and that is not an error.
    let none = retriever
        .retrieve("what is the", Hints::default())
        .await
        .expect("retrieve");
    assert!(none.is_empty());
}
