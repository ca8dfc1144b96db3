-- store::messages::append. Each pgbench client appends to its own user's append conversation
-- (…-9000-N; the page reads read …-8000-N, which no append changes).
-- The cap is the MAX_MESSAGES_PER_CONVERSATION history.sh gives the API (each client appends
-- to one conversation for the whole run); one slot per message.
WITH c AS (
    UPDATE conversations SET updated_at = now(), message_count = message_count + 1
     WHERE id = ('00000000-0000-4000-9000-' || lpad(:client_id::text, 12, '0'))::uuid
       AND user_id = 'bench-' || :client_id
       AND (1 = 0 OR message_count + 1 <= 100000000)
    RETURNING id)
INSERT INTO messages (id, conversation_id, role, content, sources, agent_type, status)
SELECT gen_random_uuid(), c.id, 'user', 'benchmark message', '[]'::jsonb, NULL, 'complete' FROM c
RETURNING id, conversation_id, role, content, sources, agent_type, status, created_at;
