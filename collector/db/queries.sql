-- Every SQL statement of Activity Console, by name. Load with collector.db.queries.
-- A block starts with "-- name: <name>" and runs to the next one.

-- name: create_migrations_table
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INT PRIMARY KEY,
    name       TEXT NOT NULL,
    checksum   TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- name: list_applied_migrations
SELECT version, name, checksum FROM schema_migrations ORDER BY version;

-- name: record_migration
INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3);

-- name: lock_migrations
SELECT pg_advisory_xact_lock(7317001);

-- name: ping
SELECT 1;

-- name: list_levels
SELECT id, name FROM activity_log_levels ORDER BY id;

-- name: list_sources
SELECT id, name FROM activity_log_sources ORDER BY id;

-- name: activity_log_id_block_size
-- How many ids one nextval() of the sequence reserves (migration 0003).
SELECT increment_by FROM pg_sequences
WHERE schemaname = current_schema() AND sequencename = 'activity_logs_id_seq';

-- name: begin_flush
-- The first thing a flush does in its transaction (migration 0005): take the commit-order lock,
-- reserve $1 blocks of ids (their first ids, ascending), record the request ids $2 (the new ones
-- come back as claimed) and notify every listening process, as $3, of the flush's id range.
SELECT first_ids, claimed FROM activity_begin_flush($1, $2::uuid[], $3);

-- name: activity_logs_committed_id_floor
-- Every id up to this one belongs to a flush that has ended; every later flush gets higher ones.
SELECT activity_committed_id_floor();

-- name: get_settings
SELECT retention_days_debug, retention_days_info, retention_days_warn, retention_days_error,
       batch_size, flush_interval_ms, updated_at
FROM activity_log_settings WHERE id = 1;

-- name: insert_ingest_token
INSERT INTO ingest_tokens (name, token_hash, token_prefix) VALUES ($1, $2, $3)
RETURNING id, name, token_prefix, created_at, revoked_at, last_used_at;

-- name: use_ingest_token
-- Verify a token and record its use; runs once per token per cache period, not per request.
UPDATE ingest_tokens SET last_used_at = now()
WHERE token_hash = $1 AND revoked_at IS NULL
RETURNING id;

-- name: revoke_ingest_token
UPDATE ingest_tokens SET revoked_at = now()
WHERE (id = $1 OR name = $2) AND revoked_at IS NULL
RETURNING id, name;

-- name: list_ingest_tokens
SELECT id, name, token_prefix, created_at, revoked_at, last_used_at FROM ingest_tokens ORDER BY id;

-- name: insert_user
INSERT INTO users (email, password_hash, role) VALUES ($1, $2, $3)
RETURNING id, email, role, created_at;

-- name: count_admins
SELECT count(*) FROM users WHERE role = 'admin';

-- name: update_settings
-- Partial update: a NULL argument keeps the current value. The row and its defaults come from
-- the migrations; without it nothing is updated and nothing returned.
UPDATE activity_log_settings SET
    retention_days_debug = COALESCE($1, retention_days_debug),
    retention_days_info  = COALESCE($2, retention_days_info),
    retention_days_warn  = COALESCE($3, retention_days_warn),
    retention_days_error = COALESCE($4, retention_days_error),
    batch_size           = COALESCE($5, batch_size),
    flush_interval_ms    = COALESCE($6, flush_interval_ms)
WHERE id = 1
RETURNING retention_days_debug, retention_days_info, retention_days_warn, retention_days_error,
          batch_size, flush_interval_ms, updated_at;

-- name: delete_activity_logs_chunk
-- One bounded chunk of a level's entries older than a cutoff (retention and manual purge).
WITH doomed AS (
    SELECT l.id FROM activity_logs l
    WHERE l.level_id = (SELECT id FROM activity_log_levels WHERE name = $1) AND l.timestamp < $2
    LIMIT $3
), deleted AS (
    DELETE FROM activity_logs WHERE id IN (SELECT id FROM doomed) RETURNING 1
)
SELECT count(*) FROM deleted;

-- ===== API =====
-- Accounts, projects and tokens for the HTTP API (api/accounts_store.py), and the fixed parts of
-- the log reads that repository.py assembles.

-- name: get_user_by_email
SELECT id, email, role, password_hash, created_at FROM users WHERE lower(email) = lower($1);

-- name: get_user
SELECT id, email, role, created_at FROM users WHERE id = $1;

