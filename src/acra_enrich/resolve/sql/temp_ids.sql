-- One row per id family; the row lock taken by the upsert serialises allocators, so
-- every caller gets its own numbers under any concurrency. Self-healing if the row is gone.

-- name: allocate
INSERT INTO temp_id_sequence AS s (name, last_value) VALUES (%(name)s, %(count)s)
ON CONFLICT (name) DO UPDATE SET last_value = s.last_value + %(count)s
RETURNING last_value

-- name: peek
SELECT last_value FROM temp_id_sequence WHERE name = %(name)s
