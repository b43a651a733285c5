"""The WebSocket live tail against a real server and PostgreSQL, with real WebSocket connections."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import jwt
import pytest

import sdk_shim
from api import security
from api.live import EntryMatcher, JobProjects
from api.live import connection as live_connection
from collector.db.repository import LogFilter, Scope, query_logs
from collector.model import ActivityRow
from tests.support.api import token_for
from tests.support.live import GOING_AWAY, POLICY_VIOLATION, connect, entries_until, expect_close, ingest, receive_json, row, ws_url
from tests.support.server import start_server, wait_for

pytestmark = pytest.mark.timeout(90)

_seq = itertools.count()


# --- delivery through the OpenTelemetry SDK ----------------------------------------------------


async def test_entry_sent_through_otel_sdk_reaches_subscriber(server):
    async with aiohttp.ClientSession() as session:
        ws = await connect(session, server, await token_for(server, 1), sources=["pipeline"])
        server.configure_sdk("pipeline-3", "pipeline", "http/protobuf", schedule_delay_millis=50, bridge_logging=False)
        try:
            sdk_shim.curated("warn", "render queue stalled").with_job(7).with_fields({"queue": "gpu"}).emit()
            assert await asyncio.to_thread(sdk_shim.force_flush, 10_000)
        finally:
            await asyncio.to_thread(sdk_shim.shutdown)
        entries = await entries_until(ws, "render queue stalled")
        entry = entries[-1]
        assert entry["level"] == "warn" and entry["source"] == "pipeline" and entry["category"] == "curated"
        assert entry["job_id"] == 7 and entry["fields"]["queue"] == "gpu"
        assert isinstance(entry["id"], int)
        stored = await query_logs_by_id(server, entry["id"])
        assert stored.message == "render queue stalled"
        await ws.close()


async def query_logs_by_id(server, entry_id: int) -> ActivityRow:
    async with server.runtime.pool.acquire() as conn:
        rows = await query_logs(conn, LogFilter(after_id=entry_id - 1), Scope.admin(), limit=1)
    assert rows and rows[0].id == entry_id
    return rows[0]


# --- filters -----------------------------------------------------------------------------------


async def test_filters_and_update_filter(server):
    async with aiohttp.ClientSession() as session:
        ws = await connect(
            session, server, await token_for(server, 1),
            levels=["warn", "error"], sources=["worker", "agent"], mode="curated", search="DISK",
        )  # fmt: skip
        await ingest(server, [
            row("disk full 1", level="warn", category="curated"),
            row("disk full 2", level="info", category="curated"),             # level
            row("disk full 3", level="error", source="api", category="curated"),  # source
            row("disk full 4", level="error", category="verbose"),            # mode
            row("cpu hot 5", level="error", category="curated"),              # search
            row("Disk nearly full 6", level="error", source="agent", category="curated"),
            row("disk sentinel A", level="warn", category="curated"),
        ])  # fmt: skip
        got = [e["message"] for e in await entries_until(ws, "disk sentinel A")]
        assert got == ["disk full 1", "Disk nearly full 6", "disk sentinel A"]

        # Partial change: levels replaced, search cleared, sources and mode kept.
        await ws.send_json({"action": "update_filter", "levels": ["info"], "search": None})
        reply = await receive_json(ws)
        assert reply["type"] == "subscribed"
        assert reply["filter"]["levels"] == ["info"] and reply["filter"]["search"] is None
        assert reply["filter"]["sources"] == ["worker", "agent"] and reply["filter"]["mode"] == "curated"
        await ingest(server, [
            row("after 1", level="info", category="curated"),
            row("after 2", level="warn", category="curated"),                 # level no longer wanted
            row("after 3", level="info", source="comfyui", category="curated"),  # source still filtered
            row("after 4", level="info", category="verbose"),                 # mode still filtered
            row("after sentinel B", level="info", source="agent", category="curated"),
        ])  # fmt: skip
        got = [e["message"] for e in await entries_until(ws, "after sentinel B")]
        assert got == ["after 1", "after sentinel B"]

        await ws.send_json({"action": "update_filter", "mode": "verbose", "entity_type": "scene", "entity_id": 4})
        assert (await receive_json(ws))["type"] == "subscribed"
        await ingest(server, [
            row("scene 4", level="info", entity_type="scene", entity_id=4),
            row("scene 5", level="info", entity_type="scene", entity_id=5),
            row("sentinel C", level="info", entity_type="scene", entity_id=4),
        ])  # fmt: skip
        got = [e["message"] for e in await entries_until(ws, "sentinel C")]
        assert got == ["scene 4", "sentinel C"]
        await ws.close()


async def test_search_metacharacters_are_literal(server):
    async with aiohttp.ClientSession() as session:
        ws = await connect(session, server, await token_for(server, 1), search="50%_")
        await ingest(server, [row("progress 50%_x done"), row("progress 50ab"), row("progress 5000"), row("end 50%_")])
        got = [e["message"] for e in await entries_until(ws, "end 50%_")]
        assert got == ["progress 50%_x done", "end 50%_"]
        await ws.close()


# --- backpressure ------------------------------------------------------------------------------


async def test_slow_client_gets_lagged_while_fast_client_gets_everything(database_url, tmp_path):
    server = await start_server(database_url, tmp_path, live_queue_capacity=64)
    total = 640
    big = "x" * 16_000  # large entries fill the slow client's socket buffers quickly
    # The slow client's socket gets a small receive buffer: how much the kernel would otherwise
    # buffer for it (autotuned, several MB) must not decide whether it falls behind.
    def small_buffer(addr_info):  # noqa: ANN001, ANN202
        sock = socket.socket(*addr_info[:3])
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        return sock

    try:
        async with aiohttp.ClientSession() as session, aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(socket_factory=small_buffer)
        ) as slow_session:
            fast = await connect(session, server, await token_for(server, 1), sources=["worker"])
            slow = await connect(slow_session, server, await token_for(server, 1), sources=["worker"])

            async def read_fast() -> list[dict[str, Any]]:
                entries: list[dict[str, Any]] = []
                while len(entries) < total:
                    frame = await receive_json(fast, timeout=30)
                    assert frame["type"] == "entries", f"the fast client lagged: {frame}"
                    entries.extend(frame["entries"])
                return entries

            fast_reader = asyncio.create_task(read_fast(), name="fast-reader")
            try:
                for start in range(0, total, 8):  # small commits: each publish is far below the capacity
                    await ingest(server, [row(f"bulk {i} {big}") for i in range(start, start + 8)])
                fast_entries = await fast_reader
            finally:
                fast_reader.cancel()
                await asyncio.gather(fast_reader, return_exceptions=True)
            assert [e["message"].split()[1] for e in fast_entries] == [str(i) for i in range(total)]

            # Now the slow client reads: every entry was either delivered or counted as skipped.
            delivered: list[int] = []
            skipped = lagged_frames = 0
            while len(delivered) + skipped < total:
                frame = await receive_json(slow, timeout=30)
                if frame["type"] == "lagged":
                    lagged_frames += 1
                    skipped += frame["skipped"]
                else:
                    assert frame["type"] == "entries"
                    delivered.extend(int(e["message"].split()[1]) for e in frame["entries"])
            assert lagged_frames >= 1 and skipped > 0
            assert len(delivered) + skipped == total
            assert delivered == sorted(set(delivered))  # in order, no duplicates
            await fast.close()
            await slow.close()
    finally:
        await server.stop()


# --- resume ------------------------------------------------------------------------------------


async def test_resume_with_after_id_across_reconnect_yields_every_entry_once(server, monkeypatch):
    stop = asyncio.Event()
    sent: list[int] = []

    # Make the seam race certain rather than likely: before each replay page is read, commit more
    # rows, which then reach the client's subscription and the next replay page both.
    real_query_logs = live_connection.query_logs

    async def query_logs_racing_ingest(conn, log_filter, scope, **kwargs):
        if log_filter.after_id:
            sent.extend(await ingest(server, [row(f"during replay {i}") for i in range(10)]))
        return await real_query_logs(conn, log_filter, scope, **kwargs)

    monkeypatch.setattr(live_connection, "query_logs", query_logs_racing_ingest)

    async def ingest_continuously() -> None:
        batch = 0
        while not stop.is_set():
            sent.extend(await ingest(server, [row(f"stream {batch}.{i}") for i in range(25)]))
            batch += 1

    token = await token_for(server, 1)
    ingester = asyncio.create_task(ingest_continuously(), name="test-ingester")
    try:
        async with aiohttp.ClientSession() as session:
            received: list[int] = []
            first = await connect(session, server, token, sources=["worker"])
            while len(received) < 60:
                frame = await receive_json(first)
                assert frame["type"] == "entries"
                received.extend(e["id"] for e in frame["entries"])
            await first.close()
            # Ingest goes on while the client is away; enough for several replay pages.
            away_from = len(sent)
            assert await wait_for(lambda: _async_true(len(sent) >= away_from + 1200), timeout=60)

            second = await connect(session, server, token, sources=["worker"], after_id=received[-1])
            back_at = len(sent)
            while len(received) < back_at + 300:  # well past the seam, still ingesting
                frame = await receive_json(second)
                assert frame["type"] == "entries", frame
                received.extend(e["id"] for e in frame["entries"])
            stop.set()
            await ingester
            final = await ingest(server, [row("stream end")])
            while received[-1] != final[0]:
                frame = await receive_json(second)
                assert frame["type"] == "entries", frame
                received.extend(e["id"] for e in frame["entries"])
            await second.close()
    finally:
        stop.set()
        await asyncio.gather(ingester, return_exceptions=True)

    async with server.runtime.pool.acquire() as conn:
        stored = [r.id for r in await query_logs(conn, LogFilter(sources=["worker"], after_id=0), Scope.admin(), limit=100_000)]
    assert len(received) == len(set(received)), "an entry was delivered twice"
    assert received == stored, "an entry is missing or out of order"


async def _async_true(value: bool) -> bool:
    return value


# --- authentication and origin -----------------------------------------------------------------


@pytest.mark.parametrize("case", ["garbage", "wrong_key", "expired", "alg_none", "bad_role"])
async def test_bad_tokens_are_closed_with_policy_violation(server, case):
    now = int(time.time())
    claims = {"sub": "1", "email": "a@x", "role": "admin", "iat": now, "exp": now + 600}
    secret = server.app[security.TOKEN_SIGNER].secret
    token = {
        "garbage": "not-a-jwt",
        "wrong_key": jwt.encode(claims, "another-secret-of-enough-length-0123456789", algorithm="HS256"),
        "expired": jwt.encode({**claims, "iat": now - 7200, "exp": now - 3600}, secret, algorithm="HS256"),
        "alg_none": jwt.encode(claims, None, algorithm="none"),
        "bad_role": jwt.encode({**claims, "role": "root"}, secret, algorithm="HS256"),
    }[case]
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(ws_url(server))
        await ws.send_json({"action": "auth", "token": token})
        await ingest(server, [row("must not be streamed")])
        assert await expect_close(ws) == POLICY_VIOLATION


async def test_first_message_must_be_auth(server):
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(ws_url(server))
        await ws.send_json({"action": "subscribe"})
        assert await expect_close(ws) == POLICY_VIOLATION


async def test_no_auth_message_within_timeout_is_closed(database_url, tmp_path):
    server = await start_server(database_url, tmp_path, live_auth_timeout_s=0.3)
    try:
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(ws_url(server))
            assert await expect_close(ws) == POLICY_VIOLATION
    finally:
        await server.stop()


async def test_foreign_origin_is_refused_and_own_origin_accepted(server):
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(ws_url(server), origin="https://evil.example")
        assert await expect_close(ws) == POLICY_VIOLATION

        own = f"http://127.0.0.1:{server.http_port}"
        ws = await session.ws_connect(ws_url(server), origin=own)
        await ws.send_json({"action": "auth", "token": await token_for(server, 1)})
        await ws.send_json({"action": "subscribe"})
        assert (await receive_json(ws))["type"] == "subscribed"
        await ws.close()


async def test_configured_allowed_origins(database_url, tmp_path):
    server = await start_server(database_url, tmp_path, allowed_origins=["https://console.example"])
    try:
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(ws_url(server), origin=f"http://127.0.0.1:{server.http_port}")
            assert await expect_close(ws) == POLICY_VIOLATION
            ws = await session.ws_connect(ws_url(server), origin="https://console.example")
            await ws.send_json({"action": "auth", "token": await token_for(server, 1)})
            await ws.send_json({"action": "subscribe"})
            assert (await receive_json(ws))["type"] == "subscribed"
            await ws.close()
    finally:
        await server.stop()


# --- malformed messages ------------------------------------------------------------------------


async def test_malformed_messages_get_errors_and_the_connection_stays_up(server):
    async with aiohttp.ClientSession() as session:
        ws = await connect(session, server, await token_for(server, 1), _skip_subscribe=True)
        await ws.send_json({"action": "update_filter", "levels": ["info"]})
        assert (await receive_json(ws)) == {"type": "error", "message": "subscribe first"}
        for bad in (
            "not json at all",
            json.dumps({"action": "dance"}),
            json.dumps({"no_action": True}),
            json.dumps({"action": "subscribe", "levels": ["loud"]}),
            json.dumps({"action": "subscribe", "unknown_field": 1}),
            json.dumps({"action": "subscribe", "after_id": -5}),
            json.dumps({"action": "subscribe", "entity_id": 2**70}),
            json.dumps({"action": "auth", "token": await token_for(server, 1)}),
            json.dumps([1, 2, 3]),
        ):
            await ws.send_str(bad)
            reply = await receive_json(ws)
            assert reply["type"] == "error" and reply["message"], (bad, reply)
        await ws.send_bytes(b"\x00\x01")
        assert (await receive_json(ws))["type"] == "error"

        await ws.send_json({"action": "subscribe", "search": "still alive"})
        assert (await receive_json(ws))["type"] == "subscribed"
        await ingest(server, [row("still alive")])
        assert [e["message"] for e in await entries_until(ws, "still alive")] == ["still alive"]
        await ws.close()


# --- scoping -----------------------------------------------------------------------------------


async def _scoping_world(db) -> dict[str, int]:
    ids = {}
    for name in ("creator", "other"):
        ids[name] = await db.fetchval(
            "INSERT INTO users (email, password_hash, role) VALUES ($1, 'x', 'creator') RETURNING id", f"{name}@x"
        )
    for name in ("mine", "theirs"):
        ids[name] = await db.fetchval("INSERT INTO projects (name) VALUES ($1) RETURNING id", name)
    await db.execute("INSERT INTO project_members (project_id, user_id) VALUES ($1, $2)", ids["mine"], ids["creator"])
    ids["job_mine"] = await db.fetchval("INSERT INTO jobs (project_id) VALUES ($1) RETURNING id", ids["mine"])
    ids["job_theirs"] = await db.fetchval("INSERT INTO jobs (project_id) VALUES ($1) RETURNING id", ids["theirs"])
    ids["job_loose"] = await db.fetchval("INSERT INTO jobs (project_id) VALUES (NULL) RETURNING id")
    ids["job_unknown"] = 987_654
    return ids


def _scoping_rows(ids: dict[str, int], tag: str) -> list[ActivityRow]:
    return [
        row(f"{tag} own", user_id=ids["creator"]),
        row(f"{tag} own in theirs", user_id=ids["creator"], project_id=ids["theirs"]),
        row(f"{tag} mine", project_id=ids["mine"]),
        row(f"{tag} other in mine", user_id=ids["other"], project_id=ids["mine"]),
        row(f"{tag} theirs", project_id=ids["theirs"]),
        row(f"{tag} other user", user_id=ids["other"]),
        row(f"{tag} system"),
        row(f"{tag} job mine", job_id=ids["job_mine"]),
        row(f"{tag} job theirs", job_id=ids["job_theirs"]),
        row(f"{tag} job loose", job_id=ids["job_loose"]),
        row(f"{tag} job unknown", job_id=ids["job_unknown"]),
        row(f"{tag} theirs with job mine", project_id=ids["theirs"], job_id=ids["job_mine"]),
        row(f"{tag} end"),
    ]


CREATOR_SEES = ["own", "own in theirs", "mine", "other in mine", "system", "job mine", "job loose", "job unknown", "end"]


async def test_creator_scoping_over_websocket(server, db):
    ids = await _scoping_world(db)
    async with aiohttp.ClientSession() as session:
        # sources: the live tail's own "client connected" entries are not part of this test
        creator = await connect(session, server, await token_for(server, ids["creator"], "creator"), sources=["worker"])
        admin = await connect(session, server, await token_for(server, 99, "admin"), sources=["worker"])
        await ingest(server, _scoping_rows(ids, "scoped"))
        seen = [e["message"].removeprefix("scoped ") for e in await entries_until(creator, "scoped end")]
        assert seen == CREATOR_SEES
        assert len(await entries_until(admin, "scoped end")) == len(_scoping_rows(ids, "x"))

        # Replay (SQL) and live (Python) agree for the same creator.
        replayed = await connect(
            session, server, await token_for(server, ids["creator"], "creator"), sources=["worker"], after_id=0
        )
        replay = [e["message"].removeprefix("scoped ") for e in await entries_until(replayed, "scoped end")]
        assert replay == CREATOR_SEES
        for ws in (creator, admin, replayed):
            await ws.close()


async def test_entry_matcher_agrees_with_sql(server, db):
    """The live tail's Python predicate and repository.where_clause select the same rows."""
    ids = await _scoping_world(db)
    base = datetime.now(timezone.utc) - timedelta(hours=1)
    rows: list[ActivityRow] = []
    levels, sources, categories = ("debug", "info", "warn", "error"), ("api", "worker", "agent"), ("curated", "verbose")
    owners = [
        {}, {"user_id": ids["creator"]}, {"user_id": ids["other"]}, {"project_id": ids["mine"]},
        {"project_id": ids["theirs"]}, {"user_id": ids["other"], "project_id": ids["mine"]},
        {"job_id": ids["job_mine"]}, {"job_id": ids["job_theirs"]}, {"job_id": ids["job_loose"]},
        {"job_id": ids["job_unknown"]}, {"project_id": ids["theirs"], "job_id": ids["job_mine"]},
    ]  # fmt: skip
    messages = ["Disk FULL", "disk full", "50%_done", "50ab_done", "back\\slash", "plain", "ÉCLAIR é"]
    for i in range(220):
        rows.append(row(
            messages[i % len(messages)] + f" #{i}",
            level=levels[i % 4], source=sources[i % 3], category=categories[(i // 3) % 2],
            timestamp=base + timedelta(seconds=i), entity_type=("scene", "job", None)[i % 3],
            entity_id=(i % 5) if i % 3 != 2 else None,
            trace_id=("a" * 32) if i % 7 == 0 else None, admin_only=i % 13 == 5, **owners[i % len(owners)],
        ))  # fmt: skip
    await ingest(server, rows)
    async with server.runtime.pool.acquire() as conn:
        stored = await query_logs(conn, LogFilter(after_id=0), Scope.admin(), limit=10_000)
    all_ids = [r.id for r in stored]
    filters = [
        LogFilter(),
        LogFilter(levels=["warn", "error"]),
        LogFilter(levels=[]),
        LogFilter(sources=["agent"], mode="curated"),
        LogFilter(search="disk full"),
        LogFilter(search="50%_"),
        LogFilter(search="\\"),
        LogFilter(search="_"),
        LogFilter(entity_type="scene", entity_id=3),
        LogFilter(entity_id=0),
        LogFilter(trace_id="a" * 32),
        LogFilter(job_id=ids["job_mine"]),
        LogFilter(user_id=ids["other"]),
        LogFilter(project_id=ids["mine"], levels=["info"]),
        LogFilter(since=base + timedelta(seconds=50), until=base + timedelta(seconds=120)),
        LogFilter(after_id=all_ids[100]),
        LogFilter(after_id=all_ids[50], through_id=all_ids[120]),
        LogFilter(levels=["debug"], sources=["api", "worker"], mode="verbose", search="PLAIN"),
    ]
    scopes = [
        Scope.admin(),
        Scope(is_admin=False, user_id=ids["creator"], project_ids=[ids["mine"]]),
        Scope(is_admin=False, user_id=ids["other"], project_ids=[]),
        Scope(is_admin=False, user_id=ids["creator"], project_ids=[ids["mine"], ids["theirs"]]),
    ]
    jobs = JobProjects(server.runtime.pool)
    checked = 0
    for log_filter in filters:
        for scope in scopes:
            async with server.runtime.pool.acquire() as conn:
                sql_ids = [r.id for r in await query_logs(conn, _with_floor(log_filter), scope, limit=10_000)]
            matcher = EntryMatcher(log_filter, scope, jobs)
            projects = await jobs.lookup(matcher.job_ids_to_decide(stored))
            python_ids = [r.id for r in stored if matcher.decide(r, projects)]
            # The hub's admission never refuses what the exact rule lets through.
            assert set(python_ids) <= {r.id for r in stored if matcher(r)}
            assert python_ids == sql_ids, (log_filter, scope)
            checked += len(sql_ids)
    assert checked > 500  # the combinations are not all empty


def _with_floor(log_filter: LogFilter) -> LogFilter:
    """query_logs returns id order only with after_id; 0 keeps every row."""
    from dataclasses import replace

    return log_filter if log_filter.after_id is not None else replace(log_filter, after_id=0)


# --- lifecycle ---------------------------------------------------------------------------------


async def test_connects_and_disconnects_are_logged_as_verbose_entries(server, db):
    """Connection chatter is verbose: curated mode is for what happened."""
    async with aiohttp.ClientSession() as session:
        ws = await connect(session, server, await token_for(server, 5, "admin"))
        await ws.close()

    async def lifecycle() -> list[ActivityRow]:
        rows = await query_logs(db, LogFilter(sources=["api"], mode="verbose", search="live tail client"), Scope.admin())
        return rows if len(rows) >= 2 else []

    rows = await wait_for(lifecycle)
    assert sorted(r.message for r in rows) == ["live tail client connected", "live tail client disconnected"]
    assert all(r.user_id == 5 and r.level == "info" for r in rows)
    disconnected = next(r for r in rows if r.message.endswith("disconnected"))
    assert "duration_s" in disconnected.fields and disconnected.fields["connection_id"] >= 1


async def test_shutdown_closes_sockets_with_going_away(database_url, tmp_path):
    server = await start_server(database_url, tmp_path)
    stopping: asyncio.Task[None] | None = None
    try:
        async with aiohttp.ClientSession() as session:
            sockets = [await connect(session, server, await token_for(server, 1)) for _ in range(3)]
            await ingest(server, [row("before shutdown")])
            await entries_until(sockets[0], "before shutdown")
            stopping = asyncio.create_task(server.stop(), name="server-stop")
            codes = [await expect_close(ws, timeout=20) for ws in sockets]
            assert codes == [GOING_AWAY] * 3
    finally:
        await (stopping if stopping is not None else server.stop())
