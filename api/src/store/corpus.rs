//! The corpus SQL. The corpus is the same documentation for every caller, so unlike the rest
//! of `store/` these queries take no `&UserId`: they never touch chat data.

use sqlx::{PgConnection, PgPool};

use crate::rag::markdown::Page;

/// What an ingest run knows about a file already stored.
#[derive(Debug, sqlx::FromRow)]
pub struct StoredFile {
    pub path: String,
    pub file_hash: String,
}

/// Serialises ingest runs (two replicas starting together): the second waits, then finds
/// nothing to do. Held until the transaction ends.
pub async fn lock_for_ingest(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    // Any constant shared by all replicas works.
    sqlx::query("SELECT pg_advisory_xact_lock(71636861)")
        .execute(tx)
        .await?;
    Ok(())
}

pub async fn files(tx: &mut PgConnection) -> Result<Vec<StoredFile>, sqlx::Error> {
    sqlx::query_as("SELECT path, file_hash FROM corpus_files ORDER BY path")
        .fetch_all(tx)
        .await
}

/// Removes a file and, by cascade, its chunks.
pub async fn remove(tx: &mut PgConnection, path: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM corpus_files WHERE path = $1")
        .bind(path)
        .execute(tx)
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
    sqlx::query(
        "INSERT INTO corpus_files (path, slug, file_hash, chunk_count) VALUES ($1, $2, $3, $4)
         ON CONFLICT (path) DO UPDATE
            SET slug = EXCLUDED.slug, file_hash = EXCLUDED.file_hash,
                chunk_count = EXCLUDED.chunk_count, ingested_at = now()",
    )
    .bind(path)
    .bind(&page.slug)
    .bind(file_hash)
    .bind(i32::try_from(page.chunks.len()).unwrap_or(i32::MAX))
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM corpus_chunks WHERE path = $1")
        .bind(path)
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
    sqlx::query(
        "INSERT INTO corpus_chunks (path, slug, title, chapter_number, page_number,
                                    position, heading, heading_path, anchor, content, content_hash)
         SELECT $1, $2, $3, $4, $5, t.*
           FROM unnest($6::int[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[]) AS t",
    )
    .bind(path)
    .bind(&page.slug)
    .bind(&page.title)
    .bind(page.chapter_number)
    .bind(page.page_number)
    .bind(positions)
    .bind(headings)
    .bind(paths)
    .bind(anchors)
    .bind(contents)
    .bind(hashes)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Recounts the chunks holding each term (after any change, in the ingest transaction).
pub async fn refresh_terms(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM corpus_terms")
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO corpus_terms (word, ndoc)
         SELECT word, ndoc FROM ts_stat('SELECT tsv FROM corpus_chunks')",
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub fn sha256_hex(text: impl AsRef<[u8]>) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(text.as_ref()))
}

/// A retrieved passage.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Passage {
    pub slug: String,
    pub title: String,
    pub heading: String,
    pub anchor: String,
    pub content: String,
    pub chapter_number: Option<i32>,
    pub page_number: Option<i32>,
    pub snippet: String,
    pub score: f32,
}

/// How a question is matched and ranked (see `rag::retriever` for the reasons).
#[derive(Debug, Clone, Copy)]
pub struct Ranking {
    /// ts_rank weights for {D (body), C (parent headings), B (title), A (the section heading)}.
    pub weights: [f32; 4],
    /// Weight of the `highlighted_text` terms relative to the question's.
    pub hint_weight: f64,
    /// Factor for chunks of the page the reader is on.
    pub page_boost: f64,
    /// At most this many distinct terms are taken from the highlighted text (its most frequent).
    pub hint_terms: i32,
}

/// Top `k` passages for `query`, with `highlight` and `page` (a slug) as hints.
///
/// Each stemmed term of the question is a prefix match, and a chunk matching any of them is a
/// candidate: a natural question rarely contains every word of the passage that answers it, so
/// AND (websearch_to_tsquery) would miss most answers. A candidate scores the sum, over the
/// terms it holds, of the term's weighted `ts_rank` times its inverse document frequency
/// (BM25's), so "zero moment point" outweighs "robot". Stop words vanish in `to_tsvector`; a
/// question of only stop words matches nothing.
pub async fn search(
    db: &PgPool,
    query: &str,
    highlight: Option<&str>,
    page: Option<&str>,
    k: u32,
    ranking: Ranking,
) -> Result<Vec<Passage>, sqlx::Error> {
    sqlx::query_as(
        "WITH n AS (
            SELECT greatest(coalesce(sum(chunk_count), 0), 1)::float8 AS total FROM corpus_files
         ), words AS (
            SELECT lexeme, 1.0::float8 AS weight FROM unnest(to_tsvector('english', $1))
            UNION ALL
            SELECT lexeme, $6::float8
              FROM (SELECT lexeme FROM unnest(to_tsvector('english', coalesce($2, '')))
                     ORDER BY cardinality(positions) DESC, lexeme LIMIT $8) h
         ), terms AS (
            SELECT to_tsquery('simple', quote_literal(w.lexeme) || ':*') AS tq,
                   w.weight * ln(1 + (n.total - coalesce(t.ndoc, 0) + 0.5)
                                     / (coalesce(t.ndoc, 0) + 0.5)) AS idf
              FROM words w CROSS JOIN n LEFT JOIN corpus_terms t ON t.word = w.lexeme
         ), q AS (
            SELECT string_agg(tq::text, ' | ')::tsquery AS any_term FROM terms
         ), top AS (
            SELECT c.id,
                   (sum(terms.idf * ts_rank($5::float4[], c.tsv, terms.tq, 1))
                    * CASE WHEN c.slug = $3 THEN $7::float8 ELSE 1 END)::float4 AS score
              FROM q
              JOIN corpus_chunks c ON c.tsv @@ q.any_term
              JOIN terms ON c.tsv @@ terms.tq
             GROUP BY c.id
             ORDER BY score DESC, c.id
             LIMIT $4
         )
         SELECT c.slug, c.title, c.heading, c.anchor, c.content, c.chapter_number,
                c.page_number, top.score,
                ts_headline('english', c.content, q.any_term,
                            'MaxWords=40, MinWords=15, MaxFragments=2, StartSel=\"\", StopSel=\"\"')
                    AS snippet
           FROM top JOIN corpus_chunks c USING (id) CROSS JOIN q
          ORDER BY top.score DESC, c.id",
    )
    .bind(query)
    .bind(highlight)
    .bind(page)
    .bind(i64::from(k))
    .bind(ranking.weights.to_vec())
    .bind(ranking.hint_weight)
    .bind(ranking.page_boost)
    .bind(i64::from(ranking.hint_terms))
    .fetch_all(db)
    .await
}

/// The text of one page in reading order (for summarising the page the reader is on).
pub async fn page_text(
    db: &PgPool,
    slug: &str,
    max_chunks: i64,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT content FROM corpus_chunks WHERE slug = $1 ORDER BY path, position LIMIT $2",
    )
    .bind(slug)
    .bind(max_chunks)
    .fetch_all(db)
    .await
}

/// Chunks in the corpus (readiness and reports).
pub async fn chunk_count(db: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM corpus_chunks")
        .fetch_one(db)
        .await
}
