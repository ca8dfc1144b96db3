-- store::messages::append. Each pgbench client appends to its own user's conversation.
WITH c AS (
    UPDATE conversations SET updated_at = now()
     WHERE id = ('00000000-0000-4000-8000-' || lpad(:client_id::text, 12, '0'))::uuid
       AND user_id = 'bench-' || :client_id
    RETURNING id)
INSERT INTO messages (id, conversation_id, role, content, sources, agent_type, status)
SELECT gen_random_uuid(), c.id, 'user', 'benchmark message', '[]'::jsonb, NULL, 'complete' FROM c
RETURNING id, conversation_id, role, content, sources, agent_type, status, created_at;
