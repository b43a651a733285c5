"""The SQL that orders commits of flushes running side by side (migration 0012, docs/replicas.md),
session by session: the floor a reconnecting process reads waits for the flushes under way; a
process of an earlier version, flushing one at a time, commits after every flush under way and
before any later one; and the commit-order lock is given back when a reservation fails."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import asyncpg
import pytest

from collector.db.connect import connect, create_ingest_pool
from collector.db.queries import q
from tests.support.server import wait_for

pytestmark = pytest.mark.timeout(60)


async def lock_waits(db, locktype: str = "advisory") -> int:
    return await db.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = $1", locktype)


async def sessions(database_url: str, count: int) -> list[asyncpg.Connection]:
    return [await connect(database_url) for _ in range(count)]


async def reserve(conn: asyncpg.Connection, request_ids: list[uuid.UUID] = ()) -> asyncpg.Record:
    """BEGIN and activity_reserve_flush for one block of ids, as a flush starts."""
    await conn.execute("BEGIN")
    return await conn.fetchrow(q("reserve_flush"), 1, list(request_ids), "test")


async def test_the_floor_waits_for_the_flushes_under_way(database_url, db):
    flushing, reading = await sessions(database_url, 2)
    try:
        reserved = await reserve(flushing)
        floor = asyncio.create_task(reading.fetchval(q("activity_logs_committed_id_floor")))
        assert await wait_for(lambda: lock_waits(db)), "the floor did not wait for the flush under way"
        assert not floor.done()
        await flushing.execute("COMMIT")
        # Every id up to the floor belongs to a flush that has ended: the flush's block included.
        assert await asyncio.wait_for(floor, 10) >= reserved["first_ids"][0]
    finally:
        for conn in (flushing, reading):
            await conn.close()


async def test_a_flush_of_an_earlier_version_commits_between_the_turns(database_url, db):
    """``activity_begin_flush`` (processes before migration 0012) waits for the turns under way
    before taking ids, and holds the lock until its commit, so no turn is drawn meanwhile."""
    earlier, old, later = await sessions(database_url, 3)
    try:
        first = await reserve(earlier)
        await old.execute("BEGIN")
        old_begin = asyncio.create_task(old.fetchrow("SELECT first_ids, claimed FROM activity_begin_flush(1, '{}', 'old')"))
        assert await wait_for(lambda: lock_waits(db)), "the old flush did not wait for the turn under way"
        assert not old_begin.done()
        await earlier.execute("COMMIT")
        old_ids = (await asyncio.wait_for(old_begin, 10))["first_ids"]
        assert old_ids[0] > first["first_ids"][0]
        # The old flush holds the lock until it ends: a new flush cannot draw ids before then.
        late = asyncio.create_task(reserve(later))
        assert await wait_for(lambda: lock_waits(db)), "a new flush drew ids while the old one held the lock"
        assert not late.done()
        await old.execute("COMMIT")
        assert (await asyncio.wait_for(late, 10))["first_ids"][0] > old_ids[0]
        await later.execute("COMMIT")
    finally:
        for conn in (earlier, old, later):
            await conn.close()


async def test_a_cancelled_reservation_gives_the_lock_back(database_url, db):
    """A reservation that waits under the lock (for a request id another flush is recording) and
    is cancelled by its statement timeout must give the lock back, or every flush after it would
    wait forever."""
    holder, cancelled, after = await sessions(database_url, 3)
    request_id = uuid.uuid4()
    try:
        await reserve(holder, [request_id])
        await cancelled.execute("SET statement_timeout = 300")
        with pytest.raises(asyncpg.QueryCanceledError):
            await reserve(cancelled, [request_id])
        await cancelled.execute("ROLLBACK")
        assert not await db.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 7317002 AND pid = $1",
            cancelled.get_server_pid())  # fmt: skip
        reserved = await asyncio.wait_for(reserve(after), 5)
        assert reserved["claimed"] == [] and reserved["turn"] > 0
        await after.execute("COMMIT")
        await holder.execute("COMMIT")
    finally:
        for conn in (holder, cancelled, after):
            await conn.close()


async def test_a_reservation_cancelled_as_it_gets_the_lock_gives_it_back(database_url, db):
    """The lock handed to a waiting reservation at the moment its statement is cancelled: PostgreSQL
    keeps a lock granted before the cancel is handled, and a session lock outlives ROLLBACK, so the
    reservation must give it back itself. Ten tries: the race was lost in most of them."""
    holder, waiter = await sessions(database_url, 2)
    try:
        for _ in range(10):
            await holder.execute("SELECT pg_advisory_lock(7317002)")  # as a reservation under way holds it
            reservation = asyncio.create_task(reserve(waiter))
            assert await wait_for(lambda: lock_waits(db)), "the reservation did not wait for the lock"
            await holder.fetchval("SELECT pg_advisory_unlock(7317002) AND pg_cancel_backend($1)", waiter.get_server_pid())
            with contextlib.suppress(asyncpg.QueryCanceledError):
                await reservation
            await waiter.execute("ROLLBACK")
            assert not await db.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 7317002 AND pid = $1",
                waiter.get_server_pid())  # fmt: skip
    finally:
        for conn in (holder, waiter):
            await conn.close()


INSERT_ROW = ("INSERT INTO activity_logs (timestamp, level_id, source_id, message) "
              "VALUES (now(), 2, 1, 'turn test')")  # fmt: skip


async def test_a_flush_insert_waits_at_its_end_for_earlier_turns_and_no_other_insert_does(database_url, db):
    """Migration 0013: the wait for the turn runs in a statement trigger at the end of a flush's
    COPY (or any insert in its transaction). An insert outside a flush's transaction never waits,
    nor does one in a later transaction of a session that flushed before."""
    earlier, flush, other = await sessions(database_url, 3)
    try:
        await reserve(earlier)
        await reserve(flush)
        insert = asyncio.create_task(flush.execute(INSERT_ROW))
        assert await wait_for(lambda: lock_waits(db)), "the flush's insert did not wait for the earlier turn"
        assert not insert.done()
        await asyncio.wait_for(other.execute(INSERT_ROW), 5)  # not a flush: no wait
        await earlier.execute("COMMIT")
        await asyncio.wait_for(insert, 10)
        await flush.execute("COMMIT")
        await reserve(earlier)  # under way again, with a later turn than the flush's own (ended)
        await asyncio.wait_for(flush.execute(INSERT_ROW), 5)  # a new transaction, not a flush
        await earlier.execute("ROLLBACK")
    finally:
        for conn in (earlier, flush, other):
            await conn.close()


async def test_a_flush_insert_waits_for_earlier_turns_also_with_replica_triggers_off(database_url, db):
    """The turn trigger is ENABLE ALWAYS: a session with session_replication_role = replica (as a
    logical-replication apply or a restore runs) still waits, or commit order would quietly break."""
    earlier, flush = await sessions(database_url, 2)
    try:
        await flush.execute("SET session_replication_role = replica")
        await reserve(earlier)
        await reserve(flush)
        insert = asyncio.create_task(flush.execute(INSERT_ROW))
        assert await wait_for(lambda: lock_waits(db)), "the insert did not wait with replica triggers off"
        await earlier.execute("COMMIT")
        await asyncio.wait_for(insert, 10)
        await flush.execute("COMMIT")
    finally:
        for conn in (earlier, flush):
            await conn.close()


FLUSH_FUNCTIONS = ("activity_turns_under_way", "activity_take_ids", "activity_record_requests", "activity_notify_flush",
                   "activity_await_turn", "activity_reserve_flush", "activity_wait_for_turns", "activity_logs_await_turn")  # fmt: skip


async def test_the_flush_functions_keep_their_plans(db):
    """Migration 0013: SQL functions are planned on every call; PL/pgSQL keeps its plans."""
    languages = dict(await db.fetch(
        "SELECT p.proname, l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang "
        "WHERE p.proname = ANY($1::text[])", list(FLUSH_FUNCTIONS)))  # fmt: skip
    assert languages == {name: "plpgsql" for name in FLUSH_FUNCTIONS}


async def test_the_ingest_pool_keeps_plans_and_no_flush_leaves_a_lock_behind(database_url, db):
    """The ingest pool lets PostgreSQL keep plans and skips asyncpg's reset query on release
    (RESET ALL, advisory unlock…): a session setting survives a release, and flushes, one of them
    failed in its reservation, leave no advisory lock on the session."""
    pool = await create_ingest_pool(database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            assert await conn.fetchval("SHOW plan_cache_mode") == "auto"
            pid = await conn.fetchval("SELECT pg_backend_pid()")
            await conn.execute("SET application_name = 'kept'")
            for _ in range(3):
                async with conn.transaction():
                    row = await conn.fetchrow(q("reserve_flush"), 1, [uuid.uuid4()], "test")
                    await conn.fetchval(q("await_turn"), row["turn"])
            await db.execute("SELECT pg_advisory_lock(7317002)")  # the reservation below times out waiting
            try:
                with pytest.raises(asyncpg.QueryCanceledError):
                    async with conn.transaction():
                        await conn.execute("SET LOCAL statement_timeout = 200")
                        await conn.fetchrow(q("reserve_flush"), 1, [uuid.uuid4()], "test")
            finally:
                await db.execute("SELECT pg_advisory_unlock(7317002)")
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT pg_backend_pid()") == pid
            assert await conn.fetchval("SHOW application_name") == "kept", "the connection was reset on release"
        held = await db.fetchval("SELECT count(*) FROM pg_locks WHERE pid = $1 AND locktype = 'advisory'", pid)
        assert held == 0
    finally:
        await pool.close()
