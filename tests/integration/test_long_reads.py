"""Long reads cannot starve the rest: a creator who starts exports and never
reads them must not take the connections that ingest, the API and /readyz need; stalled exports
are ended by a write timeout and their database sessions freed."""

from __future__ import annotations

import asyncio
import socket
from datetime import datetime, timedelta, timezone

import aiohttp
import asyncpg
import pytest

from collector.writer import COPY_COLUMNS
from tests.support.api import auth, make_user
from tests.support.server import start_server, wait_for
from tests.support.otlp import request_with

pytestmark = pytest.mark.timeout(180)


async def _fill(db, rows: int) -> None:
    """``rows`` system entries of about 600 bytes each, straight into the table."""
    ids = await db.fetchval("SELECT array_agg(nextval('activity_logs_id_seq')) FROM generate_series(1, $1)", rows)
    now = datetime.now(timezone.utc) - timedelta(minutes=5)
    message = "bulk entry " + "x" * 600
    records = [(
        ids[i], now + timedelta(microseconds=i), 2, 3, message, b'{"n":1}', "verbose", None, None, None, None, None,
        None, None, None, 9, "INFO", "svc", None, b"{}", None, None, False,
    ) for i in range(rows)]  # fmt: skip
    await db.copy_records_to_table("activity_logs", records=records, columns=COPY_COLUMNS)


async def _stalled_export(port: int, token: str) -> tuple[socket.socket, bytes]:
    """An export request on a socket with a tiny receive buffer that is then never read."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    request = (f"GET /api/v1/activity-logs/export?format=json HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               f"Authorization: Bearer {token}\r\n\r\n").encode()  # fmt: skip
    await loop.sock_sendall(sock, request)
    head = await asyncio.wait_for(loop.sock_recv(sock, 1024), 20)
    return sock, head


async def _sessions_in_transaction(db) -> int:
    return await db.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'"
    )


async def test_stalled_exports_do_not_starve_ingest_or_the_api(database_url, tmp_path, db):
    server = await start_server(database_url, tmp_path, export_write_timeout_s=3.0)
    sockets: list[socket.socket] = []
    try:
        await _fill(db, 40_000)
        creator = await make_user(db, "hoarder@example.com")
        other = await make_user(db, "other@example.com")
        token = auth(server, creator)["Authorization"].removeprefix("Bearer ")
        answers = []
        for _ in range(10):
            sock, head = await _stalled_export(server.http_port, token)
            sockets.append(sock)
            answers.append(head.split(b"\r\n", 1)[0])
        # A user has at most two exports at a time; the others are told to wait, not queued.
        assert answers.count(b"HTTP/1.1 200 OK") == 2, answers
        assert answers.count(b"HTTP/1.1 429 Too Many Requests") == 8, answers

        timeout = aiohttp.ClientTimeout(total=15)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(server.api_url + "/readyz") as response:
                assert response.status == 200, await response.text()
            async with session.get(server.api_url + "/api/v1/activity-logs", headers=auth(server, other)) as response:
                assert response.status == 200
            # Another user's export still runs to the end while the hoarder's are stalled.
            async with session.get(server.api_url + "/api/v1/activity-logs/export", headers=auth(server, other),
                                   params={"search": "never matches"}) as response:  # fmt: skip
                assert response.status == 200 and await response.read() == b""
            body = request_with([{"body": "ingested during stalled exports"}]).SerializeToString()
            headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {server.token}"}
            async with session.post(server.otlp_http_url, data=body, headers=headers) as response:
                assert response.status == 200

        # The stalled exports are ended by the write timeout; their transactions go away.
        assert await wait_for(lambda: _sessions_in_transaction(db), timeout=1) >= 1
        assert await wait_for(lambda: _no_sessions_in_transaction(db), timeout=30)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(server.api_url + "/api/v1/activity-logs/export", headers=auth(server, creator),
                                   params={"search": "never matches"}) as response:  # fmt: skip
                assert response.status == 200  # the slots were given back
    finally:
        for sock in sockets:
            sock.close()
        await server.stop()


async def _no_sessions_in_transaction(db) -> bool:
    return await _sessions_in_transaction(db) == 0


async def _show_statement_timeout(conn) -> str | None:
    """The connection's statement_timeout. Under a limit of 1 ms a busy machine can end even the
    SHOW that reads it (seen in CI): it is asked again, a few times."""
    for _ in range(50):
        try:
            return await conn.fetchval("SHOW statement_timeout")
        except asyncpg.QueryCanceledError:
            await asyncio.sleep(0.01)
    return None


async def test_api_statements_end_at_their_timeout_with_a_clear_answer(database_url, tmp_path, db, monkeypatch):
    """A search no index serves cannot hold an API connection for long: its statement is ended and
    the caller told to narrow it (503), instead of a 500 or a connection held for minutes."""
    from api import app as app_module

    monkeypatch.setattr(app_module, "API_STATEMENT_TIMEOUT_MS", 1)
    server = await start_server(database_url, tmp_path)
    try:
        await _fill(db, 40_000)
        viewer = await make_user(db, "searcher@example.com", role="admin")
        async with aiohttp.ClientSession() as session:
            async with session.get(server.api_url + "/api/v1/activity-logs", headers=auth(server, viewer),
                                   params={"search": "never matches anything"}) as response:  # fmt: skip
                assert response.status == 503, await response.text()
                assert "took too long" in (await response.json())["error"]["message"]
        async with server.runtime.pool.acquire() as conn:
            assert await _show_statement_timeout(conn) == "1ms"
    finally:
        await server.stop()
