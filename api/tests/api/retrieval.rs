//! Retrieval quality and hints, measured on the textbook corpus with full-text search alone.

use chatplane_api::rag::{Hints, Retriever};

use crate::common::{Question, corpus_database, held_out_questions, retrieval_questions};

/// The share of questions whose answering section is among the top 3; misses are printed.
async fn recall_at_3(retriever: &Retriever, questions: &[Question]) -> f64 {
    let mut hits = 0;
    for q in questions {
        let found = retriever
            .retrieve(&q.question, Hints::default())
            .await
            .expect("retrieve");
        assert!(found.len() <= 3);
        let hit = found
            .iter()
            .any(|r| r.source.slug == q.slug && q.anchors.contains(&r.source.anchor));
        if hit {
            hits += 1;
        } else {
            let got: Vec<String> = found
                .iter()
                .map(|r| format!("{}#{}", r.source.slug, r.source.anchor))
                .collect();
            eprintln!(
                "miss: {:?} wanted {}#{:?}, got {got:?}",
                q.question, q.slug, q.anchors
            );
        }
    }
    f64::from(hits) / questions.len() as f64
}

#[tokio::test]
async fn recall_at_3_over_the_textbook_question_set_is_at_least_0_9() {
    let db = corpus_database().await;
    let retriever = Retriever::new(db, 3, String::new());
    let tuning = retrieval_questions();
    let held_out = held_out_questions();
    assert!(
        tuning.len() >= 30,
        "the set must hold at least 30 questions"
    );

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
        .retrieve("What is the zero moment point?", Hints::default())
        .await
        .expect("retrieve");
    let top = &found[0].source;
    assert_eq!(top.slug, "/05-humanoid/5-1-locomotion-balance");
    assert_eq!(
        top.url,
        "https://book.example/docs/05-humanoid/5-1-locomotion-balance#the-zero-moment-point-zmp-control"
    );
    assert_eq!(top.chapter_number, Some(5));
    assert!(top.page_number.is_some());
    assert!(top.snippet.contains("zero torque"), "{}", top.snippet);
    assert!(!top.snippet.contains('*'), "plain text: {}", top.snippet);
    assert!(top.score > found[2].source.score);
}

#[tokio::test]
async fn the_current_page_and_highlighted_text_steer_retrieval() {
    let db = corpus_database().await;
    let retriever = Retriever::new(db, 3, "https://book.example/docs".into());
    // Every lesson has self-test questions: the page the reader is on decides which.
    for page in [
        "https://book.example/docs/02-ros2/2-2-rclpy-packages",
        "/docs/04-isaac/4-2-vslam-pipelines/#intro",
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
    let highlighted =
        "The ZMP is the point on the ground where the total forces create zero torque.";
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
    assert_eq!(found[0].source.anchor, "the-zero-moment-point-zmp-control");
    // Only stop words: nothing matches, and that is not an error.
    let none = retriever
        .retrieve("what is the", Hints::default())
        .await
        .expect("retrieve");
    assert!(none.is_empty());
}
