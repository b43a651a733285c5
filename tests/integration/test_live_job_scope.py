"""A creator's live tail never receives an entry that carries only the job id of a job in another
project. The rule must hold whatever the interleaving of the hub, the job
lookups and the sender: a job-only entry is sent to a creator only once its job's project is
known and allowed."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from api import live
from tests.support.api import token_for
from tests.support.server import start_server
from tests.support.live import connect, entries_until, ingest, receive_json, row

pytestmark = pytest.mark.timeout(120)


async def _world(db) -> dict[str, Any]:
    creator = await db.fetchval("INSERT INTO users (email, password_hash, role) VALUES ('c@x', 'x', 'creator') RETURNING id")
    mine = await db.fetchval("INSERT INTO projects (name) VALUES ('mine') RETURNING id")
    theirs = await db.fetchval("INSERT INTO projects (name) VALUES ('theirs') RETURNING id")
    await db.execute("INSERT INTO project_members (project_id, user_id) VALUES ($1, $2)", mine, creator)
    return {"creator": creator, "mine": mine, "theirs": theirs}


async def _new_jobs(db, project_id: int, count: int) -> list[int]:
    return [await db.fetchval("INSERT INTO jobs (project_id) VALUES ($1) RETURNING id", project_id) for _ in range(count)]


def _connection_of(server, email_user_id: int, exclude: set[int]) -> live.LiveConnection:
    registry = server.app[live.REGISTRY]
    found = [c for c in registry.connections.values() if c.principal and c.principal.user_id == email_user_id
             and c.id not in exclude]  # fmt: skip
    assert len(found) == 1, found
    return found[0]


async def test_stalled_second_session_never_receives_foreign_job_entries(server, db):
    """Session A's sender is stuck in a send (a slow socket) while a burst of entries for new jobs
    of a foreign project is published; session B of the same creator looks those jobs up first.
    When A's socket drains, A must not send them (before the fix: every one of them leaked)."""
    world = await _world(db)
    foreign_jobs = await _new_jobs(db, world["theirs"], 20)
    own_jobs = await _new_jobs(db, world["mine"], 5)
    token = await token_for(server, world["creator"], "creator")
    async with aiohttp.ClientSession() as session:
        slow = await connect(session, server, token, sources=["worker"])
        slow_connection = _connection_of(server, world["creator"], set())
        fast = await connect(session, server, token, sources=["worker"])

        gate = asyncio.Event()
        real_send = slow_connection._send

        async def stalled_send(payload: bytes) -> None:
            await gate.wait()
            await real_send(payload)

        slow_connection._send = stalled_send  # type: ignore[method-assign]
        await ingest(server, [row("warm-up")])  # A's sender takes it and waits in the send
        await asyncio.sleep(0.2)
        burst = [row(f"foreign {job}", job_id=job) for job in foreign_jobs]
        burst += [row(f"own {job}", job_id=job) for job in own_jobs]
        for start in range(0, len(burst), 3):  # several commits, several hub batches
            await ingest(server, burst[start:start + 3])
        await ingest(server, [row("end")])

        fast_seen = [e["message"] for e in await entries_until(fast, "end")]
        assert not [m for m in fast_seen if m.startswith("foreign")]
        gate.set()
        slow_seen = [e["message"] for e in await entries_until(slow, "end")]
        assert [m for m in slow_seen if m.startswith("foreign")] == []
        assert [m for m in slow_seen if m.startswith("own")] == [f"own {job}" for job in own_jobs]
        await slow.close()
        await fast.close()


async def test_slow_reader_never_receives_foreign_job_entries(database_url, tmp_path, db):
    """The same with a real slow reader: a session that does not read while large entries fill its
    socket, and a burst of entries for new foreign jobs that a second session resolves first."""
    server = await start_server(database_url, tmp_path, live_queue_capacity=10_000)
    try:
        world = await _world(db)
        foreign_jobs = await _new_jobs(db, world["theirs"], 60)
        token = await token_for(server, world["creator"], "creator")
        big = "x" * 16_000
        async with aiohttp.ClientSession() as session:
            slow = await connect(session, server, token, sources=["worker"])
            fast = await connect(session, server, token, sources=["worker"])

            async def drain_fast(last: str) -> list[str]:
                return [e["message"] for e in await entries_until(fast, last, timeout=60)]

            for round_number in range(3):
                # Fill the slow session's socket with system entries (visible to everyone).
                for start in range(0, 300, 10):
                    await ingest(server, [row(f"fill {round_number} {i} {big}") for i in range(start, start + 10)])
                jobs = foreign_jobs[round_number * 20:(round_number + 1) * 20]
                for job in jobs:
                    await ingest(server, [row(f"foreign {job}", job_id=job)])
                await ingest(server, [row(f"end {round_number}")])
                assert not [m for m in await drain_fast(f"end {round_number}") if m.startswith("foreign")]

            received: list[str] = []
            while not any(m == "end 2" for m in received):
                frame = await receive_json(slow, timeout=60)
                if frame["type"] == "entries":
                    received.extend(e["message"] for e in frame["entries"])
            assert [m for m in received if m.startswith("foreign")] == []
            await slow.close()
            await fast.close()
    finally:
        await server.stop()