-- name: list_users
SELECT id, email, role, created_at FROM users ORDER BY id;

-- name: list_user_project_ids
-- A creator's scope, read on every request they make.
SELECT project_id FROM project_members WHERE user_id = $1 ORDER BY project_id;

-- name: insert_project
INSERT INTO projects (name) VALUES ($1) RETURNING id, name, created_at;

-- name: list_projects
SELECT p.id, p.name, p.created_at,
       COALESCE(array_agg(m.user_id ORDER BY m.user_id) FILTER (WHERE m.user_id IS NOT NULL), '{}') AS member_ids
FROM projects p LEFT JOIN project_members m ON m.project_id = p.id
GROUP BY p.id ORDER BY p.id;

-- name: insert_project_member
-- Adding an existing membership again is not an error; the row is returned either way.
INSERT INTO project_members (project_id, user_id) VALUES ($1, $2)
ON CONFLICT (project_id, user_id) DO UPDATE SET project_id = EXCLUDED.project_id
RETURNING project_id, user_id, created_at;

-- name: delete_project_member
DELETE FROM project_members WHERE project_id = $1 AND user_id = $2 RETURNING project_id, user_id;

-- ===== Live tail =====

-- name: live_job_projects
-- The project of each job, to scope entries that carry only a job id (api.live.JobProjects).
SELECT id, project_id FROM jobs WHERE id = ANY($1::bigint[]);

-- name: live_accounts
-- The accounts behind open live-tail connections, re-read every few seconds (api.live).
SELECT id, email, role FROM users WHERE id = ANY($1::bigint[]);

-- name: live_memberships
SELECT user_id, project_id FROM project_members WHERE user_id = ANY($1::bigint[]) ORDER BY user_id, project_id;

-- ===== Demo =====
-- The demo's projects and jobs (api/demo.py). Its users go through insert_user and its
-- memberships through insert_project_member; jobs rows let entries that carry only a job id
-- follow the job's project, as in a real deployment.

-- name: demo_ensure_project
-- The project with this name, created when missing (a no-op update so RETURNING always has the row).
INSERT INTO projects (name) VALUES ($1)
ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
RETURNING id, name;

-- name: demo_insert_job
INSERT INTO jobs (project_id, name) VALUES ($1, $2) RETURNING id;

-- ===== Optional search index =====
-- A trigram index on the message serves free-text search of rare words, at a measured cost of
-- about a third of ingest throughput; so it is opt-in: activity-console search-index enable.

-- name: search_index_available
SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm');

-- name: search_index_exists
SELECT to_regclass('activity_logs_message_trgm_idx') IS NOT NULL;

-- name: create_search_extension
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- name: create_search_index
-- CONCURRENTLY: ingest goes on while the index is built (minutes on a large table).
CREATE INDEX CONCURRENTLY IF NOT EXISTS activity_logs_message_trgm_idx ON activity_logs USING gin (message gin_trgm_ops);

-- name: drop_search_index
DROP INDEX CONCURRENTLY IF EXISTS activity_logs_message_trgm_idx;

-- name: prune_ingest_requests
-- Forget request ids accepted before $1 (a version 7 UUID built from the cut-off time), a chunk
-- at a time; returns how many.
WITH doomed AS (SELECT id FROM ingest_requests WHERE id < $1 ORDER BY id LIMIT $2),
     gone AS (DELETE FROM ingest_requests WHERE id IN (SELECT id FROM doomed) RETURNING 1)
SELECT count(*) FROM gone;

-- name: try_lock_retention
-- One retention cycle at a time across every process on the database (session-level, without
-- waiting: a process that does not get it skips its cycle).
SELECT pg_try_advisory_lock(7317003);

-- name: unlock_retention
SELECT pg_advisory_unlock(7317003);

-- name: committed_entries_for_copy
-- Another process's committed entries for this one's live tail (collector/commit_feed.py): ids in
-- ($1, $2], at most $3, in id order, in the writer's columns (COPY_COLUMNS). Read with COPY ... TO
-- STDOUT in binary (asyncpg's copy_from_query wraps it), the live tail decodes them as it decodes
-- its own process's COPY tuples: no JSON conversion on either side.
SELECT id, timestamp, level_id, source_id, message, fields, category, entity_type, entity_id, user_id,
       job_id, project_id, trace_id, span_id, trace_flags, severity_number, severity_text, service_name,
       event_name, resource, scope_name, scope_version, admin_only
FROM activity_logs WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3
