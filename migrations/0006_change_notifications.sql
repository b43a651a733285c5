-- Activity Console schema, version 6: every server process hears of changes it caches.
--
-- Several processes may serve one database (docs/replicas.md). Each caches the batch writer's
-- settings, ingest-token verdicts and the accounts behind open live tails; a change made through
-- any of them (or by hand in SQL) notifies the channel activity_changes with the table's name,
-- and every process re-reads at once instead of at its next periodic check
-- (collector/commit_feed.py listens).
CREATE FUNCTION activity_notify_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('activity_changes', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER activity_log_settings_changed AFTER UPDATE ON activity_log_settings
    FOR EACH STATEMENT EXECUTE FUNCTION activity_notify_change();
-- Not on last_used_at, which every token's use updates.
CREATE TRIGGER ingest_tokens_changed AFTER UPDATE OF revoked_at, token_hash OR DELETE ON ingest_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION activity_notify_change();
CREATE TRIGGER users_changed AFTER UPDATE OF role, email OR DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION activity_notify_change();
CREATE TRIGGER project_members_changed AFTER INSERT OR UPDATE OR DELETE ON project_members
    FOR EACH STATEMENT EXECUTE FUNCTION activity_notify_change();
