-- Activity Console schema, version 13: a flush's bookkeeping functions keep their query plans.
--
-- Migration 0012's helpers were SQL functions. PostgreSQL parses and plans the body of an SQL
-- function that cannot be inlined on every call, and these cannot (they are called from PL/pgSQL,
-- write, or read the pg_locks and pg_sequences views, whose plans join several catalogues). A
-- flush's BEGIN, activity_reserve_flush, activity_await_turn and COMMIT cost its backend about
-- 1.2 ms of CPU, of which an empty transaction is 0.12 ms; under six clients a flush holds about
-- 600 rows, so that was about 2 µs per row on top of the COPY's 11. Here each one is PL/pgSQL, whose
-- statements keep their plans for the session (on connections that let PostgreSQL reuse plans:
-- the ingest pool sets plan_cache_mode back to auto), with the same statements and meaning; the
-- notification reads the id sequence's increment from pg_sequence by the sequence's name, one
-- index lookup, instead of through the pg_sequences view.

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
