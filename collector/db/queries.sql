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

-- name: reserve_flush
-- The first thing a flush does in its transaction (migration 0012): under the commit-order lock,
-- for a moment, reserve $1 blocks of ids (their first ids, ascending) and draw a turn, held until
-- the transaction ends; then record the request ids $2 (the new ones come back as claimed) and
-- notify every listening process, as $3, of the flush's id range.
SELECT first_ids, claimed, turn FROM activity_reserve_flush($1, $2::uuid[], $3);

-- name: give_back_session_locks
-- After a failed flush, before its connection goes back to the ingest pool (which skips asyncpg's
-- reset query): any session-level advisory lock the connection still holds.
SELECT pg_advisory_unlock_all();

-- name: await_turn
-- The last thing before a flush's COMMIT: wait until every flush with an earlier turn has ended.
SELECT activity_await_turn($1);

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
-- One bounded chunk of a level's entries (by level id) older than a cutoff (retention and manual
-- purge, after whole days were dropped: the day the cutoff falls in and the default partition).
-- The conditions on the partition keys are repeated on the DELETE so that it visits only those
-- partitions, and the chunk's ids come as an array, which each one's id index looks up (a join
-- made the planner scan them whole for every chunk).
WITH deleted AS (
    DELETE FROM activity_logs
    WHERE level_id = $1 AND timestamp < $2
      AND id = ANY(ARRAY(SELECT l.id FROM activity_logs l WHERE l.level_id = $1 AND l.timestamp < $2 LIMIT $3))
    RETURNING 1
)
SELECT count(*) FROM deleted;

-- ===== Partitions =====
-- activity_logs is partitioned by level, then by UTC day (migration 0007, collector/partitions.py).

-- name: list_day_partitions
-- Every level's attached day partitions, oldest first.
SELECT lv.name AS level, to_date(right(c.relname, 8), 'YYYYMMDD') AS day
FROM activity_log_levels lv
JOIN pg_inherits i ON i.inhparent = to_regclass('activity_logs_' || lv.name)
JOIN pg_class c ON c.oid = i.inhrelid
WHERE c.relname ~ '^activity_logs_[a-z]+_[0-9]{8}$'
ORDER BY lv.id, 2;

-- name: list_detached_day_tables
-- Day tables detached by a purge that ended before dropping them.
SELECT c.relname AS name FROM pg_class c
WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' AND NOT c.relispartition
  AND c.relname ~ '^activity_logs_[a-z]+_[0-9]{8}$'
ORDER BY 1;

-- name: create_day_partition
SELECT activity_logs_create_day($1, $2);

-- name: detach_day_partition
SELECT activity_logs_detach_day($1, $2);

-- name: drop_detached_day
SELECT activity_logs_drop_detached($1);

-- name: default_partition_days
SELECT day FROM activity_logs_default_days($1, $2, $3) AS day;

-- name: set_lock_timeout
-- For a transaction's DDL on the partition tree: give up rather than queue ingest and reads
-- behind a lock that a long read holds.
SELECT set_config('lock_timeout', $1, true);

-- name: set_session_lock_timeout
-- For statements that cannot run in a transaction block (CREATE INDEX CONCURRENTLY).
SELECT set_config('lock_timeout', $1, false);

-- name: reset_lock_timeout
RESET lock_timeout;

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

-- name: list_user_projects
-- What a creator may see, by name (`GET /auth/me`): the projects they belong to.
SELECT p.id, p.name FROM project_members m JOIN projects p ON p.id = m.project_id
WHERE m.user_id = $1 ORDER BY p.name, p.id;

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

-- name: lock_admins
-- The admins' rows, locked until the transaction ends, before a role change or a delete: two
-- admins demoting or deleting each other at once must not leave none (the second waits for the
-- first and then counts without it). In id order, so that concurrent lockers cannot deadlock.
SELECT id FROM users WHERE role = 'admin' ORDER BY id FOR UPDATE;

-- name: get_user_for_update
SELECT id, email, role, created_at FROM users WHERE id = $1 FOR UPDATE;

-- name: set_user_role
UPDATE users SET role = $2 WHERE id = $1 RETURNING id, email, role, created_at;

-- name: set_user_password
UPDATE users SET password_hash = $2 WHERE id = $1 RETURNING id, email, role, created_at;

-- name: delete_user
-- Memberships go with the user (ON DELETE CASCADE); their log entries stay.
DELETE FROM users WHERE id = $1 RETURNING id, email;

-- name: rename_project
UPDATE projects SET name = $2 WHERE id = $1
RETURNING id, name, created_at,
          ARRAY(SELECT user_id FROM project_members WHERE project_id = $1 ORDER BY user_id) AS member_ids;

-- name: delete_project
-- Memberships go with the project; its jobs keep their rows without it (ON DELETE SET NULL).
DELETE FROM projects WHERE id = $1 RETURNING id, name;

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
-- Valid only once every partition has its part of the index.
SELECT coalesce((SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('activity_logs_message_trgm_idx')), false);

