//! Corpus ingestion: idempotent by content hash, changes and removals reflected, bad files
//! reported and skipped, and readers never see half a run.

use std::process::Command;

use chatplane_api::ingest::{IngestError, ingest};
use chatplane_api::rag::{Hints, Retriever};
use chatplane_api::store::Db;

use crate::common::{CorpusCopy, TestApp, migrated_database};

const BIN: &str = env!("CARGO_BIN_EXE_chatplane-api");

/// Every corpus row with the transaction that wrote it: any write shows as a changed xmin.
async fn row_versions(db: &Db) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT 'f:' || path || ':' || xmin::text FROM corpus_files
         UNION ALL SELECT 'c:' || id || ':' || xmin::text FROM corpus_chunks
         UNION ALL SELECT 't:' || word || ':' || xmin::text FROM corpus_terms
         ORDER BY 1",
    )
    .fetch_all(db)
    .await
    .expect("row versions")
}

#[tokio::test]
async fn re_ingesting_an_unchanged_corpus_writes_nothing() {
    let (db, _) = migrated_database().await;
    let corpus = CorpusCopy::new();
    let first = ingest(&db, &corpus.dir).await.expect("first ingest");
    assert_eq!(first.added.len(), 14, "{first}");
    assert!(first.skipped.is_empty(), "{first}");
    let before = row_versions(&db).await;
    assert!(before.len() > 100);

    let again = ingest(&db, &corpus.dir).await.expect("second ingest");

    assert!(again.wrote_nothing(), "{again}");
    assert_eq!(again.unchanged, 14);
    assert_eq!(again.chunks_written, 0);
    assert_eq!(row_versions(&db).await, before, "no row was rewritten");
}

#[tokio::test]
async fn changed_removed_and_bad_files_are_reflected_and_reported() {
    let (db, _) = migrated_database().await;
    let corpus = CorpusCopy::new();
    ingest(&db, &corpus.dir).await.expect("first ingest");
    corpus.append(
        "01-hardware/1-3-power-budget.mdx",
        "\n## Watchdog Timers\n\nA hardware watchdog timer reboots the logger when its sampling loop hangs for two minutes.\n",
    );
    corpus.remove("conclusion.md");
    corpus.write("broken.mdx", b"---\ntitle: [unclosed\n---\n# Broken\n");
    corpus.write("unclosed.md", b"---\ntitle: Never closed\n\n# Body\n");
    corpus.write(
        "01-hardware/binary.md",
        &[0x89, b'P', b'N', b'G', 0, 0, 0xff],
    );
    corpus.write("notes.txt", b"not markdown, ignored");

    let report = ingest(&db, &corpus.dir).await.expect("second ingest");

    assert_eq!(
        report.changed,
        ["01-hardware/1-3-power-budget.mdx"],
        "{report}"
    );
    assert_eq!(report.removed, ["conclusion.md"], "{report}");
    assert!(report.added.is_empty(), "{report}");
    assert_eq!(report.unchanged, 12, "{report}");
    let skipped: Vec<&str> = report.skipped.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        skipped,
        ["01-hardware/binary.md", "broken.mdx", "unclosed.md"],
        "{report}"
    );
    assert!(report.skipped.iter().all(|(_, why)| !why.is_empty()));

    let gone: i64 =
        sqlx::query_scalar("SELECT count(*) FROM corpus_chunks WHERE slug = '/conclusion'")
            .fetch_one(&db)
            .await
            .expect("count");
    assert_eq!(gone, 0, "a removed file's chunks are gone");
    let retriever = Retriever::new(db, 3, String::new());
    let found = retriever
        .retrieve("What does a watchdog timer do?", Hints::default())
        .await
        .expect("retrieve");
    assert_eq!(found[0].source.anchor, "watchdog-timers");
    assert_eq!(found[0].source.slug, "/01-hardware/1-3-power-budget");
}

