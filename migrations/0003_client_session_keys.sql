-- A client session key: the string the original chatbot's widget makes for one chat session
-- (`session_<ms>_<random>`) and sends as `session_id` with every question of it. The first use
-- creates a conversation bound to the key; later uses of the same key by the same user find it.
ALTER TABLE conversations
    ADD COLUMN client_key text CHECK (client_key IS NULL OR length(client_key) BETWEEN 1 AND 128);

-- One conversation per (user, key); another user's same key is another conversation.
-- NULLs are distinct, so conversations without a key are not constrained.
CREATE UNIQUE INDEX conversations_user_client_key ON conversations (user_id, client_key);
