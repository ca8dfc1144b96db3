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
    -- A section's own heading names its subject: it weighs twice the rest (the weights are
    -- given at query time, see rag/retriever.rs). Title and parent headings keep their own
    -- classes so ranking can tell them apart.
    tsv            tsvector GENERATED ALWAYS AS (
                       setweight(to_tsvector('english', heading), 'A')
                    || setweight(to_tsvector('english', title), 'B')
                    || setweight(to_tsvector('english', heading_path), 'C')
                    || setweight(to_tsvector('english', content), 'D')) STORED,
    UNIQUE (path, position)
);

CREATE INDEX corpus_chunks_tsv ON corpus_chunks USING gin (tsv);
CREATE INDEX corpus_chunks_slug ON corpus_chunks (slug);

-- How many chunks hold each term: the inverse document frequency that makes a rare word of a
-- question count more than "robot". Rebuilt by every ingest run that changes the corpus.
CREATE TABLE corpus_terms (
    word text PRIMARY KEY,
    ndoc integer NOT NULL
);
