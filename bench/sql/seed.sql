-- :workers users bench-N, each with a conversation of 200 messages that the page reads read
-- (…-8000-N) and an empty one that the appends append to (…-9000-N), so that every read, in
-- either layout and after any number of append runs, reads the same ~27 KB page.
INSERT INTO users (id, email, name)
SELECT 'bench-' || n, 'bench-' || n || '@example.test', 'Bench ' || n
  FROM generate_series(0, :workers - 1) n;
INSERT INTO conversations (id, user_id, title)
SELECT ('00000000-0000-4000-' || kind || '-' || lpad(n::text, 12, '0'))::uuid, 'bench-' || n, 'bench'
  FROM generate_series(0, :workers - 1) n, (VALUES ('8000'), ('9000')) AS kinds(kind);
INSERT INTO messages (id, conversation_id, role, content, sources, created_at)
SELECT gen_random_uuid(), ('00000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid,
       CASE WHEN i % 2 = 0 THEN 'user' ELSE 'assistant' END,
       'Message ' || i || ': ' || repeat('ROS 2 nodes talk over topics. ', 8),
       CASE WHEN i % 2 = 0 THEN '[]'::jsonb
            ELSE '[{"slug":"ros2/nodes","title":"Nodes","url":"/docs/ros2/nodes#topics","snippet":"A node","score":0.8}]'::jsonb END,
       now() - (200 - i) * interval '1 second'
  FROM generate_series(0, :workers - 1) n, generate_series(1, 200) i;
ANALYZE;
