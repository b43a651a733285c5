-- Activity Console schema, version 2: entries only admins see, and shortened views of large entries.

-- The server's own operational records (its warnings and errors, aggregated reports of refused
-- or malformed traffic, retention runs) are for admins: a creator's scope never includes them,
-- although they carry neither a user nor a project. A constant default makes this a catalog-only
-- change, whatever the table's size.
ALTER TABLE activity_logs ADD COLUMN admin_only BOOLEAN NOT NULL DEFAULT false;

-- The preview of a large fields/resource map in list views (docs/security.md, "Large entries"):
-- its first 50 keys in jsonb's own key order, keys cut at 256 characters, string values at 1,024,
-- and nested objects or arrays whose JSON text is longer than 1,024 characters replaced by the
-- first 1,024 characters of that text. collector/preview.py is the same rule in Python, for the
-- live tail.
CREATE FUNCTION activity_json_preview(m jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(m) <> 'object' THEN to_jsonb(left(m::text, 1024)) ELSE (
        SELECT coalesce(jsonb_object_agg(left(key, 256), CASE
                   WHEN jsonb_typeof(value) = 'string' THEN to_jsonb(left(value #>> '{}', 1024))
                   WHEN jsonb_typeof(value) IN ('object', 'array') AND char_length(value::text) > 1024
                       THEN to_jsonb(left(value::text, 1024))
                   ELSE value END), '{}'::jsonb)
        FROM (SELECT key, value FROM jsonb_each(m) LIMIT 50) first_keys
    ) END
$$;
