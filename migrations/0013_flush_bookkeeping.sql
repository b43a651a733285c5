-- Activity Console schema, version 13: a flush's bookkeeping costs less, on both sides.
--
-- 1. Its functions keep their query plans. Migration 0012's helpers were SQL functions, which
--    PostgreSQL parses and plans on every call when it cannot inline them, and these it cannot
--    (called from PL/pgSQL, writing, or reading the pg_locks and pg_sequences views, whose plans
--    join several catalogues). A flush's BEGIN, activity_reserve_flush, activity_await_turn and
--    COMMIT cost its backend about 1.2 ms of CPU, of which an empty transaction is 0.12 ms; under
--    six clients a flush holds about 600 rows, so that was about 2 us per row beside the COPY's
--    11. Each one is now PL/pgSQL, whose statements keep their plans for the session (where
--    PostgreSQL may reuse plans: the ingest pool sets plan_cache_mode back to auto), with the same
--    statements and meaning; the notification reads the id sequence's increment from pg_sequence,
--    one index lookup, instead of through the pg_sequences view.
-- 2. The wait for the flush's turn runs at the end of its COPY, in a statement trigger, instead of
--    as a statement of its own just before COMMIT: one round trip less per flush (about 0.1 ms of
--    the receiver's CPU and 0.05 ms of the backend's). activity_reserve_flush notes the turn in the
--    transaction's setting activity.flush_turn; the trigger awaits it when it is set, which only a
--    flush's transaction does. Nothing runs between the COPY and COMMIT, so the argument of
--    docs/replicas.md holds as it was. A flush with nothing to copy (only duplicates) still calls
--    activity_await_turn itself, and a process of the previous version calls it after its COPY,
--    which then finds its turn come at once.
-- 3. The commit-order lock, a session lock, is given back inside the protected block of
--    activity_reserve_flush and activity_committed_id_floor, as the block's last statement: given
--    back just after it, a cancel landing in between left the lock held by the session for good
--    (the ingest pool no longer runs asyncpg's reset query, which used to give it back).

-- The turns of the flushes under way (not this session's): the keys of the turn locks held
-- exclusively.
CREATE OR REPLACE FUNCTION activity_turns_under_way() RETURNS integer[]
LANGUAGE plpgsql STABLE AS $$
DECLARE
    under_way integer[];
BEGIN
    SELECT coalesce(array_agg(l.objid::bigint::integer ORDER BY l.objid), '{}')
    INTO under_way
    FROM pg_locks l
    WHERE l.locktype = 'advisory' AND l.classid = 7317003 AND l.objsubid = 2 AND l.mode = 'ExclusiveLock'
      AND l.granted AND l.pid <> pg_backend_pid()
      AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database());
    RETURN under_way;
END
$$;

-- The first ids of blocks of ids, ascending.
CREATE OR REPLACE FUNCTION activity_take_ids(blocks integer) RETURNS bigint[]
LANGUAGE plpgsql AS $$
DECLARE
    first_ids bigint[];
BEGIN
    SELECT array_agg(nextval('activity_logs_id_seq') ORDER BY g) INTO first_ids FROM generate_series(1, blocks) g;
    RETURN first_ids;
END
$$;

-- Record request ids; the ones not recorded before come back (claimed).
CREATE OR REPLACE FUNCTION activity_record_requests(request_ids uuid[]) RETURNS uuid[]
LANGUAGE plpgsql AS $$
DECLARE
    claimed uuid[];
BEGIN
    IF coalesce(cardinality(request_ids), 0) = 0 THEN
        RETURN '{}';
    END IF;
    WITH recorded AS (
        INSERT INTO ingest_requests (id) SELECT unnest(request_ids) ON CONFLICT DO NOTHING RETURNING ingest_requests.id
    )
    SELECT coalesce(array_agg(r.id), '{}') INTO claimed FROM recorded r;
    RETURN claimed;
END
$$;

-- Tell every listening process the id range of a flush: "<origin> <first id> <last id>".
CREATE OR REPLACE FUNCTION activity_notify_flush(origin text, first_ids bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    step bigint;
BEGIN
    SELECT s.seqincrement INTO step FROM pg_sequence s WHERE s.seqrelid = 'activity_logs_id_seq'::regclass;
    PERFORM pg_notify('activity_logs', concat_ws(' ', origin, first_ids[1], first_ids[array_upper(first_ids, 1)] + step - 1));
END
$$;

-- Wait until every flush that drew an earlier turn than this one, and is still under way, has
-- ended (turns wrap at 2^31: "earlier" is within half the circle behind).
CREATE OR REPLACE FUNCTION activity_await_turn(turn integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    earlier integer;
BEGIN
    FOREACH earlier IN ARRAY activity_turns_under_way() LOOP
        IF earlier <> turn AND ((turn::bigint - earlier::bigint + 2147483648) % 2147483648) < 1073741824 THEN
            PERFORM pg_advisory_xact_lock_shared(7317003, earlier);
        END IF;
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION activity_reserve_flush(blocks integer, request_ids uuid[], origin text,
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
        -- Given back inside the block: a cancel that lands between the block's end and a statement
        -- after it would abort the call with the session lock held, and nothing would give it back.
        PERFORM pg_advisory_unlock(7317002);
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        PERFORM activity_release_commit_order_lock();
        RAISE;
    END;
    -- For activity_logs_await_turn, at the end of this transaction's COPY.
    PERFORM set_config('activity.flush_turn', turn::text, true);
    PERFORM activity_notify_flush(origin, first_ids);
END
$$;

-- At the end of every statement that inserts into activity_logs: when the transaction is a flush
-- (its turn noted by activity_reserve_flush), wait for the flushes with earlier turns to end.
CREATE FUNCTION activity_logs_await_turn() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    flush_turn text := current_setting('activity.flush_turn', true);
BEGIN
    -- Unset (NULL), or '' once a transaction that set it has ended.
    IF flush_turn <> '' THEN
        PERFORM activity_await_turn(flush_turn::integer);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER activity_logs_await_turn AFTER INSERT ON activity_logs
    FOR EACH STATEMENT EXECUTE FUNCTION activity_logs_await_turn();
-- Also under session_replication_role = replica or after DISABLE TRIGGER ALL (a restore left
-- half-done): commit order depends on it, and outside a flush it does nothing.
ALTER TABLE activity_logs ENABLE ALWAYS TRIGGER activity_logs_await_turn;

-- The floor, with the lock given back inside its block, as in activity_reserve_flush above.
CREATE OR REPLACE FUNCTION activity_committed_id_floor() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    floor_id bigint;
    under_way integer[];
BEGIN
    BEGIN
        PERFORM pg_advisory_lock(7317002);
        SELECT CASE WHEN s.is_called THEN s.last_value + q.seqincrement - 1 ELSE s.last_value - 1 END
        INTO floor_id
        FROM activity_logs_id_seq s, pg_sequence q
        WHERE q.seqrelid = 'activity_logs_id_seq'::regclass;
        under_way := activity_turns_under_way();
        PERFORM pg_advisory_unlock(7317002);
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        PERFORM activity_release_commit_order_lock();
        RAISE;
    END;
    PERFORM activity_wait_for_turns(under_way);
    RETURN floor_id;
END
$$;
