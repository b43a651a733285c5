"""Exactly once into PostgreSQL: a request's id is recorded with its rows, so a replay, a retry
after a COMMIT whose outcome was lost, or two commits racing store it once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest

from api.retention import RetentionJob
from collector.copy_rows import RequestRecords
from collector.db.repository import LogFilter, Scope, query_logs
from collector.delivery import new_request_id
from collector.model import ActivityRow
from tests.support.otlp import request_with
from tests.support.server import start_server, wait_for
from tests.support.tcp_proxy import CuttableProxy

pytestmark = pytest.mark.timeout(90)


def _rows(prefix: str, count: int) -> list[ActivityRow]:
    now = datetime.now(timezone.utc)
    return [ActivityRow(timestamp=now, level="info", source="worker", message=f"{prefix} {i}") for i in range(count)]


async def _messages(db, prefix: str) -> Counter:
    rows = await query_logs(db, LogFilter(search=prefix), Scope.admin(), limit=10_000)
    return Counter(row.message for row in rows)


async def test_a_request_id_seen_before_is_not_written_again(database_url, tmp_path, db):
    server = await start_server(database_url, tmp_path)
    try:
        writer = server.runtime.writer
        request_id = new_request_id()
        first = await writer.submit(_rows("once-only", 3), request_id=request_id)
        again = await writer.submit(_rows("once-only", 3), request_id=request_id)
        other = await writer.submit(_rows("once-only other", 2), request_id=new_request_id())
        assert (first.accepted, first.duplicate) == (3, False)
        assert (again.accepted, again.duplicate) == (3, True)
        assert not other.duplicate and writer.stats.duplicate_requests == 1
        # Rows without a request id (the server's own) are never checked.
        await writer.submit(_rows("once-only anonymous", 1))
        await writer.submit(_rows("once-only anonymous", 1))
    finally:
        await server.stop()
    counts = await _messages(db, "once-only")
    assert counts == Counter({**{f"once-only {i}": 1 for i in range(3)}, **{f"once-only other {i}": 1 for i in range(2)},
                              "once-only anonymous 0": 2})  # fmt: skip
    assert await db.fetchval("SELECT count(*) FROM ingest_requests WHERE id = $1", request_id) == 1


async def test_two_servers_committing_one_request_id_at_once_store_it_once(database_url, tmp_path, db):
    """The second transaction to record an id waits for the first, then finds it and skips."""
    first = await start_server(database_url, tmp_path / "a")
    second = await start_server(database_url, tmp_path / "b")
    try:
        for round_ in range(10):
            request_id = new_request_id()
            results = await asyncio.gather(
                first.runtime.writer.submit(_rows(f"raced {round_}", 50), request_id=request_id),
                second.runtime.writer.submit(_rows(f"raced {round_}", 50), request_id=request_id),
            )
            assert sorted(r.duplicate for r in results) == [False, True]
    finally:
        await first.stop()
        await second.stop()
    counts = await _messages(db, "raced")
    assert len(counts) == 500 and set(counts.values()) == {1}


async def test_a_savepoint_isolates_a_refused_row_within_the_requests_transaction(database_url, tmp_path, db):
    """A request with a row PostgreSQL refuses is committed without it, its id with it, once."""
    server = await start_server(database_url, tmp_path)
    try:
        writer = server.runtime.writer
        rows = _rows("isolated", 9)
        rows[4].project_id = 2**62  # no such project: a foreign-key refusal (class 23)
        await db.execute("ALTER TABLE activity_logs ADD CONSTRAINT test_no_huge_projects CHECK (project_id < 2^61)")
        try:
            request_id = new_request_id()
            result = await writer.submit(RequestRecords(rows), request_id=request_id)
            assert (result.accepted, result.rejected) == (8, 1), result
            again = await writer.submit(RequestRecords(_rows("isolated", 9)), request_id=request_id)
            assert again.duplicate
        finally:
            await db.execute("ALTER TABLE activity_logs DROP CONSTRAINT test_no_huge_projects")
    finally:
        await server.stop()
    assert sorted(await _messages(db, "isolated")) == [f"isolated {i}" for i in range(9) if i != 4]


@pytest.mark.parametrize("reaches_postgres", [True, False], ids=["committed", "not-committed"])
async def test_a_commit_whose_outcome_is_lost_is_stored_exactly_once(database_url, tmp_path, db, reaches_postgres):
    """The connection breaks right after the flush's COMMIT went out (PostgreSQL commits, the
    answer never comes back) or right before it: the sender is told success either way (the
    request goes to the spool), and the replay finds the id committed, or commits it."""
    proxy = await CuttableProxy(database_url).start()
    server = await start_server(proxy.dsn, tmp_path)
    try:
        async with aiohttp.ClientSession() as session:

            async def send(message: str) -> int:
                async with session.post(
                    server.otlp_http_url,
                    data=request_with([{"body": f"{message} {i}"} for i in range(5)]).SerializeToString(),
                    headers={"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {server.token}"},
                ) as response:
                    return response.status

            assert await send("lost-commit warm-up") == 200  # the token is known before the cut
            proxy.cut_at(b"COMMIT", forward=reaches_postgres)
            assert await send("lost-commit") == 200
            assert proxy.trapped.is_set()
            delivery = server.runtime.delivery
            assert delivery.spooling and delivery.stats.spooled_records == 5
            proxy.restore()
            assert await wait_for(lambda: not delivery.spooling, timeout=20)
            if reaches_postgres:
                assert delivery.stats.replay_duplicate_records == 5 and delivery.stats.replayed_records == 0
            else:
                assert delivery.stats.replayed_records == 5 and delivery.stats.replay_duplicate_records == 0
    finally:
        await server.stop()
        await proxy.stop()
    counts = await _messages(db, "lost-commit")
    assert counts == Counter({f"lost-commit {i}": 1 for i in range(5)} | {f"lost-commit warm-up {i}": 1 for i in range(5)})


async def _retention_cycles(server) -> int:
    return server.runtime.retention.cycles


async def test_retention_forgets_old_request_ids(database_url, tmp_path, db):
    server = await start_server(database_url, tmp_path)
    try:
        # The server's own start-up cycle first: a cycle that finds another running skips.
        assert await wait_for(lambda: _retention_cycles(server))
        now = datetime.now(timezone.utc)
        old = [new_request_id(int((now - timedelta(days=8, minutes=i)).timestamp() * 1000)) for i in range(3)]
        recent = new_request_id(int((now - timedelta(days=6)).timestamp() * 1000))
        await db.executemany("INSERT INTO ingest_requests (id) VALUES ($1)", [(i,) for i in [*old, recent]])
        job = RetentionJob(server.runtime.pool, None, 3600)
        assert await job.run_once(now) is not None
        left = {r["id"] for r in await db.fetch("SELECT id FROM ingest_requests WHERE id = ANY($1)", [*old, recent])}
        assert left == {recent}
        assert job.forgotten_request_ids + server.runtime.retention.forgotten_request_ids >= 3
    finally:
        await server.stop()
