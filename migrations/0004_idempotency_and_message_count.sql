-- Idempotent appends (issue 13): a client that retries `POST /conversations/{id}/messages` or
-- `POST /agents/run` with the same `Idempotency-Key` gets the first result instead of a second
-- stored message. A key belongs to one user (another user's same key is another record) and is
-- written in the same transaction as the message(s) it created.
CREATE TABLE idempotency_keys (
    user_id         text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key             text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    -- SHA-256 of the method, the route, the conversation (when in the path) and the canonical
    -- JSON of the parsed body: the same key with another request is refused (422).
    fingerprint     bytea NOT NULL CHECK (length(fingerprint) = 32),
    -- The conversation the request wrote to: deleting it deletes the key with it.
    conversation_id uuid REFERENCES conversations (id) ON DELETE CASCADE,
    -- /agents/run: the stored question, so a retry after a lost answer resumes from it instead
    -- of storing it twice.
    question_id     uuid,
    -- NULL while the request is in flight (an /agents/run waiting for the model).
    response_status smallint CHECK (response_status BETWEEN 100 AND 599),
    -- The first response's body, byte for byte as it was sent.
    response_body   text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- When the request in flight last claimed the key (a claim older than the in-flight bound
    -- is abandoned and may be taken over).
    locked_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key),
    CHECK ((response_status IS NULL) = (response_body IS NULL))
);

-- The expiry sweep deletes by age.
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
-- ON DELETE CASCADE from conversations looks keys up by conversation.
CREATE INDEX idempotency_keys_conversation ON idempotency_keys (conversation_id)
    WHERE conversation_id IS NOT NULL;

-- The per-conversation message cap (MAX_MESSAGES_PER_CONVERSATION): the append statement
-- increments this in the UPDATE that locks the conversation row, only while it stays within
-- the cap, so concurrent appends cannot pass it. It counts stored messages plus the answer
-- slot an /agents/run reserves with its question.
ALTER TABLE conversations ADD COLUMN message_count integer NOT NULL DEFAULT 0
    CHECK (message_count >= 0);
UPDATE conversations c
   SET message_count = (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id);
