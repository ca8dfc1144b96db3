//! The corpus SQL. The corpus is the same documentation for every caller, so unlike the rest
//! of `store/` these queries take no `&UserId`: they never touch chat data.

use sqlx::PgConnection;

use super::Db;

use crate::rag::markdown::Page;

/// What an ingest run knows about a file already stored.
#[derive(Debug)]
pub struct StoredFile {
    pub path: String,
    pub file_hash: String,
}

/// Serialises ingest runs (two replicas starting together): the second waits, then finds
/// nothing to do. Held until the transaction ends.
pub async fn lock_for_ingest(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    // Any constant shared by all replicas works.
    sqlx::query!("SELECT pg_advisory_xact_lock(71636861)")
        .fetch_one(tx)
        .await?;
    Ok(())
}

pub async fn files(tx: &mut PgConnection) -> Result<Vec<StoredFile>, sqlx::Error> {
    sqlx::query_as!(
        StoredFile,
        "SELECT path, file_hash FROM corpus_files ORDER BY path"
    )
    .fetch_all(tx)
    .await
}

/// Removes a file, its postings and (by cascade) its chunks.
pub async fn remove(tx: &mut PgConnection, path: &str) -> Result<(), sqlx::Error> {
    sqlx::query!("DELETE FROM corpus_postings WHERE path = $1", path)
        .execute(&mut *tx)
        .await?;
    sqlx::query!("DELETE FROM corpus_files WHERE path = $1", path)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Writes a file's row and all its chunks (replacing earlier ones), one statement for the chunks.
pub async fn put(
    tx: &mut PgConnection,
    path: &str,
    file_hash: &str,
    page: &Page,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO corpus_files (path, slug, file_hash, chunk_count) VALUES ($1, $2, $3, $4)
         ON CONFLICT (path) DO UPDATE
            SET slug = EXCLUDED.slug, file_hash = EXCLUDED.file_hash,
                chunk_count = EXCLUDED.chunk_count, ingested_at = now()",
        path,
        page.slug,
        file_hash,
        i32::try_from(page.chunks.len()).unwrap_or(i32::MAX),
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("DELETE FROM corpus_postings WHERE path = $1", path)
        .execute(&mut *tx)
        .await?;
    sqlx::query!("DELETE FROM corpus_chunks WHERE path = $1", path)
        .execute(&mut *tx)
        .await?;
    if page.chunks.is_empty() {
        return Ok(());
    }
    let n = page.chunks.len();
    let positions: Vec<i32> = (0..n)
        .map(|i| i32::try_from(i).unwrap_or(i32::MAX))
        .collect();
    let headings: Vec<&str> = page.chunks.iter().map(|c| c.heading.as_str()).collect();
    let paths: Vec<&str> = page
        .chunks
        .iter()
        .map(|c| c.heading_path.as_str())
        .collect();
    let anchors: Vec<&str> = page.chunks.iter().map(|c| c.anchor.as_str()).collect();
    let contents: Vec<&str> = page.chunks.iter().map(|c| c.content.as_str()).collect();
    let hashes: Vec<String> = page.chunks.iter().map(|c| sha256_hex(&c.content)).collect();
    // `as &[&str]`: the macro checks text[] against String slices; borrowed ones encode the same.
    sqlx::query!(
        "INSERT INTO corpus_chunks (path, slug, title, chapter_number, page_number,
                                    position, heading, heading_path, anchor, content, content_hash)
         SELECT $1, $2, $3, $4, $5, t.*
           FROM unnest($6::int[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[]) AS t",
        path,
        page.slug,
        page.title,
        page.chapter_number,
        page.page_number,
        &positions,
        &headings as &[&str],
        &paths as &[&str],
        &anchors as &[&str],
        &contents as &[&str],
        &hashes,
    )
    .execute(&mut *tx)
    .await?;
    // A term in the section's own heading (weight class A) counts twice a term anywhere else:
    // the heading names the section's subject. Heavier weights let whole lessons win on their
    // title and lost recall on the question set.
    sqlx::query!(
        "INSERT INTO corpus_postings (path, word, chunk_id, wtf, len)
         SELECT c.path, u.lexeme, c.id,
                (SELECT sum(CASE w WHEN 'A' THEN 1.0 ELSE 0.5 END) FROM unnest(u.weights) w),
                l.len
           FROM corpus_chunks c
           CROSS JOIN LATERAL (SELECT sum(cardinality(positions))::int AS len
                                 FROM unnest(c.tsv)) l
           CROSS JOIN LATERAL unnest(c.tsv) u
          WHERE c.path = $1",
        path,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Recounts the chunks holding each term, the corpus size and the mean chunk length (after
/// any change, in the ingest transaction).
pub async fn refresh_terms(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query!("DELETE FROM corpus_terms")
        .execute(&mut *tx)
        .await?;
    sqlx::query!(
        "INSERT INTO corpus_terms (word, ndoc)
         SELECT word, count(*) FROM corpus_postings GROUP BY word",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO corpus_stats (chunks, avg_len)
         SELECT count(*), coalesce(avg(len), 1)
           FROM (SELECT DISTINCT chunk_id, len FROM corpus_postings) c
         ON CONFLICT (id) DO UPDATE SET chunks = EXCLUDED.chunks, avg_len = EXCLUDED.avg_len",
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Refreshes the planner statistics and the visibility map after a run that changed the
/// corpus, so ranking reads the postings index without visiting the table. Outside the
/// transaction (VACUUM cannot run in one); autovacuum would get there too, later.
pub async fn vacuum(db: &Db) -> Result<(), sqlx::Error> {
    sqlx::query!("VACUUM (ANALYZE) corpus_postings, corpus_terms, corpus_stats")
        .execute(db)
        .await?;
    Ok(())
}

pub fn sha256_hex(text: impl AsRef<[u8]>) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(text.as_ref()))
}

/// A retrieved passage.
#[derive(Debug, Clone)]
pub struct Passage {
    pub slug: String,
    pub title: String,
    pub heading: String,
    pub anchor: String,
    pub content: String,
    pub chapter_number: Option<i32>,
    pub page_number: Option<i32>,
    pub score: f32,
}

/// How a question is matched and ranked (see `rag::retriever` for the reasons).
#[derive(Debug, Clone, Copy)]
pub struct Ranking {
    /// BM25's term-frequency saturation and length normalisation.
    pub k1: f64,
    pub b: f64,
    /// Terms in more than this share of the chunks are left out of a question that has rarer
    /// ones: they barely change the ranking and are what costs time.
    pub common_share: f64,
    /// Weight of the `highlighted_text` terms relative to the question's.
    pub hint_weight: f64,
    /// Factor for chunks of the page the reader is on.
    pub page_boost: f64,
    /// At most this many distinct terms are taken from the highlighted text (its most frequent).
    pub hint_terms: i32,
}

/// Top `k` passages for `query`, with `highlight` and `page` (a slug) as hints.
///
/// BM25 over the postings: every chunk holding any of the question's stemmed terms is a
/// candidate (a natural question rarely contains every word of the passage that answers it, so
/// AND, as in websearch_to_tsquery, misses most answers), and scores the sum over those terms of
/// idf × saturated, length-normalised weighted frequency. Stop words vanish in `to_tsvector`; a
/// question of only stop words (or of words the corpus lacks) matches nothing.
pub async fn search(
    db: &Db,
    query: &str,
    highlight: Option<&str>,
    page: Option<&str>,
    k: u32,
    ranking: Ranking,
) -> Result<Vec<Passage>, sqlx::Error> {
    sqlx::query_as!(
        Passage,
        r#"WITH stats AS MATERIALIZED (
            SELECT chunks, avg_len FROM corpus_stats
         ), words AS (
            SELECT lexeme, 1.0::float8 AS weight FROM unnest(to_tsvector('english', $1))
            UNION ALL
            SELECT lexeme, $5::float8
              FROM (SELECT lexeme FROM unnest(to_tsvector('english', coalesce($2, '')))
                     ORDER BY cardinality(positions) DESC, lexeme LIMIT $7) h
         ), found AS MATERIALIZED (
            SELECT w.lexeme, t.ndoc,
                   sum(w.weight) * ln(1 + ((SELECT chunks FROM stats) - t.ndoc + 0.5)
                                          / (t.ndoc + 0.5)) AS idf
              FROM words w JOIN corpus_terms t ON t.word = w.lexeme
             GROUP BY w.lexeme, t.ndoc
         ), terms AS (
            SELECT lexeme, idf FROM found
             WHERE ndoc <= $10::float8 * (SELECT chunks FROM stats)
                OR NOT EXISTS (SELECT 1 FROM found WHERE ndoc <= $10::float8 * (SELECT chunks FROM stats))
         ), top AS (
            SELECT p.chunk_id,
                   sum(t.idf * p.wtf * ($8::float8 + 1)
                       / (p.wtf + $8 * (1 - $9::float8 + $9 * p.len / (SELECT avg_len FROM stats))))
                   * CASE WHEN p.chunk_id IN (SELECT id FROM corpus_chunks WHERE slug = $3)
                          THEN $6::float8 ELSE 1 END AS score
              FROM terms t JOIN corpus_postings p ON p.word = t.lexeme
             GROUP BY p.chunk_id
             ORDER BY score DESC, p.chunk_id
             LIMIT $4
         )
         SELECT c.slug, c.title, c.heading, c.anchor, c.content, c.chapter_number,
                c.page_number, top.score::float4 AS "score!"
           FROM top JOIN corpus_chunks c ON c.id = top.chunk_id
          ORDER BY top.score DESC, c.id"#,
        query,
        highlight,
        page,
        i64::from(k),
        ranking.hint_weight,
        ranking.page_boost,
        i64::from(ranking.hint_terms),
        ranking.k1,
        ranking.b,
        ranking.common_share,
    )
    .fetch_all(db)
    .await
}

/// The text of one page in reading order (for summarising the page the reader is on).
pub async fn page_text(db: &Db, slug: &str, max_chunks: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT content FROM corpus_chunks WHERE slug = $1 ORDER BY path, position LIMIT $2",
        slug,
        max_chunks,
    )
    .fetch_all(db)
    .await
}
