-- The page of bench/sql/read_page.sql built as one JSON array by PostgreSQL (json_agg of
-- row_to_json), to weigh against encoding the rows in the API: pgbench runs both and counts the
-- database's CPU per read (docs/BENCHMARKS.md). Not byte-identical to the API's reply
-- (timestamps in PostgreSQL's format); the cost is what it measures.
SELECT json_agg(row_to_json(p)) FROM (
SELECT m.id, c.id AS conversation_id, m.role, m.content, m.sources, m.agent_type,
       m.status, m.created_at
  FROM conversations c
  LEFT JOIN LATERAL (
       SELECT id, role, content, sources, agent_type, status, created_at
         FROM messages
        WHERE conversation_id = c.id
          AND (NULL::timestamptz IS NULL OR (created_at, id) < (NULL::timestamptz, NULL::uuid))
        ORDER BY created_at DESC, id DESC
        LIMIT 51) m ON true
 WHERE c.id = ('00000000-0000-4000-8000-' || lpad(:client_id::text, 12, '0'))::uuid
   AND c.user_id = 'bench-' || :client_id::text) p;