#[tokio::test]
async fn readers_see_the_corpus_before_or_after_a_run_never_half_of_it() {
    let (db, _) = migrated_database().await;
    let corpus = CorpusCopy::new();
    ingest(&db, &corpus.dir).await.expect("first ingest");
    let old: i64 = sqlx::query_scalar("SELECT count(*) FROM corpus_chunks")
        .fetch_one(&db)
        .await
        .expect("count");
    for entry in walk(&corpus.dir) {
        corpus.append(&entry, "\n## Appendix\n\nOne more section.\n");
    }

    let reader = {
        let db = db.clone();
        tokio::spawn(async move {
            let mut seen = std::collections::BTreeSet::new();
            for _ in 0..400 {
                let n: i64 = sqlx::query_scalar("SELECT count(*) FROM corpus_chunks")
                    .fetch_one(&db)
                    .await
                    .expect("count");
                seen.insert(n);
                tokio::task::yield_now().await;
            }
            seen
        })
    };
    let report = ingest(&db, &corpus.dir).await.expect("second ingest");
    let seen = reader.await.expect("reader");

    assert_eq!(report.changed.len(), 14);
    let new = old + 14;
    assert!(
        seen.iter().all(|n| *n == old || *n == new),
        "half a corpus was visible: {seen:?}"
    );
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            for inner in walk(&path) {
                out.push(format!("{}/{inner}", entry.file_name().to_string_lossy()));
            }
        } else if path.extension().is_some_and(|e| e == "md" || e == "mdx") {
            out.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    out
}

#[tokio::test]
async fn a_directory_without_markdown_is_an_error_not_an_empty_corpus() {
    let (db, _) = migrated_database().await;
    let empty =
        std::env::temp_dir().join(format!("chatplane-empty-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&empty).expect("mkdir");
    let err = ingest(&db, &empty).await.expect_err("no markdown");
    assert!(matches!(err, IngestError::Empty(_)), "{err}");
    let err = ingest(&db, &empty.join("missing"))
        .await
        .expect_err("no dir");
    assert!(matches!(err, IngestError::Directory { .. }), "{err}");
    let _ = std::fs::remove_dir_all(empty);
}

#[tokio::test]
async fn the_ingest_command_reports_changes_names_bad_files_and_fails_only_for_real() {
    let (_, url) = migrated_database().await;
    let corpus = CorpusCopy::new();
    corpus.write("bad.md", b"---\nslug: [\n---\n");
    let run = |dir: std::path::PathBuf| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(BIN)
                .args(["ingest".as_ref(), dir.as_os_str()])
                .env("DATABASE_URL", url)
                .output()
                .expect("run ingest")
        })
    };

    let out = run(corpus.dir.clone()).await.expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("14 added, 0 changed, 0 removed, 0 unchanged, 1 skipped"),
        "{stdout}"
    );
    assert!(
        stdout.contains("skipped: bad.md: front matter is not valid YAML"),
        "{stdout}"
    );

    let out = run(corpus.dir.clone()).await.expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("0 added, 0 changed, 0 removed, 14 unchanged"),
        "{stdout}"
    );

    let out = run(corpus.dir.join("nowhere")).await.expect("join");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot read the corpus directory"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_service_is_ready_only_once_its_corpus_is_ingested() {
    let ready = TestApp::builder().corpus().spawn().await;
    let r = ready.get("/readyz", "").await;
    assert_eq!(r.body["corpus"], "ok", "{}", r.text);

    let empty =
        std::env::temp_dir().join(format!("chatplane-empty-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&empty).expect("mkdir");
    let app = TestApp::builder()
        .env("RAG_CORPUS_DIR", empty.display().to_string())
        .unready()
        .spawn()
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let r = app.get("/readyz", "").await;
    assert_eq!(r.status.as_u16(), 503, "{}", r.text);
    assert_eq!(r.body["corpus"], "not ingested");
    let _ = std::fs::remove_dir_all(empty);
}
