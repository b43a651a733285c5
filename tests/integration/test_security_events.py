"""The server's own entries cannot be written by whoever reaches a port:
refused and malformed traffic is counted and reported once per window, quoted and bounded, to
admins only; the server's own log records are admin-only and rate-limited."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest

from api.security_events import SECURITY_EVENTS
from collector.db.repository import LogFilter, Scope, query_logs
from tests.support.api import auth, make_user
from tests.support.server import start_server, wait_for
from tests.support.live import connect, entries_until, ingest, row

pytestmark = pytest.mark.timeout(120)
ATTACK = "https://evil.example/<script>alert(1)</script>" + "A" * 5000


async def _api_entries(db, scope: Scope) -> list:
    return await query_logs(db, LogFilter(sources=["api"]), scope, limit=10_000, shortened=False)


async def test_refused_origins_become_one_admin_only_report(server, db):
    async with aiohttp.ClientSession() as session:
        for i in range(200):
            ws = await session.ws_connect(server.api_url + "/ws/activity-logs", headers={"Origin": f"{ATTACK}{i}"})
            await ws.receive(timeout=10)
            await ws.close()
    server.app[SECURITY_EVENTS].flush()
    admin_rows = await wait_for(lambda: _api_entries(db, Scope.admin()))
    assert len(admin_rows) == 1, [r.message for r in admin_rows]
    report = admin_rows[0]
    assert report.message == "200 WebSocket connection(s) refused for their Origin in the last minute"
    assert report.admin_only and report.level == "warn" and report.category == "curated"
    assert report.fields["count"] == 200 and report.fields["remotes"] == {"127.0.0.1": 200}
    samples = report.fields["samples"]
    assert 1 <= len(samples) <= 3 and all(len(s) <= 120 and s.startswith("'https://evil") for s in samples)
    creator = await make_user(db, "c@example.com")
    assert await _api_entries(db, Scope(is_admin=False, user_id=creator.user_id)) == []


async def test_malformed_http_and_failed_logins_are_counted_not_logged(database_url, tmp_path, db):
    server = await start_server(database_url, tmp_path, server_log_level="INFO")
    try:
        for _ in range(30):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.http_port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\x01: " + ATTACK.encode() + b"\r\n\r\n")
            await reader.read()
            writer.close()
        async with aiohttp.ClientSession() as session:
            for i in range(5):
                login = {"email": f"{ATTACK[:200]}{i}@x", "password": "wrong password for sure"}
                async with session.post(server.api_url + "/api/v1/auth/login", json=login) as response:
                    assert response.status == 401
        server.app[SECURITY_EVENTS].flush()
        await asyncio.sleep(0.5)
        rows = await wait_for(lambda: _api_entries(db, Scope.admin()))
        by_event = {r.fields.get("security.event"): r for r in rows}
        assert by_event["malformed_http"].fields["count"] == 30
        assert by_event["login_failed"].fields["count"] == 5
        # No entry carries a stack trace of the client's garbage, and creators see none of it.
        assert not [r for r in rows if "exception.stacktrace" in r.fields]
        creator = await make_user(db, "c2@example.com")
        assert await _api_entries(db, Scope(is_admin=False, user_id=creator.user_id)) == []
    finally:
        await server.stop()


async def test_the_servers_own_records_are_admin_only_and_rate_limited(database_url, tmp_path, db):
    server = await start_server(database_url, tmp_path, server_log_level="INFO")
    try:
        noisy = logging.getLogger("api.some_module")
        for i in range(100):
            noisy.warning("disk nearly full on %s", f"volume-{i}")
        async with aiohttp.ClientSession() as session:
            creator = await make_user(db, "c3@example.com")
            ws = await connect(session, server, auth(server, creator)["Authorization"].removeprefix("Bearer "),
                               sources=["api", "worker"])  # fmt: skip
            await ingest(server, [row("end")])
            seen = [e for e in await entries_until(ws, "end")]
            # No server record reaches a creator: only their own connection's entry and the marker.
            assert [e["message"] for e in seen if e["user_id"] != creator.user_id] == ["end"]
            await ws.close()
    finally:
        await server.stop()  # flushes the suppressed counts
    async def stored() -> list:
        return [r for r in await _api_entries(db, Scope.admin()) if r.scope_name == "api.some_module"]
    rows = await stored()
    assert all(r.admin_only for r in rows)
    kept = [r for r in rows if r.message.startswith("disk nearly full")]
    summary = [r for r in rows if "left out" in r.message]
    assert len(kept) == 20 and len(summary) == 1 and summary[0].fields["suppressed"] == 80
