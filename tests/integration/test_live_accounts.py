"""Open live-tail connections follow the account behind them and cannot pin the
server's memory by not reading: a deleted account or an expired token is closed
with 1008, a changed role or membership re-scopes the connection, a user holds a bounded number of
tails, and a client that stops reading is disconnected and its socket freed."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import time

import aiohttp
import pytest
from aiohttp import WSMsgType

from api import live, security
from tests.support.api import token_for
from tests.support.server import start_server, wait_for
from tests.support.live import connect, entries_until, expect_close, ingest, row

pytestmark = pytest.mark.timeout(120)
POLICY_VIOLATION = 1008


@pytest.fixture
async def watched(database_url, tmp_path):
    server = await start_server(database_url, tmp_path, live_recheck_s=0.3)
    try:
        yield server
    finally:
        await server.stop()


async def test_a_deleted_account_is_disconnected(watched, db):
    async with aiohttp.ClientSession() as session:
        ws = await connect(session, watched, await token_for(watched, 41, "admin"), sources=["worker"])
        await ingest(watched, [row("before deletion")])
        await entries_until(ws, "before deletion")
        await db.execute("DELETE FROM users WHERE id = 41")
        assert await expect_close(ws, timeout=15) == POLICY_VIOLATION
        assert ws.close_code == POLICY_VIOLATION


async def test_a_demoted_admin_loses_other_projects_entries(watched, db):
    theirs = await db.fetchval("INSERT INTO projects (name) VALUES ('theirs') RETURNING id")
    async with aiohttp.ClientSession() as session:
        ws = await connect(session, watched, await token_for(watched, 42, "admin"), sources=["worker"])
        await ingest(watched, [row("admin sees theirs", project_id=theirs), row("mark 1")])
        assert [e["message"] for e in await entries_until(ws, "mark 1")] == ["admin sees theirs", "mark 1"]
        await db.execute("UPDATE users SET role = 'creator' WHERE id = 42")
        registry = watched.app[live.REGISTRY]
        assert await wait_for(lambda: all(c.scope and not c.scope.is_admin for c in registry.connections.values()))
        await ingest(watched, [row("creator must not see theirs", project_id=theirs), row("own", user_id=42),
                               row("mark 2")])  # fmt: skip
        assert [e["message"] for e in await entries_until(ws, "mark 2")] == ["own", "mark 2"]
        await ws.close()


async def test_a_removed_membership_stops_that_projects_entries(watched, db):
    creator = await db.fetchval("INSERT INTO users (email, password_hash, role) VALUES ('m@x', 'x', 'creator') RETURNING id")
    project = await db.fetchval("INSERT INTO projects (name) VALUES ('studio') RETURNING id")
    await db.execute("INSERT INTO project_members (project_id, user_id) VALUES ($1, $2)", project, creator)
    async with aiohttp.ClientSession() as session:
        ws = await connect(session, watched, await token_for(watched, creator, "creator"), sources=["worker"])
        await ingest(watched, [row("member", project_id=project), row("mark 1")])
        assert [e["message"] for e in await entries_until(ws, "mark 1")] == ["member", "mark 1"]
        await db.execute("DELETE FROM project_members WHERE user_id = $1", creator)
        registry = watched.app[live.REGISTRY]
        assert await wait_for(lambda: all(c.scope and c.scope.project_ids == [] for c in registry.connections.values()))
        await ingest(watched, [row("no longer a member", project_id=project), row("mark 2")])
        assert [e["message"] for e in await entries_until(ws, "mark 2")] == ["mark 2"]
        await ws.close()


async def test_a_connection_is_closed_when_its_token_expires(watched, db):
    await token_for(watched, 43, "admin")  # creates the account
    principal = security.Principal(user_id=43, email="u43@x", role="admin")
    signer = watched.app[security.TOKEN_SIGNER]
    token, expires = signer.issue(principal, now=time.time() - signer.ttl_s + 2)  # expires in 2 s
    async with aiohttp.ClientSession() as session:
        ws = await connect(session, watched, token, sources=["worker"])
        assert await expect_close(ws, timeout=20) == POLICY_VIOLATION
        assert time.time() >= expires - 0.5


async def test_live_tails_per_user_are_bounded(database_url, tmp_path, db):
    server = await start_server(database_url, tmp_path, live_tails_per_user=2)
    try:
        token = await token_for(server, 44, "admin")
        async with aiohttp.ClientSession() as session:
            first = await connect(session, server, token, sources=["worker"])
            second = await connect(session, server, token, sources=["worker"])
            third = await connect(session, server, token, _skip_subscribe=True)
            message = await third.receive(timeout=10)
            assert message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED) and third.close_code == POLICY_VIOLATION
            other = await connect(session, server, await token_for(server, 45, "admin"), sources=["worker"])
            for ws in (first, second, other):
                await ws.close()
    finally:
        await server.stop()


def _masked_text_frame(text: str) -> bytes:
    payload = text.encode()
    mask = os.urandom(4)
    header = bytes([0x81])
    if len(payload) < 126:
        header += bytes([0x80 | len(payload)])
    else:
        header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def _stalled_tail(port: int, token: str) -> socket.socket:
    """A live-tail client on a socket with a tiny receive buffer: it authenticates, subscribes,
    reads the reply, and then never reads again (a client library would keep reading)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    await loop.sock_sendall(sock, (f"GET /ws/activity-logs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                                   "Sec-WebSocket-Version: 13\r\n\r\n").encode())  # fmt: skip
    received = b""
    while b"\r\n\r\n" not in received:
        received += await asyncio.wait_for(loop.sock_recv(sock, 4096), 10)
    assert received.startswith(b"HTTP/1.1 101"), received
    await loop.sock_sendall(sock, _masked_text_frame(json.dumps({"action": "auth", "token": token})))
    await loop.sock_sendall(sock, _masked_text_frame(json.dumps({"action": "subscribe", "sources": ["worker"]})))
    while b"subscribed" not in received:
        received += await asyncio.wait_for(loop.sock_recv(sock, 4096), 10)
    return sock


async def test_clients_that_stop_reading_are_disconnected(database_url, tmp_path, db):
    server = await start_server(database_url, tmp_path, live_send_timeout_s=1.0)
    stalled: list[socket.socket] = []
    try:
        token = await token_for(server, 46, "admin")
        registry = server.app[live.REGISTRY]
        stalled = [await _stalled_tail(server.http_port, token) for _ in range(10)]
        assert await wait_for(lambda: len(registry.connections) == 10)
        big = "y" * 60_000
        for start in range(0, 400, 20):  # far more than the sockets' buffers hold
            await ingest(server, [row(f"flood {i} {big}") for i in range(start, start + 20)])
        # Every stalled client is disconnected and forgotten, its socket aborted (reset).
        assert await wait_for(lambda: not registry.connections, timeout=30), len(registry.connections)
        # The server still serves a client that reads.
        async with aiohttp.ClientSession() as session:
            reader = await connect(session, server, token, sources=["worker"])
            await ingest(server, [row("after the stall")])
            assert (await entries_until(reader, "after the stall"))[-1]["message"] == "after the stall"
            await reader.close()
    finally:
        for sock in stalled:
            sock.close()
        await server.stop()
