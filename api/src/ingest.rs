//! Corpus ingestion: Markdown/MDX files under a directory into `corpus_chunks`.
//!
//! Idempotent by content hash: an unchanged file costs a hash comparison and no write, a
//! changed one is replaced, a removed one is removed. The whole run is one transaction, so
//! readers see the old corpus or the new one, never a mix. A file that cannot be parsed is
//! reported by name and skipped (a version ingested earlier stays), without aborting the run.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::rag::markdown::{self, MAX_FILE_BYTES, Page};
use crate::store::{Db, corpus};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IngestReport {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: usize,
    /// Files refused, with the reason.
    pub skipped: Vec<(String, String)>,
    /// Chunks written in this run.
    pub chunks_written: usize,
}

impl IngestReport {
    pub fn wrote_nothing(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

impl fmt::Display for IngestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} added, {} changed, {} removed, {} unchanged, {} skipped ({} chunks written)",
            self.added.len(),
            self.changed.len(),
            self.removed.len(),
            self.unchanged,
            self.skipped.len(),
            self.chunks_written
        )?;
        for (label, list) in [
            ("added", &self.added),
            ("changed", &self.changed),
            ("removed", &self.removed),
        ] {
            for path in list {
                writeln!(f, "  {label}: {path}")?;
            }
        }
        for (path, why) in &self.skipped {
            writeln!(f, "  skipped: {path}: {why}")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot read the corpus directory {dir}: {source}")]
    Directory {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Refusing to treat a wrong path as "every page was deleted".
    #[error("no Markdown files (.md, .mdx) under {0}")]
    Empty(PathBuf),
    #[error("database error while ingesting")]
    Database(#[from] sqlx::Error),
}

/// A file read from disk: its hash, and the page or why it was refused.
struct Source {
    hash: String,
    page: Result<Page, String>,
}

/// Ingests every `.md`/`.mdx` file under `dir`.
#[tracing::instrument(name = "Ingesting the corpus", skip(db))]
pub async fn ingest(db: &Db, dir: &Path) -> Result<IngestReport, IngestError> {
    let owned = dir.to_path_buf();
    let sources = tokio::task::spawn_blocking(move || read_dir(&owned))
        .await
        .map_err(|e| IngestError::Directory {
            dir: dir.to_path_buf(),
            source: std::io::Error::other(e),
        })??;
    if sources.is_empty() {
        return Err(IngestError::Empty(dir.to_path_buf()));
    }
    let mut report = IngestReport::default();
    let mut conn = db.acquire().await?;
    let mut tx = conn.begin().await?;
    corpus::lock_for_ingest(&mut tx).await?;
    let stored: HashMap<String, String> = corpus::files(&mut tx)
        .await?
        .into_iter()
        .map(|f| (f.path, f.file_hash))
        .collect();
    for path in stored.keys() {
        if !sources.contains_key(path) {
            corpus::remove(&mut tx, path).await?;
            report.removed.push(path.clone());
        }
    }
    for (path, source) in &sources {
        let page = match &source.page {
            Ok(page) => page,
            Err(why) => {
                tracing::warn!(file = %path, reason = %why, "corpus file skipped");
                report.skipped.push((path.clone(), why.clone()));
                continue;
            }
        };
        match stored.get(path) {
            Some(hash) if *hash == source.hash => {
                report.unchanged += 1;
                continue;
            }
            Some(_) => report.changed.push(path.clone()),
            None => report.added.push(path.clone()),
        }
        corpus::put(&mut tx, path, &source.hash, page).await?;
        report.chunks_written += page.chunks.len();
    }
    if !report.wrote_nothing() {
        corpus::refresh_terms(&mut tx).await?;
    }
    tx.commit().await?;
    conn.done();
    if !report.wrote_nothing()
        && let Err(e) = corpus::vacuum(db).await
    {
        tracing::warn!(error = %e, "cannot vacuum the corpus tables; autovacuum will");
    }
    tracing::info!(
        added = report.added.len(),
        changed = report.changed.len(),
        removed = report.removed.len(),
        unchanged = report.unchanged,
        skipped = report.skipped.len(),
        "corpus ingested"
    );
    Ok(report)
}

/// Reads and parses every Markdown file, keyed by its path relative to `dir` (`/` separators).
fn read_dir(dir: &Path) -> Result<BTreeMap<String, Source>, IngestError> {
    let io = |source| IngestError::Directory {
        dir: dir.to_path_buf(),
        source,
    };
    let mut out = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || name == "node_modules" {
                continue;
            }
            // Symlinked directories are not followed: no loops, nothing outside the tree.
            let kind = entry.file_type().map_err(io)?;
            let path = entry.path();
            if kind.is_dir() {
                pending.push(path);
                continue;
            }
            let is_markdown = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("md") || e.eq_ignore_ascii_case("mdx"));
            if !is_markdown {
                continue;
            }
            let rel = relative(dir, &path);
            out.insert(rel.clone(), read_file(&path, &rel));
        }
    }
    Ok(out)
}

fn relative(dir: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(dir).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn read_file(path: &Path, rel: &str) -> Source {
    let refused = |why: String| Source {
        hash: String::new(),
        page: Err(why),
    };
    match std::fs::metadata(path) {
        Ok(m) if m.len() > MAX_FILE_BYTES => {
            return refused(format!("larger than {MAX_FILE_BYTES} bytes"));
        }
        Ok(_) => {}
        Err(e) => return refused(format!("cannot read: {e}")),
    }
    match std::fs::read(path) {
        Ok(bytes) => Source {
            hash: corpus::sha256_hex(&bytes),
            page: markdown::parse(rel, &bytes).map_err(|e| e.to_string()),
        },
        Err(e) => refused(format!("cannot read: {e}")),
    }
}
