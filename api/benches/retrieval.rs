//! Retrieval over a corpus of at least 10,000 chunks, and the overhead of `/agents/run` without
//! a model (DESIGN.md §9), each beside a baseline timed the same way in the same run.
//!
//! `cargo bench -p chatplane-api --bench retrieval` (PostgreSQL at TEST_DATABASE_URL, as the
//! tests). The corpus is the fixture corpus (tests/data/corpus) or the directory `BENCH_CORPUS`
//! names, copied `BENCH_COPIES` times (default: enough copies for 10,000 chunks), each copy under
//! its own slug prefix and with 15% of its words replaced by random words of the corpus's own
//! vocabulary, so term statistics differ from copy to copy. The queries are the fixture's
//! question set, or with `BENCH_CORPUS` the question file `BENCH_QUESTIONS` names (e.g.
//! `BENCH_CORPUS=$PWD/../shared/corpus/physical-ai-textbook
//! BENCH_QUESTIONS=$PWD/bench/data/textbook_questions.json` from the repository's root: absolute
//! paths, since cargo runs a benchmark in the crate's directory).

#[path = "../tests/api/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chatplane_api::ingest::ingest;
use chatplane_api::rag::eval::QuestionSet;
use chatplane_api::rag::{Hints, Retriever};
use common::llm::{LlmServer, Step};
use common::{TestApp, fixture_corpus_dir, question_set};
use serde_json::json;

const RETRIEVALS: usize = 2_000;
const REQUESTS: usize = 400;
/// The default corpus size: copies are added until it holds at least this many chunks.
const TARGET_CHUNKS: usize = 10_000;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

/// A tiny deterministic generator: the corpus is the same in every run.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn markdown_files(dir: &Path, rel: &str, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel_name = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if entry.path().is_dir() {
            markdown_files(&entry.path(), &rel_name, out);
        } else if name.ends_with(".md") || name.ends_with(".mdx") {
            out.push((
                rel_name,
                std::fs::read_to_string(entry.path()).expect("read"),
            ));
        }
    }
}

/// The corpus to copy (`BENCH_CORPUS` or the fixture) and the questions to ask of it.
fn corpus_and_questions() -> (PathBuf, Vec<String>) {
    let (dir, set) = match std::env::var_os("BENCH_CORPUS") {
        None => (fixture_corpus_dir(), question_set()),
        Some(dir) => {
            let file = std::env::var_os("BENCH_QUESTIONS")
                .expect("BENCH_CORPUS needs BENCH_QUESTIONS: a question file written for it");
            let set = QuestionSet::load(Path::new(&file)).expect("BENCH_QUESTIONS");
            (PathBuf::from(dir), set)
        }
    };
    let questions = set.questions.into_iter().map(|q| q.question).collect();
    (dir, questions)
}

/// The chunks one copy of the corpus makes, as ingest would split it.
fn chunks_per_copy(files: &[(String, String)]) -> usize {
    files
        .iter()
        .filter_map(|(rel, text)| chatplane_api::rag::markdown::parse(rel, text.as_bytes()).ok())
        .map(|page| page.chunks.len())
        .sum()
}

fn corpus_files(dir: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    markdown_files(dir, "", &mut files);
    assert!(!files.is_empty(), "no Markdown under {}", dir.display());
    files
}

fn build_corpus(files: &[(String, String)], copies: u64) -> PathBuf {
    let vocabulary: Vec<String> = files
        .iter()
        .flat_map(|(_, t)| t.split_whitespace())
        .filter(|w| w.len() >= 4 && w.chars().all(char::is_alphabetic))
        .map(str::to_owned)
        .collect();
    let root =
        std::env::temp_dir().join(format!("chatplane-bench-{}", uuid::Uuid::new_v4().simple()));
    for copy in 0..copies {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ (copy + 1));
        for (rel, text) in files {
            let (front, body) = match text
                .strip_prefix("---\n")
                .and_then(|r| r.split_once("\n---\n"))
            {
                Some((front, body)) => (front, body),
                None => ("", text.as_str()),
            };
            let front: String = front
                .lines()
                .map(|l| match l.strip_prefix("slug: ") {
                    Some(slug) => format!("slug: /copy-{copy}{slug}\n"),
                    None => format!("{l}\n"),
                })
                .collect();
            let body: String = body
                .split_inclusive(' ')
                .map(|w| {
                    let bare = w.trim_end();
                    if bare.len() >= 4
                        && bare.chars().all(char::is_alphabetic)
                        && rng.next() % 100 < 15
                    {
                        let pick = &vocabulary[(rng.next() % vocabulary.len() as u64) as usize];
                        format!("{pick}{}", &w[bare.len()..])
                    } else {
                        w.to_owned()
                    }
                })
                .collect();
            let path = root.join(format!("copy-{copy}")).join(rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, format!("---\n{front}---\n{body}")).expect("write");
        }
    }
    root
}

struct Timings(Vec<Duration>);

impl Timings {
    fn report(mut self, label: &str) -> Duration {
        self.0.sort_unstable();
        let at = |q: f64| self.0[((self.0.len() as f64 * q) as usize).min(self.0.len() - 1)];
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{label:<58} n={:<5} median {:>7.3} ms  p95 {:>7.3} ms  p99 {:>7.3} ms",
            self.0.len(),
            ms(at(0.5)),
            ms(at(0.95)),
            ms(at(0.99))
        );
        at(0.5)
    }
}

