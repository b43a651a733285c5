-- Activity Console schema, version 5: flushes commit in id order across processes, and say so.
--
-- Several server processes may write to one database. Ids drawn from the sequence at flush time
-- would commit out of id order across them, and a reader resuming "after id N" could then miss
-- an entry with a smaller id committed later. So a flush takes a transaction-level advisory lock
-- before it reserves its ids and keeps it until its commit: flushes commit one at a time, each
-- with ids above every id committed before it (docs/replicas.md has the argument). The same call
-- records the flush's request ids (exactly once, migration 0004) and sends a notification that
-- PostgreSQL delivers at commit, in commit order, to every process listening: the id range it
-- holds, for their live tails.
CREATE FUNCTION activity_begin_flush(blocks integer, request_ids uuid[], origin text,
                                     OUT first_ids bigint[], OUT claimed uuid[])
LANGUAGE plpgsql AS $$
DECLARE
    block_size bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(7317002);
    SELECT array_agg(nextval('activity_logs_id_seq') ORDER BY g) INTO first_ids FROM generate_series(1, blocks) g;
    WITH recorded AS (
        INSERT INTO ingest_requests (id) SELECT unnest(request_ids) ON CONFLICT DO NOTHING RETURNING id
    )
    SELECT coalesce(array_agg(id), '{}') INTO claimed FROM recorded;
    SELECT increment_by INTO block_size FROM pg_sequences
    WHERE schemaname = current_schema() AND sequencename = 'activity_logs_id_seq';
    PERFORM pg_notify('activity_logs', concat_ws(' ', origin, first_ids[1], first_ids[blocks] + block_size - 1));
END
$$;

-- Every id up to the returned one belongs to a flush that has ended (committed or rolled back),
-- and every flush from now on gets higher ids: taken under the same lock, so that no flush is
-- between its ids and its commit. A process that lost its notifications reads up to it.
CREATE FUNCTION activity_committed_id_floor() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    floor_id bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(7317002);
    SELECT CASE WHEN s.is_called THEN s.last_value + q.increment_by - 1 ELSE s.last_value - 1 END
    INTO floor_id
    FROM activity_logs_id_seq s, pg_sequences q
    WHERE q.schemaname = current_schema() AND q.sequencename = 'activity_logs_id_seq';
    RETURN floor_id;
END
$$;
