-- Activity Console schema, version 7: activity_logs partitioned by level, then by day.
--
-- Retention used to delete row by row, which took time in proportion to the rows and left the
-- table its size until vacuum. Now each level is its own range-partitioned table of one partition
-- per UTC day (activity_logs_<level>_<YYYYMMDD>), so that retention, whose cut-off differs per
-- level, drops whole days of each level: constant time, and the space is returned at once.
-- Each level also has a default partition (activity_logs_<level>_other) for timestamps no day
-- partition covers yet (back-filled or far in the future): nothing is ever refused for its
-- timestamp. The server creates days ahead and moves a default partition's rows into a day of
-- their own (collector/partitions.py, docs/schema.md).
--
-- This migration converts the table with its rows: it copies them into the new table inside the
-- migration's transaction (about as fast as COPY), so a large table takes a while to migrate.

CREATE TEMPORARY TABLE activity_search_index_was_enabled ON COMMIT DROP AS
    SELECT to_regclass('activity_logs_message_trgm_idx') IS NOT NULL AS enabled;
-- Free the index names (the old table's indexes are not needed to read it once).
ALTER TABLE activity_logs DROP CONSTRAINT activity_logs_pkey;
DROP INDEX activity_logs_timestamp_idx, activity_logs_trace_id_idx, activity_logs_entity_idx,
    activity_logs_job_id_idx;
DROP INDEX IF EXISTS activity_logs_message_trgm_idx;  -- the optional search index: rebuilt below
ALTER TABLE activity_logs RENAME TO activity_logs_unpartitioned;

CREATE TABLE activity_logs (LIKE activity_logs_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY LIST (level_id);
-- The id sequence belongs to the new table (dropping the old one would drop it otherwise).
ALTER SEQUENCE activity_logs_id_seq OWNED BY activity_logs.id;

CREATE TABLE activity_logs_debug PARTITION OF activity_logs FOR VALUES IN (1) PARTITION BY RANGE (timestamp);
CREATE TABLE activity_logs_info PARTITION OF activity_logs FOR VALUES IN (2) PARTITION BY RANGE (timestamp);
CREATE TABLE activity_logs_warn PARTITION OF activity_logs FOR VALUES IN (3) PARTITION BY RANGE (timestamp);
CREATE TABLE activity_logs_error PARTITION OF activity_logs FOR VALUES IN (4) PARTITION BY RANGE (timestamp);
CREATE TABLE activity_logs_debug_other PARTITION OF activity_logs_debug DEFAULT;
CREATE TABLE activity_logs_info_other PARTITION OF activity_logs_info DEFAULT;
CREATE TABLE activity_logs_warn_other PARTITION OF activity_logs_warn DEFAULT;
CREATE TABLE activity_logs_error_other PARTITION OF activity_logs_error DEFAULT;

-- The day partition of a level (its name in the activity_log_levels table) for a UTC day.
CREATE FUNCTION activity_logs_day_partition(level_name text, day date) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT format('activity_logs_%s_%s', level_name, to_char(day, 'YYYYMMDD'))
$$;

-- Creates a level's partition for a UTC day unless it exists, moving the rows of that day out
-- of the level's default partition into it. Returns the rows moved, or NULL when the partition
-- existed. Built beside the tree and attached (ATTACH takes a lock that lets ingest and reads go
-- on; CREATE TABLE ... PARTITION OF would block them), under an advisory lock so that two
-- processes do not race for one name. The caller sets lock_timeout: ATTACH also locks the default
-- partition, which a long read may be holding.
CREATE FUNCTION activity_logs_create_day(level_name text, day date) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    part text := activity_logs_day_partition(level_name, day);
    parent text := 'activity_logs_' || level_name;
    other text := 'activity_logs_' || level_name || '_other';
    low timestamptz := day::timestamp AT TIME ZONE 'UTC';
    high timestamptz := (day + 1)::timestamp AT TIME ZONE 'UTC';
    moved bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(7317004);
    IF to_regclass(part) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part, parent);
    EXECUTE format('WITH moved AS (DELETE FROM %I WHERE timestamp >= $1 AND timestamp < $2 RETURNING *) '
                   'INSERT INTO %I SELECT * FROM moved', other, part) USING low, high;
    GET DIAGNOSTICS moved = ROW_COUNT;
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', parent, part, low, high);
    RETURN moved;
END
$$;

-- Takes a level's day partition out of the tree (a short lock on the level's table: the caller
-- sets lock_timeout), so that its rows can be counted and the table dropped without holding
-- anything anyone waits on. Returns the table's name, NULL when there is no such partition.
CREATE FUNCTION activity_logs_detach_day(level_name text, day date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    part text := activity_logs_day_partition(level_name, day);
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass(part)) THEN
        RETURN NULL;
    END IF;
    EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', 'activity_logs_' || level_name, part);
    RETURN part;
END
$$;

-- Drops a day table that activity_logs_detach_day took out of the tree and returns how many rows
-- it held; NULL for any other table (a name that is not a day's, or a table still attached).
CREATE FUNCTION activity_logs_drop_detached(part text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    held bigint;
BEGIN
    IF part !~ '^activity_logs_[a-z]+_[0-9]{8}$' OR to_regclass(part) IS NULL
       OR (SELECT relispartition OR relkind <> 'r' FROM pg_class WHERE oid = to_regclass(part)) THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT count(*) FROM %I', part) INTO held;
    EXECUTE format('DROP TABLE %I', part);
    RETURN held;
END
$$;

-- The UTC days in [low, high) that rows in a level's default partition fall on.
CREATE FUNCTION activity_logs_default_days(level_name text, low timestamptz, high timestamptz)
RETURNS SETOF date
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT DISTINCT (timestamp AT TIME ZONE ''UTC'')::date FROM %I WHERE timestamp >= $1 AND timestamp < $2 ORDER BY 1',
        'activity_logs_' || level_name || '_other') USING low, high;
END
$$;

-- The days that hold the old table's rows, then the rows, then the indexes (built once over the
-- loaded partitions, faster than maintained row by row).
SELECT activity_logs_create_day(lv.name, d.day)
FROM (SELECT DISTINCT level_id, (timestamp AT TIME ZONE 'UTC')::date AS day FROM activity_logs_unpartitioned) d
JOIN activity_log_levels lv ON lv.id = d.level_id;
SELECT activity_logs_create_day(lv.name, d.day::date)
FROM activity_log_levels lv,
     generate_series((now() AT TIME ZONE 'UTC')::date - 1, (now() AT TIME ZONE 'UTC')::date + 2, interval '1 day') d(day);
INSERT INTO activity_logs SELECT * FROM activity_logs_unpartitioned;
DROP TABLE activity_logs_unpartitioned;

-- The same indexes as before (docs/schema.md); the id index is no longer unique, which a
-- partitioned table allows only with the partition keys in it: ids come from the sequence.
CREATE INDEX activity_logs_id_idx ON activity_logs (id);
CREATE INDEX activity_logs_timestamp_idx ON activity_logs (timestamp, id);
CREATE INDEX activity_logs_trace_id_idx ON activity_logs (trace_id) WHERE trace_id IS NOT NULL;
CREATE INDEX activity_logs_entity_idx ON activity_logs (entity_type, entity_id) WHERE entity_type IS NOT NULL;
CREATE INDEX activity_logs_job_id_idx ON activity_logs (job_id) WHERE job_id IS NOT NULL;
DO $$
BEGIN
    IF (SELECT enabled FROM activity_search_index_was_enabled) THEN
        CREATE INDEX activity_logs_message_trgm_idx ON activity_logs USING gin (message gin_trgm_ops);
    END IF;
END
$$;
