-- store::messages::page (newest page of 50, no cursor). Each pgbench client reads its own
-- user's conversation, as each load-tool worker does; ids are built from :client_id.
SELECT m.id, m.role, m.content, m.sources, m.agent_type, m.status, m.created_at
  FROM conversations c
  LEFT JOIN LATERAL (
       SELECT id, role, content, sources, agent_type, status, created_at
         FROM messages
        WHERE conversation_id = c.id
          AND (NULL::timestamptz IS NULL OR (created_at, id) < (NULL::timestamptz, NULL::uuid))
        ORDER BY created_at DESC, id DESC
        LIMIT 51) m ON true
 WHERE c.id = ('00000000-0000-4000-8000-' || lpad(:client_id::text, 12, '0'))::uuid
   AND c.user_id = 'bench-' || :client_id;