-- name: create_search_extension
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- name: search_index_tables
-- The partition tree under activity_logs, parents before their partitions, with the name of each
-- table's part of the search index and of its parent's part, and whether that part exists
-- valid and attached.
WITH RECURSIVE tree(oid, parent, depth) AS (
    SELECT 'activity_logs'::regclass::oid, NULL::oid, 0
    UNION ALL
    SELECT i.inhrelid, i.inhparent, t.depth + 1 FROM pg_inherits i JOIN tree t ON i.inhparent = t.oid
), named AS (
    SELECT c.relname AS table_name, c.relkind = 'p' AS partitioned, t.depth,
           CASE WHEN t.depth = 0 THEN 'activity_logs_message_trgm_idx' ELSE c.relname || '_message_trgm_idx' END
               AS index_name,
           CASE WHEN t.depth = 1 THEN 'activity_logs_message_trgm_idx'
                WHEN t.depth > 1 THEN p.relname || '_message_trgm_idx' END AS parent_index_name
    FROM tree t JOIN pg_class c ON c.oid = t.oid LEFT JOIN pg_class p ON p.oid = t.parent
)
SELECT table_name, partitioned, index_name, parent_index_name,
       coalesce((SELECT x.indisvalid FROM pg_index x WHERE x.indexrelid = to_regclass(index_name)), false)
           AS index_valid
FROM named ORDER BY depth, table_name;

-- name: create_partitioned_search_index
-- A partitioned table's part of the index, empty until its partitions' parts are attached.
-- Templates ({index}, {table}, {parent_index}): names from search_index_tables, quoted by the caller.
CREATE INDEX IF NOT EXISTS {index} ON ONLY {table} USING gin (message gin_trgm_ops);

-- name: create_partition_search_index
-- CONCURRENTLY: ingest into the partition goes on while its part is built.
CREATE INDEX CONCURRENTLY IF NOT EXISTS {index} ON {table} USING gin (message gin_trgm_ops);

-- name: drop_index_concurrently
-- What an interrupted CONCURRENTLY build leaves, or an index another replaced.
DROP INDEX CONCURRENTLY IF EXISTS {index};

-- name: attach_search_index
ALTER INDEX {parent_index} ATTACH PARTITION {index};

-- name: drop_search_index
-- Dropping a partitioned index cannot be CONCURRENTLY: it locks the log table for a moment.
DROP INDEX IF EXISTS activity_logs_message_trgm_idx;

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

-- name: upsert_log_keys
-- The key catalogue's pending keys ($1..$5: bucket, scope, key, type, last seen as Unix seconds),
-- a bucket's new keys taken only while it holds fewer than $6 (a key already there only moves
-- its last_seen). Keys are locked in one order, so that two processes writing do not deadlock.
WITH incoming AS (
    SELECT DISTINCT ON (bucket, scope, key, type) bucket, scope, key, type, to_timestamp(seen) AS last_seen
    FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::float8[]) AS k(bucket, scope, key, type, seen)
    ORDER BY bucket, scope, key, type, seen DESC
), counts AS (
    SELECT bucket, count(*) AS held FROM log_keys WHERE bucket IN (SELECT bucket FROM incoming) GROUP BY bucket
)
INSERT INTO log_keys (bucket, scope, key, type, last_seen)
SELECT i.bucket, i.scope, i.key, i.type, i.last_seen FROM incoming i LEFT JOIN counts c USING (bucket)
WHERE COALESCE(c.held, 0) < $6
   OR EXISTS (SELECT 1 FROM log_keys k WHERE (k.bucket, k.scope, k.key, k.type) = (i.bucket, i.scope, i.key, i.type))
ORDER BY i.bucket, i.scope, i.key, i.type
ON CONFLICT (bucket, scope, key, type) DO UPDATE SET last_seen = GREATEST(log_keys.last_seen, EXCLUDED.last_seen);

-- name: list_log_keys
-- The catalogue's keys a scope may see ($1: every bucket for an admin; else $2: the caller's
-- projects, and 0), newest first, optionally starting with $3, at most $4.
SELECT scope, key, array_agg(DISTINCT type ORDER BY type) AS types, max(last_seen) AS last_seen
FROM log_keys
WHERE ($1 OR bucket = 0 OR bucket = ANY($2::bigint[])) AND ($3::text IS NULL OR starts_with(key, $3))
GROUP BY scope, key
ORDER BY max(last_seen) DESC, scope, key
LIMIT $4;

-- name: expire_log_keys
DELETE FROM log_keys WHERE last_seen < $1;

