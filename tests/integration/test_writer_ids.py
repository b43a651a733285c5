"""The writer's ids and what it publishes: ids reserved a block at a time and given in commit
order, unique across writers on one database; the live tail handed what was stored, on the native
fast path as on the Python path."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import datetime, timezone

import aiohttp
import pytest

from collector import copy_rows
from collector import ingest as ingest_module
from collector.db.connect import create_ingest_pool
from collector.db.query_indexes import day_table
from collector.hub import LiveHub
from collector.model import ActivityRow
from collector.writer import BatchWriter
from tests.support.api import call, make_user
from tests.support.otlp import request_with
from tests.support.server import wait_for
from tests.unit.test_fastpath_equivalence import EDGE_RECORDS

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


def rows(count: int, tag: str) -> list[ActivityRow]:
    return [ActivityRow(NOW, "info", "worker", f"{tag} {i}", fields={"i": i}) for i in range(count)]


async def sequence_position(db) -> tuple[int, int]:
    row = await db.fetchrow("SELECT last_value, increment_by FROM pg_sequences WHERE sequencename = 'activity_logs_id_seq'")
    return row["last_value"] or 0, row["increment_by"]


async def started_writer(database_url: str, hub: LiveHub | None = None, connections: int = 1) -> tuple[BatchWriter, object]:
    pool = await create_ingest_pool(database_url, min_size=connections)
    writer = BatchWriter(pool, hub or LiveHub(), linger=0)
    await writer.start()
    return writer, pool


async def test_ids_are_reserved_a_block_at_a_time_and_follow_commit_order(database_url, db):
    before, block = await sequence_position(db)
    assert block > 1  # migration 0003
    writer, pool = await started_writer(database_url)
    try:
        requests = [rows(700, f"request {n}") for n in range(5)]
        results = await asyncio.gather(*(writer.submit(request) for request in requests))
        assert all(result.accepted == 700 for result in results)
    finally:
        await writer.close()
        await pool.close()
    after, _ = await sequence_position(db)
    blocks_taken = (after - before) // block
    # One sequence call per block, a flush's last block partly used: per-row calls would have
    # moved the sequence 3,500 blocks.
    assert blocks_taken <= -(-3500 // block) + len(requests), blocks_taken
    stored = await db.fetch("SELECT id, message FROM activity_logs ORDER BY id")
    assert len(stored) == 3500
    # Ids follow the order requests were queued and committed in, and each request's own order.
    assert [r["message"] for r in stored] == [row.message for request in requests for row in request]
    assert [row.id for request in requests for row in request] == [r["id"] for r in stored]


async def test_two_writers_on_one_database_never_share_an_id(database_url, db):
    first, first_pool = await started_writer(database_url)
    second, second_pool = await started_writer(database_url)
    try:
        submits = []
        for n in range(20):
            submits.append(first.submit(rows(300, f"a{n}")))
            submits.append(second.submit(rows(300, f"b{n}")))
        await asyncio.gather(*submits)
    finally:
        for writer in (first, second):
            await writer.close()
        await first_pool.close()
        await second_pool.close()
    ids = [r["id"] for r in await db.fetch("SELECT id FROM activity_logs")]
    assert len(ids) == len(set(ids)) == 12_000
    # Within each writer, ids rise in commit order.
    for prefix in ("a", "b"):
        stored = await db.fetch("SELECT id, message FROM activity_logs WHERE message LIKE $1 ORDER BY id", f"{prefix}%")
        numbers = [int(r["message"].split()[0][1:]) for r in stored]
        assert numbers == sorted(numbers)


class RecordingHub(LiveHub):
    """A hub with a subscriber that records the ids it is handed, in order."""

    def __init__(self):
        super().__init__()
        self.published: list[int] = []

    @property
    def subscriber_count(self) -> int:
        return 1

    def publish(self, rows: list[ActivityRow]) -> None:
        self.published += [row.id for row in rows]


async def lock_waits(db, locktype: str, relation: str | None = None) -> int:
    """How many sessions wait for a lock of this type (on this relation)."""
    return await db.fetchval(
        "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = $1"
        " AND ($2::text IS NULL OR relation = $2::regclass)", locktype, relation)  # fmt: skip


async def test_two_flushes_copy_side_by_side_and_commit_in_id_order(database_url, db):
    """While a flush's COPY waits (for a partition another session holds), the next flush runs
    its COPY beside it on a second connection, then waits for its turn: it commits after the
    first, with higher ids, and the live tail is handed both in id order."""
    now = datetime.now(timezone.utc)
    hub = RecordingHub()
    # Both connections made at once (a connection's set-up would wait for the held partition).
    writer, pool = await started_writer(database_url, hub, connections=2)
    held = day_table("info", now.date())
    try:
        async with db.transaction():
            await db.execute(f"LOCK TABLE {held} IN SHARE MODE")
            first = asyncio.create_task(writer.submit([ActivityRow(now, "info", "worker", "first")]))
            assert await wait_for(lambda: lock_waits(db, "relation", held)), "the first COPY never waited"
            second = asyncio.create_task(writer.submit([ActivityRow(now, "warn", "worker", f"second {i}") for i in range(300)]))
            # Its COPY (into another partition) done, the second flush waits for the first's turn.
            assert await wait_for(lambda: lock_waits(db, "advisory")), "the second flush did not run beside the first"
            assert await db.fetchval("SELECT count(*) FROM activity_logs") == 0
            assert not first.done() and not second.done()
            assert writer.flushes_under_way == 2
        assert (await first).accepted == 1 and (await second).accepted == 300
    finally:
        await writer.close()
        await pool.close()
    stored = await db.fetch("SELECT id, message FROM activity_logs ORDER BY id")
    assert [r["message"] for r in stored] == ["first"] + [f"second {i}" for i in range(300)]
    assert hub.published == [r["id"] for r in stored]


RESOURCE = {"service.name": "render-worker", "n": [1.5, {"y": None}]}


def handed_back(record: dict) -> bool:
    data = request_with([dict(record)], resource=RESOURCE).SerializeToString()
    return bool(copy_rows.native_module().encode_request(data, 0, 0, 10, 1 << 20)[2])


class NativeSpy:
    def __init__(self, native):
        self._native, self.encoded = native, []

    def __getattr__(self, name):  # everything but encode_request is the real module's
        return getattr(self._native, name)

    def encode_request(self, *args):
        tuples, count, handed_back, counts = self._native.encode_request(*args)
        if not handed_back:
            self.encoded.append(count)
            self.released_gil = args[5:6] == (True,)
            self.thread = threading.current_thread()
        return tuples, count, handed_back, counts


@pytest.mark.parametrize("path", ["python", "native"])
async def test_the_live_tail_is_handed_what_was_stored(server, db, monkeypatch, path):
    ingest = server.runtime.ingest
    if path == "python":
        monkeypatch.setattr(ingest, "_native", None)
    elif copy_rows.native_module() is None:
        pytest.skip("the native fast path is not built (or ACTIVITY_NATIVE=off)")
    else:
        monkeypatch.setattr(ingest, "_native", spy := NativeSpy(copy_rows.native_module()))
    records = [dict(record) for record in EDGE_RECORDS]
    if path == "native":
        # Records the fast path hands back would send the whole request down the Python path.
        records = [record for record in records if not handed_back(record)]
        assert len(records) > 35
    body = request_with([dict(record) for record in records], resource=RESOURCE).SerializeToString()
    with server.runtime.hub.subscribe() as subscription:
        async with aiohttp.ClientSession() as session:
            headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {server.token}"}
            async with session.post(server.otlp_http_url, data=body, headers=headers) as response:
                assert response.status == 200
        published = []
        while len(published) < len(records):
            got, skipped = await asyncio.wait_for(subscription.get(), 10)
            assert skipped == 0
            published += got
    assert [row.id for row in published] == sorted(row.id for row in published)
    if path == "native":
        assert spy.encoded == [len(records)]  # the request took the fast path whole
    admin = await make_user(db, "admin@example.com", "admin")
    async with aiohttp.ClientSession() as session:
        for row in published:
            status, stored, _ = await call(session, server, "GET", f"/api/v1/activity-logs/{row.id}", admin)
            assert status == 200, stored
            assert json.loads(row.json()) == stored["data"], row.id


async def test_a_large_request_is_encoded_in_a_worker_thread(server, db, monkeypatch):
    native = copy_rows.native_module()
    if native is None:
        pytest.skip("the native fast path is not built (or ACTIVITY_NATIVE=off)")
    monkeypatch.setattr(server.runtime.ingest, "_native", spy := NativeSpy(native))
    records = [{"body": f"line {i} " + "x" * 200, "attributes": {"i": i, "ms": float(i)}} for i in range(2000)]
    body = request_with([dict(record) for record in records]).SerializeToString()
    assert len(body) > ingest_module.NATIVE_INLINE_BYTES
    async with aiohttp.ClientSession() as session:
        headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {server.token}"}
        async with session.post(server.otlp_http_url, data=body, headers=headers) as response:
            assert response.status == 200
    assert spy.encoded == [2000] and spy.released_gil and spy.thread is not threading.main_thread()
    stored = await db.fetch("SELECT message, fields FROM activity_logs ORDER BY id")
    assert [r["message"] for r in stored] == [record["body"] for record in records]
    assert stored[7]["fields"] == {"i": 7, "ms": 7.0}


async def test_a_failed_flush_leaves_no_session_lock_on_its_connection(database_url, db, monkeypatch):
    """The ingest pool skips asyncpg's reset query: a flush that fails with a session lock held (as
    a reservation cut short at an unlucky moment could leave the commit-order lock) gives it back
    before its connection goes back, and the next flush, on the same connection, is not stuck."""
    writer, pool = await started_writer(database_url)
    try:
        begin = writer._begin
        pids = []

        async def failing_begin(conn, batch):  # noqa: ANN001
            pids.append(conn.get_server_pid())
            await conn.execute("SELECT pg_advisory_lock(7317002)")
            raise RuntimeError("a flush cut short with the commit-order lock held")

        monkeypatch.setattr(writer, "_begin", failing_begin)
        with pytest.raises(RuntimeError):
            await writer.submit(rows(3, "failed"))
        monkeypatch.setattr(writer, "_begin", begin)
        held = await db.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = $1", pids[0])
        assert held == 0
        result = await asyncio.wait_for(writer.submit(rows(2, "after")), 10)
        assert result.accepted == 2
    finally:
        await writer.close()
        await pool.close()