async fn time<F, Fut>(n: usize, mut f: F) -> Timings
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for i in 0..n.min(100) {
        f(i).await;
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let started = Instant::now();
        f(i).await;
        out.push(started.elapsed());
    }
    Timings(out)
}

async fn run() {
    let (source, questions) = corpus_and_questions();
    let files = corpus_files(&source);
    let copies: u64 = std::env::var("BENCH_COPIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| TARGET_CHUNKS.div_ceil(chunks_per_copy(&files).max(1)) as u64);
    let dir = build_corpus(&files, copies);
    let (db, _) = common::migrated_database().await;
    let started = Instant::now();
    let report = ingest(&db, &dir).await.expect("ingest");
    let ingest_time = started.elapsed();
    let chunks: i64 = sqlx::query_scalar("SELECT count(*) FROM corpus_chunks")
        .fetch_one(&db)
        .await
        .expect("count");
    println!(
        "corpus: {copies} perturbed copies of {}, {} files, {chunks} chunks; ingest {:.2} s; re-ingest unchanged:",
        source.display(),
        report.added.len(),
        ingest_time.as_secs_f64()
    );
    let started = Instant::now();
    let again = ingest(&db, &dir).await.expect("re-ingest");
    println!(
        "  {:.3} s ({} unchanged, nothing written: {})",
        started.elapsed().as_secs_f64(),
        again.unchanged,
        again.wrote_nothing()
    );

    // The baselines below are plain tsvector queries; give them the GIN index they would use.
    // The retriever does not use it (it reads the postings index).
    sqlx::query("CREATE INDEX corpus_chunks_tsv_bench ON corpus_chunks USING gin (tsv)")
        .execute(&db)
        .await
        .expect("gin index");
    sqlx::query("ANALYZE corpus_chunks")
        .execute(&db)
        .await
        .expect("analyze");

    let retriever = Retriever::new(db.clone(), 3, String::new());
    let q = &questions;
    time(RETRIEVALS, |i| {
        let retriever = &retriever;
        async move {
            let found = retriever
                .retrieve(&q[i % q.len()], Hints::default())
                .await
                .expect("retrieve");
            assert_eq!(found.len(), 3);
        }
    })
    .await
    .report("retriever: top-3, BM25 over postings, with snippets");
    let db2 = &db;
    time(RETRIEVALS, |i| async move {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT c.id FROM corpus_chunks c,
                    (SELECT to_tsquery('simple', string_agg(quote_literal(lexeme) || ':*', ' | ')) AS q
                       FROM unnest(to_tsvector('english', $1))) q
              WHERE c.tsv @@ q.q ORDER BY ts_rank(c.tsv, q.q) DESC LIMIT 3",
        )
        .bind(&q[i % q.len()])
        .fetch_all(db2)
        .await
        .expect("baseline");
        assert_eq!(rows.len(), 3);
    })
    .await
    .report("baseline: OR of the terms on the GIN index, ts_rank, ids");
    time(RETRIEVALS, |i| async move {
        let _: Vec<(i64,)> = sqlx::query_as(
            "SELECT c.id FROM corpus_chunks c, websearch_to_tsquery('english', $1) q
              WHERE c.tsv @@ q ORDER BY ts_rank(c.tsv, q) DESC LIMIT 3",
        )
        .bind(&q[i % q.len()])
        .fetch_all(db2)
        .await
        .expect("baseline");
    })
    .await
    .report("baseline: websearch_to_tsquery (AND), GIN, ts_rank, ids");
    time(RETRIEVALS, |_| async move {
        let _: (i32,) = sqlx::query_as("SELECT 1")
            .fetch_one(db2)
            .await
            .expect("select 1");
    })
    .await
    .report("baseline: SELECT 1 (round trip)");

    // /agents/run over HTTP on the same big corpus: extractive, and with a model that answers
    // at once (a local OpenAI-compatible server), beside appending a message.
    let llm = LlmServer::start(vec![Step::Answer("An instant answer [1]."); REQUESTS + 100]).await;
    let app = || {
        TestApp::builder()
            .env("RAG_CORPUS_DIR", dir.display().to_string())
            .env("AGENTS_RATE_PER_MINUTE", "0")
            .unready()
    };
    let extractive = app().spawn().await;
    // Each app ingests the 10,000 chunks into its own database before it is ready.
    extractive.wait_ready_within(Duration::from_secs(300)).await;
    let with_model = app().llm(&llm).spawn().await;
    with_model.wait_ready_within(Duration::from_secs(300)).await;
    http_round(&extractive, q, "extractive").await;
    http_round(&with_model, q, "instant local model").await;
    let _ = std::fs::remove_dir_all(dir);
}

async fn http_round(app: &TestApp, q: &[String], label: &str) {
    let (_, token) = app.user_with_token();
    let conversation = app.new_conversation(&token, "bench").await;
    let (token, conversation) = (&token, &conversation);
    time(REQUESTS, |i| async move {
        let r = app
            .append_message(
                token,
                conversation,
                json!({"role": "user", "content": q[i % q.len()]}),
            )
            .await;
        assert_eq!(r.status.as_u16(), 201);
    })
    .await
    .report(&format!(
        "[{label}] baseline: POST /conversations/{{id}}/messages"
    ));
    time(REQUESTS, |i| async move {
        let r = app
            .post_agents_run(
                token,
                json!({"query": q[i % q.len()], "session_id": conversation}),
            )
            .await;
        assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    })
    .await
    .report(&format!("[{label}] POST /agents/run"));
}