-- name: closed_days_missing_query_indexes
-- The day partitions of days before $1 (closed: past UTC days) that lack one of the query
-- indexes, or hold an invalid one, newest day first, with the index names (index_names,
-- CLOSED_DAY_INDEXES' order) and whether each exists valid.
WITH days AS (
    SELECT c.relname AS table_name, to_date(right(c.relname, 8), 'YYYYMMDD') AS day
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
    WHERE p.relname = ANY($2::text[]) AND c.relkind = 'r' AND c.relname ~ '_[0-9]{8}$'
)
SELECT d.table_name, d.day,
       array_agg(d.table_name || '_' || s.suffix ORDER BY s.ord) AS index_names,
       array_agg(coalesce(x.indisvalid, false) ORDER BY s.ord) AS index_valid
FROM days d
CROSS JOIN unnest($3::text[]) WITH ORDINALITY AS s(suffix, ord)
LEFT JOIN pg_index x ON x.indexrelid = to_regclass(d.table_name || '_' || s.suffix)
WHERE d.day < $1::date
GROUP BY d.table_name, d.day
HAVING NOT bool_and(coalesce(x.indisvalid, false))
ORDER BY d.day DESC, d.table_name;

-- name: create_day_fields_index
-- The query indexes of a day (collector/partitions.py): templates ({index}, {table}, {where}),
-- CONCURRENTLY: entries for that day go on being written meanwhile. {where} is empty for a
-- closed day, and bounds today's partial indexes (WHERE "timestamp" < <a constant>).
-- Keep the expressions identical to the query compiler's (collector/db/query_sql.py).
CREATE INDEX CONCURRENTLY IF NOT EXISTS {index} ON {table} USING gin (fields jsonb_path_ops) {where};

-- name: create_day_resource_index
CREATE INDEX CONCURRENTLY IF NOT EXISTS {index} ON {table} USING gin (resource jsonb_path_ops) {where};

-- name: create_day_words_index
-- The message's words as free-text search reads them (migration 0010).
CREATE INDEX CONCURRENTLY IF NOT EXISTS {index} ON {table} USING gin (activity_message_words(message)) {where};

-- name: create_day_service_index
CREATE INDEX CONCURRENTLY IF NOT EXISTS {index} ON {table} (service_name, timestamp) {where};

-- name: count_rows_between
-- Entries stamped in [$1, $2), counted up to $3.
SELECT count(*) FROM (SELECT 1 FROM activity_logs WHERE timestamp >= $1 AND timestamp < $2 LIMIT $3) AS counted;

-- name: partial_query_indexes
-- Today's partial query indexes (names ending in _to<HHMM>) on the tables $1, or on every day
-- table when $1 is NULL, with whether each is valid.
SELECT t.relname AS table_name, c.relname AS index_name, x.indisvalid AS valid
FROM pg_index x
JOIN pg_class c ON c.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
WHERE t.relnamespace = current_schema()::regnamespace
  AND t.relname ~ '^activity_logs_[a-z]+_[0-9]{8}$' AND ($1::text[] IS NULL OR t.relname = ANY($1::text[]))
  AND c.relname ~ '_to[0-9]{4}$'
ORDER BY 1, 2;

-- name: list_saved_views
-- The views a user may open ($1 the user, $2 an admin?): their own, those shared with a project
-- they belong to, and for an admin every shared view. Owner's email for display.
SELECT v.id, v.owner_id, u.email AS owner_email, v.name, v.q, v.range_from, v.range_to, v.mode, v.project_id,
       p.name AS project_name, v.created_at, v.updated_at
FROM saved_views v JOIN users u ON u.id = v.owner_id LEFT JOIN projects p ON p.id = v.project_id
WHERE v.owner_id = $1
   OR ($2 AND v.project_id IS NOT NULL)
   OR v.project_id IN (SELECT project_id FROM project_members WHERE user_id = $1)
ORDER BY lower(v.name), v.id;

-- name: get_saved_view
SELECT v.id, v.owner_id, u.email AS owner_email, v.name, v.q, v.range_from, v.range_to, v.mode, v.project_id,
       p.name AS project_name, v.created_at, v.updated_at
FROM saved_views v JOIN users u ON u.id = v.owner_id LEFT JOIN projects p ON p.id = v.project_id
WHERE v.id = $1
  AND (v.owner_id = $2 OR ($3 AND v.project_id IS NOT NULL)
       OR v.project_id IN (SELECT project_id FROM project_members WHERE user_id = $2));

-- name: insert_saved_view
INSERT INTO saved_views (owner_id, name, q, range_from, range_to, mode, project_id)
VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id;

-- name: update_saved_view
-- Only the owner changes a view ($2); NULL arguments leave a column as it is, except those named
-- in $9 (cleared).
UPDATE saved_views SET
    name = COALESCE($3, name), q = COALESCE($4, q),
    range_from = CASE WHEN 'range_from' = ANY($9::text[]) THEN NULL ELSE COALESCE($5, range_from) END,
    range_to = CASE WHEN 'range_to' = ANY($9::text[]) THEN NULL ELSE COALESCE($6, range_to) END,
    mode = CASE WHEN 'mode' = ANY($9::text[]) THEN NULL ELSE COALESCE($7, mode) END,
    project_id = CASE WHEN 'project_id' = ANY($9::text[]) THEN NULL ELSE COALESCE($8, project_id) END,
    updated_at = now()
WHERE id = $1 AND owner_id = $2
RETURNING id;

-- name: delete_saved_view
-- The owner, or an admin, deletes a view.
DELETE FROM saved_views WHERE id = $1 AND (owner_id = $2 OR $3) RETURNING id;

-- name: count_saved_views
SELECT count(*) FROM saved_views WHERE owner_id = $1;
