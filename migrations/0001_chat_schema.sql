-- The chat history schema (DESIGN.md §4). Better Auth keeps its own tables in its own database:
-- nothing here can read a password hash, and the auth server's role cannot read this.

-- Mirrors Better Auth's user: the id is Better Auth's random string id (the JWT subject).
CREATE TABLE users (
    id         text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 255),
    email      text,
    name       text,
    image      text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE conversations (
    id         uuid PRIMARY KEY,
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title      text NOT NULL CHECK (length(title) BETWEEN 1 AND 10000),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Serves "my conversations, newest first" as a keyset scan; id breaks ties.
CREATE INDEX conversations_user_updated ON conversations (user_id, updated_at DESC, id DESC);

CREATE TABLE messages (
    id              uuid PRIMARY KEY,
    conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role            text NOT NULL CHECK (role IN ('user', 'assistant')),
    content         text NOT NULL,
    -- RAG sources: [{slug, title, url, snippet, score, ...}]
    sources         jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(sources) = 'array'),
    agent_type      text,
    -- complete | incomplete (a stream cut short) | failed (the model failed; content says so)
    status          text NOT NULL DEFAULT 'complete' CHECK (status IN ('complete', 'incomplete', 'failed')),
    -- clock_timestamp, not now(): two messages written in one transaction keep their order.
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    search          tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED
);

CREATE INDEX messages_conversation_created ON messages (conversation_id, created_at, id);
CREATE INDEX messages_search ON messages USING gin (search);
