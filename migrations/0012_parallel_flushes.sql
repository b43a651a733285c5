-- Activity Console schema, version 12: flushes COPY side by side, and still commit in id order.
--
-- Until now a flush held the commit-order lock from its ids to its commit (migration 0005), so
-- every flush of every process ran its COPY alone: one PostgreSQL backend did all the work, and on
-- a machine with a second core that core idled (two sessions loading at once measured 1.6-1.8x
-- one, bench/writer_flush.py parallel:1536). Now a flush holds the lock only while it takes its
-- ids and a turn, and waits for its turn just before COMMIT (docs/replicas.md has the argument):
--
-- 1. activity_reserve_flush: under the lock (a session lock taken and given back within the call,
--    also when the call fails or is cancelled),
--    the flush draws its ids and a turn, a number from activity_flush_turn_seq, and takes a
--    transaction-level advisory lock on (7317003, turn), which it holds until it ends, and records
--    its request ids; then, outside the lock, it sends its notification, as before.
-- 2. its COPY, side by side with other flushes';
-- 3. activity_await_turn: it waits until every flush that drew an earlier turn and is still under
--    way has ended (by taking each one's turn lock), so that it commits after all of them;
-- 4. COMMIT.
--
-- activity_begin_flush keeps its signature and its one-at-a-time meaning, for a process of an
-- earlier version still running beside this one: it holds the lock until its commit and, before
-- taking ids, waits for every turn under way, so it commits after them and before any later one.

CREATE SEQUENCE activity_flush_turn_seq;

-- The turns of the flushes under way (not this session's): the keys of the turn locks held
-- exclusively. A flush waits for another's turn by taking its key shared, which never blocks a
-- third waiting for the same turn (an exclusive hold by a waiter would, and could deadlock).
CREATE FUNCTION activity_turns_under_way() RETURNS integer[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(objid::bigint::integer ORDER BY objid), '{}')
    FROM pg_locks
    WHERE locktype = 'advisory' AND classid = 7317003 AND objsubid = 2 AND mode = 'ExclusiveLock' AND granted
      AND pid <> pg_backend_pid() AND database = (SELECT oid FROM pg_database WHERE datname = current_database());
$$;

-- Gives the commit-order lock back if this session holds it: after an error or a cancel inside a
-- reservation (a cancel can land just as the lock is granted, and PostgreSQL keeps the lock then).
CREATE FUNCTION activity_release_commit_order_lock() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND classid = 0
               AND objid = 7317002 AND objsubid = 1 AND granted) THEN
        PERFORM pg_advisory_unlock(7317002);
    END IF;
END
$$;

-- Waits until each of these turns' flushes has ended (taking its key shared).
CREATE FUNCTION activity_wait_for_turns(turns integer[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    earlier integer;
BEGIN
    FOREACH earlier IN ARRAY turns LOOP
        PERFORM pg_advisory_xact_lock_shared(7317003, earlier);
    END LOOP;
END
$$;

-- The parts of a flush's start that both kinds of flush share (call them under the lock): its
-- blocks of ids (their first ids, ascending), and its request ids recorded (the new ones back).
CREATE FUNCTION activity_take_ids(blocks integer) RETURNS bigint[]
LANGUAGE sql AS $$
    SELECT array_agg(nextval('activity_logs_id_seq') ORDER BY g) FROM generate_series(1, blocks) g;
$$;

CREATE FUNCTION activity_record_requests(request_ids uuid[]) RETURNS uuid[]
LANGUAGE sql AS $$
    WITH recorded AS (
        INSERT INTO ingest_requests (id) SELECT unnest(request_ids) ON CONFLICT DO NOTHING RETURNING id
    )
    SELECT coalesce(array_agg(id), '{}') FROM recorded;
$$;

-- Tells every listening process, at commit, the id range of a flush that took these blocks.
CREATE FUNCTION activity_notify_flush(origin text, first_ids bigint[]) RETURNS void
LANGUAGE sql AS $$
    SELECT pg_notify('activity_logs', concat_ws(' ', origin, first_ids[1],
                                                first_ids[array_upper(first_ids, 1)] + q.increment_by - 1))
    FROM pg_sequences q
    WHERE q.schemaname = current_schema() AND q.sequencename = 'activity_logs_id_seq';
$$;

CREATE FUNCTION activity_reserve_flush(blocks integer, request_ids uuid[], origin text,
                                       OUT first_ids bigint[], OUT claimed uuid[], OUT turn integer)
LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        PERFORM pg_advisory_lock(7317002);
        first_ids := activity_take_ids(blocks);
        -- Kept within int4 (the lock key); turns wrap after 2^31 flushes, compared modulo that.
        turn := (nextval('activity_flush_turn_seq') % 2147483648)::integer;
        PERFORM pg_advisory_xact_lock(7317003, turn);
        -- Under the lock too: a request id being recorded by a flush under way makes this one
        -- wait for that flush's end, and that flush, with an earlier turn, never waits for this one.
        claimed := activity_record_requests(request_ids);
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        PERFORM activity_release_commit_order_lock();
        RAISE;
    END;
    PERFORM pg_advisory_unlock(7317002);
    PERFORM activity_notify_flush(origin, first_ids);
END
$$;

-- Waits until every flush with an earlier turn than `turn` has ended (committed or rolled back).
CREATE FUNCTION activity_await_turn(turn integer) RETURNS void
LANGUAGE sql AS $$
    SELECT activity_wait_for_turns(array(
        SELECT earlier FROM unnest(activity_turns_under_way()) earlier
        WHERE earlier <> turn AND ((turn::bigint - earlier::bigint + 2147483648) % 2147483648) < 1073741824));
$$;

-- One flush at a time, as before (for processes of an earlier version): the lock until commit,
-- and no ids before every turn under way has ended.
CREATE OR REPLACE FUNCTION activity_begin_flush(blocks integer, request_ids uuid[], origin text,
                                                OUT first_ids bigint[], OUT claimed uuid[])
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7317002);
    PERFORM activity_wait_for_turns(activity_turns_under_way());
    first_ids := activity_take_ids(blocks);
    claimed := activity_record_requests(request_ids);
    PERFORM activity_notify_flush(origin, first_ids);
END
$$;

-- Every id up to the returned one belongs to a flush that has ended: taken under the lock (no
-- flush draws ids meanwhile), then each turn under way at that moment is waited for.
CREATE OR REPLACE FUNCTION activity_committed_id_floor() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    floor_id bigint;
    under_way integer[];
BEGIN
    BEGIN
        PERFORM pg_advisory_lock(7317002);
        SELECT CASE WHEN s.is_called THEN s.last_value + q.increment_by - 1 ELSE s.last_value - 1 END
        INTO floor_id
        FROM activity_logs_id_seq s, pg_sequences q
        WHERE q.schemaname = current_schema() AND q.sequencename = 'activity_logs_id_seq';
        under_way := activity_turns_under_way();
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        PERFORM activity_release_commit_order_lock();
        RAISE;
    END;
    PERFORM pg_advisory_unlock(7317002);
    PERFORM activity_wait_for_turns(under_way);
    RETURN floor_id;
END
$$;
