-- The RAG corpus (DESIGN.md §4). Not per-user: every caller reads the same documentation.
-- An ingest run replaces changed files inside one transaction, so readers see the corpus before
-- or after a run, never half of it.

-- One row per source file: its hash lets a re-ingest skip unchanged files without a write.
CREATE TABLE corpus_files (
    path        text PRIMARY KEY CHECK (length(path) BETWEEN 1 AND 1024),
    slug        text NOT NULL,
    file_hash   text NOT NULL,
    chunk_count integer NOT NULL,
    ingested_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE corpus_chunks (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    path           text NOT NULL REFERENCES corpus_files (path) ON DELETE CASCADE,
    -- Order of the chunk inside its file.
    position       integer NOT NULL,
    slug           text NOT NULL,
    title          text NOT NULL,
    -- The section heading, and the headings above it ("Parent › Child") for ranking.
    heading        text NOT NULL,
    heading_path   text NOT NULL,
    -- The heading's id on the rendered page (github-slugger rules, as Docusaurus renders it).
    anchor         text NOT NULL,
    content        text NOT NULL,
    chapter_number integer,
    page_number    integer,
    content_hash   text NOT NULL,
    -- The source of the postings below. Title, section heading, parent headings and body keep
    -- their own weight classes so ranking can tell them apart.
    tsv            tsvector GENERATED ALWAYS AS (
                       setweight(to_tsvector('english', heading), 'A')
                    || setweight(to_tsvector('english', title), 'B')
                    || setweight(to_tsvector('english', heading_path), 'C')
                    || setweight(to_tsvector('english', content), 'D')) STORED,
    UNIQUE (path, position)
);

CREATE INDEX corpus_chunks_slug ON corpus_chunks (slug);

-- An inverted index for BM25 ranking: one row per (term, chunk) with the term's weighted
-- frequency (an occurrence in the section heading counts 1, elsewhere 0.5) and the chunk's
-- length. Ranking reads only the rows of the question's terms, from the covering index, instead
-- of ranking every matching tsvector: over 10,000 chunks that is the difference between tens of
-- milliseconds and a few. Written with the chunks, in the same transaction.
CREATE TABLE corpus_postings (
    path     text NOT NULL,
    word     text NOT NULL,
    chunk_id bigint NOT NULL,
    wtf      real NOT NULL,
    len      integer NOT NULL
);
CREATE INDEX corpus_postings_word ON corpus_postings (word) INCLUDE (chunk_id, wtf, len);
CREATE INDEX corpus_postings_path ON corpus_postings (path);

-- How many chunks hold each term (the inverse document frequency that makes a rare word of a
-- question count more than "robot"), and the corpus size and mean chunk length. Rebuilt by every
-- ingest run that changes the corpus.
CREATE TABLE corpus_terms (
    word text PRIMARY KEY,
    ndoc integer NOT NULL
);
CREATE TABLE corpus_stats (
    id      boolean PRIMARY KEY DEFAULT true CHECK (id),
    chunks  double precision NOT NULL,
    avg_len double precision NOT NULL
);
