//! For `make eval-rag` (scripts/eval-rag.sh): recall@3 of a question set on any corpus.
//! Usage: `eval_rag <corpus dir> <question file>`, with `TEST_DATABASE_URL` naming a PostgreSQL
//! server on which it may create a database. It creates a fresh database, migrates it, ingests
//! the corpus with the real `ingest`, asks every question through the real `Retriever` (top 3,
//! no hints), prints recall@3 and each miss, and drops the database again.

use std::path::PathBuf;

use anyhow::{Context, bail};
use chatplane_api::rag::Retriever;
use chatplane_api::rag::eval::{QuestionSet, Recall, recall};
use sqlx::{Connection, Executor, PgConnection, PgPool};

const TOP_K: u32 = 3;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let (Some(corpus), Some(questions), None) = (args.next(), args.next(), args.next()) else {
        bail!("usage: eval_rag <corpus dir> <question file>");
    };
    let (corpus, questions) = (PathBuf::from(corpus), PathBuf::from(questions));
    let set = QuestionSet::load(&questions)?;
    let admin = std::env::var("TEST_DATABASE_URL")
        .context("TEST_DATABASE_URL must name a PostgreSQL server to evaluate on")?;

    let name = format!("chatplane_eval_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(&admin)
        .await
        .context("connect to TEST_DATABASE_URL")?;
    conn.execute(sqlx::AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
        .await
        .context("create the evaluation database")?;
    let outcome = evaluate(&database_url(&admin, &name)?, &corpus, &set).await;
    conn.execute(sqlx::AssertSqlSafe(format!(
        r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
    )))
    .await
    .context("drop the evaluation database")?;
    outcome
}

/// The admin URL with its database part replaced by `name`.
fn database_url(admin: &str, name: &str) -> anyhow::Result<String> {
    let mut url = url::Url::parse(admin).context("TEST_DATABASE_URL is not a URL")?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

async fn evaluate(url: &str, corpus: &std::path::Path, set: &QuestionSet) -> anyhow::Result<()> {
    let pool = PgPool::connect(url).await.context("connect")?;
    chatplane_api::store::MIGRATOR
        .run(&pool)
        .await
        .context("migrate")?;
    let db = chatplane_api::store::Db::new(pool);
    let report = chatplane_api::ingest::ingest(&db, corpus)
        .await
        .with_context(|| format!("ingest {}", corpus.display()))?;
    let summary = report.to_string();
    println!(
        "corpus {}: {}",
        corpus.display(),
        summary.lines().next().unwrap_or_default()
    );
    for (path, why) in &report.skipped {
        println!("  skipped {path}: {why}");
    }
    let retriever = Retriever::new(db.clone(), TOP_K, String::new());
    let tuning = recall(&retriever, &set.questions).await?;
    let held_out = recall(&retriever, &set.held_out).await?;
    for miss in tuning.misses.iter().chain(&held_out.misses) {
        println!("{miss}");
    }
    let line = |label: &str, r: &Recall| {
        println!(
            "recall@{TOP_K} {label}: {:.3} ({} of {})",
            r.rate(),
            r.hits,
            r.asked
        );
    };
    line("tuning", &tuning);
    line("held out", &held_out);
    let all = Recall {
        asked: tuning.asked + held_out.asked,
        hits: tuning.hits + held_out.hits,
        misses: Vec::new(),
    };
    line("overall", &all);
    db.close().await;
    Ok(())
}
