-- Activity Console schema, version 8: an active ingest token's name is unique.
--
-- A name is how people tell tokens apart in lists and how `activity-console token revoke NAME`
-- picks one; two active tokens with one name make both ambiguous. Revoked tokens keep their names
-- (a name may be reused once its token is revoked), so the index covers active tokens only.
--
-- Databases from before this version may already hold active tokens that share a name. Creating
-- the index would fail on them, so they are renamed first, deterministically: in each group of
-- active tokens with one name the oldest (lowest id) keeps it and every other becomes
-- "<name> (<id>)", with " (<id>)" appended again in the unlikely case that name is taken too.
-- No token stops working: only its name changes.
DO $$
DECLARE
    duplicate RECORD;
    renamed TEXT;
BEGIN
    FOR duplicate IN
        SELECT id, name FROM (
            SELECT id, name, row_number() OVER (PARTITION BY name ORDER BY id) AS nth
            FROM ingest_tokens WHERE revoked_at IS NULL
        ) AS numbered
        WHERE nth > 1 ORDER BY id
    LOOP
        renamed := duplicate.name || ' (' || duplicate.id || ')';
        WHILE EXISTS (SELECT 1 FROM ingest_tokens WHERE name = renamed AND revoked_at IS NULL) LOOP
            renamed := renamed || ' (' || duplicate.id || ')';
        END LOOP;
        UPDATE ingest_tokens SET name = renamed WHERE id = duplicate.id;
    END LOOP;
END
$$;

CREATE UNIQUE INDEX ingest_tokens_active_name_key ON ingest_tokens (name) WHERE revoked_at IS NULL;
