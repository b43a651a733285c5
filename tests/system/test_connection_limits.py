"""Connection exhaustion (slowloris) on the HTTP listeners, against the real server: a header
timeout, a per-listener connection cap that evicts idle connections, and a reserve for health
checks, login, the console and admins when every connection is busy (api/connection_guard.py)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import resource
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.base_protocol import BaseProtocol
from aiohttp.web_protocol import RequestHandler

from api import connection_guard
from api.connection_guard import (
    ConnectionLimits,
    GuardedRequestHandler,
    GuardedServer,
    connection_caps_for_file_limit,
    fit_to_open_file_limit,
)
from api.settings import Settings
from tests.support.api import PASSWORD, auth, make_user
from tests.support.server import start_server, wait_for
from tests.support.otlp import request_with
from tests.support.serve_process import ServeProcess

ADMIN_EMAIL = "ops@example.com"
ADMIN_PASSWORD = "slowloris-admin-password"
SERVER_FILE_LIMIT = 1024
PARTIAL_REQUESTS_PER_PORT = 1100
# A partial request: the request line and one header, never the blank line that ends the headers.
PARTIAL_REQUEST = b"GET /api/v1/logs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


def _limit_open_files_to_1024() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (SERVER_FILE_LIMIT, SERVER_FILE_LIMIT))


def _raise_own_file_limit(needed: int) -> None:
    """This process's soft open-file limit raised to its hard limit, which must allow ``needed``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"this test itself needs {needed} file descriptors, but the hard open-file limit is {hard}")
    if soft != hard and soft != resource.RLIM_INFINITY:
        with contextlib.suppress(ValueError, OSError):  # an unlimited hard limit the kernel will not grant
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        pytest.skip(f"this test itself needs {needed} file descriptors, but the open-file limit stays at {soft}")


async def _open_partial_requests(port: int, count: int) -> list[asyncio.StreamWriter]:
    """``count`` connections that each send part of a request and then nothing. Connections the
    server cannot take (the unprotected server stops accepting) are given up after a while."""
    opened: list[asyncio.StreamWriter] = []
    turns = asyncio.Semaphore(100)

    async def open_one() -> None:
        async with turns:
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout=3)
            except (OSError, asyncio.TimeoutError):
                return
            opened.append(writer)
            with contextlib.suppress(OSError):
                writer.write(PARTIAL_REQUEST)

    await asyncio.gather(*(open_one() for _ in range(count)))
    return opened


@pytest.mark.timeout(180)
async def test_slowloris_on_both_http_listeners_leaves_the_server_reachable(database_url: str, tmp_path: Path):
    _raise_own_file_limit(2 * PARTIAL_REQUESTS_PER_PORT + 512)
    server = ServeProcess(database_url, tmp_path / "data", preexec_fn=_limit_open_files_to_1024,
                          env={"ACTIVITY_ADMIN_EMAIL": ADMIN_EMAIL, "ACTIVITY_ADMIN_PASSWORD": ADMIN_PASSWORD})  # fmt: skip
    flood: list[asyncio.StreamWriter] = []
    # Every check opens a fresh connection, as a new visitor would.
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True),
                                    timeout=aiohttp.ClientTimeout(total=20))  # fmt: skip
    try:
        await server.start()
        token = server.ingest_token

        flood += await _open_partial_requests(server.http_port, PARTIAL_REQUESTS_PER_PORT)
        flood += await _open_partial_requests(server.otlp_http_port, PARTIAL_REQUESTS_PER_PORT)
        assert len(flood) > SERVER_FILE_LIMIT  # more than the server could ever hold open at once

        async with session.get(server.api_url + "/healthz") as response:
            assert response.status == 200
        async with session.get(server.api_url + "/readyz") as response:
            assert response.status == 200, await response.text()
        login = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        async with session.post(server.api_url + "/api/v1/auth/login", json=login) as response:
            assert response.status == 200, await response.text()
            assert (await response.json())["user"]["role"] == "admin"
        body = request_with([{"body": "delivered during a slowloris attack", "severity_number": 9}]).SerializeToString()
        headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {token}"}
        async with session.post(server.otlp_http_url, data=body, headers=headers) as response:
            assert response.status == 200, await response.read()
    finally:
        await session.close()
        for writer in flood:
            writer.transport.abort()
        await server.stop()


# --- the in-process server, with small limits ---------------------------------------------------

# Generous: the machine is shared and slow; nothing below measures time.
DEADLINE_S = 20.0
# A login whose body is announced but never sent: its handler stays busy waiting for it.
SLOW_LOGIN = (b"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
              b"Content-Length: 100\r\n\r\n{\"email\": ")  # fmt: skip

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def _guard(server) -> GuardedServer:
    guard = server.runner.server
    assert isinstance(guard, GuardedServer)
    return guard


async def _connect(port: int) -> Connection:
    return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), DEADLINE_S)


def _request_bytes(method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEADLINE_S)
    status_line, *header_lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", "0"))), DEADLINE_S)
    return int(status_line.split()[1]), headers, body


async def _exchange(connection: Connection, request: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = connection
    writer.write(request)
    return await _read_response(reader)


async def _closed_by_server(reader: asyncio.StreamReader) -> bool:
    """Whether the server closes (or aborts) the connection within the deadline, reading and
    dropping whatever it still sends."""
    try:
        async with asyncio.timeout(DEADLINE_S):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        pass
    return True


def _abort_all(connections: list[Connection]) -> None:
    for _, writer in connections:
        writer.transport.abort()


async def test_aiohttp_internals_the_guard_relies_on() -> None:
    # aiohttp is pinned; this fails first, and says where, when an upgrade moves what the guard
    # overrides or reads (the behaviour itself is what the other tests check).
    slots = set(RequestHandler.__slots__) | set(BaseProtocol.__slots__)
    assert {"_messages", "_waiter", "_request_count", "_upgraded", "_loop"} <= slots
    for method in ("data_received", "connection_lost", "_handle_request", "finish_response", "force_close"):
        assert callable(vars(RequestHandler).get(method)), method
    def parameters(method) -> list[str]:
        return list(inspect.signature(method).parameters)

    assert parameters(RequestHandler._handle_request) == ["self", "request", "start_time", "request_handler"]
    assert parameters(RequestHandler.finish_response) == ["self", "request", "resp", "start_time"]
    assert callable(vars(web.AppRunner).get("_make_server"))
    for method in ("__call__", "connection_made", "connection_lost"):
        assert callable(vars(web.Server).get(method)), method

    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        return web.Response()

    limits = ConnectionLimits("test", max_connections=5, reserved_connections=1,
                              header_timeout_s=3, keepalive_timeout_s=7)  # fmt: skip
    plain = web.Server(handler, access_log=None)
    assert isinstance(plain._kwargs, dict) and plain._loop is asyncio.get_running_loop()
    guard = GuardedServer(plain.request_handler, limits=limits, loop=plain._loop, **plain._kwargs)
    protocol = guard()
    assert isinstance(protocol, GuardedRequestHandler) and protocol.keepalive_timeout == 7
    assert protocol._waiter is None and protocol._request_count == 0 and not protocol._messages


def test_connection_caps_fit_the_open_file_limit(monkeypatch, caplog) -> None:
    assert connection_caps_for_file_limit(2048, 64, 20_000) == (2048, 64)
    assert connection_caps_for_file_limit(2048, 64, 1024) == (320, 64)  # 2 × 384 + 256 = 1024
    assert connection_caps_for_file_limit(2048, 64, 400) == (54, 18)  # the reserve: at most a quarter
    assert connection_caps_for_file_limit(100, 0, 1024) == (100, 0)

    monkeypatch.setattr(connection_guard, "raise_open_file_limit", lambda: 1024)
    settings = fit_to_open_file_limit(Settings())
    assert (settings.max_connections, settings.reserved_connections) == (320, 64)
    assert "open-file limit is 1024" in caplog.text
    monkeypatch.setattr(connection_guard, "raise_open_file_limit", lambda: None)  # unlimited
    assert fit_to_open_file_limit(Settings()).max_connections == 2048


async def test_a_request_whose_headers_trickle_in_is_closed_at_the_header_timeout(database_url, tmp_path):
    # The keep-alive timeout stays at its default (30 s), longer than the deadline below: only
    # the header timeout can close these connections in time.
    server = await start_server(database_url, tmp_path, header_timeout_s=0.5)
    connections: list[Connection] = []
    try:
        half_line = await _connect(server.http_port)
        connections.append(half_line)
        half_line[1].write(b"GET /hea")
        assert await _closed_by_server(half_line[0])

        # One byte at a time keeps the connection active, but the clock runs from the first byte.
        trickle = await _connect(server.http_port)
        connections.append(trickle)

        async def send_slowly() -> None:
            with contextlib.suppress(ConnectionError):
                for byte in b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"x" * 10_000:
                    trickle[1].write(bytes([byte]))
                    await asyncio.sleep(0.05)

        sender = asyncio.create_task(send_slowly())
        try:
            assert await _closed_by_server(trickle[0])
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

        # A request that arrives whole is served as before.
        status, _, _ = await _exchange(await _connect(server.http_port), _request_bytes("GET", "/healthz"))
        assert status == 200
    finally:
        _abort_all(connections)
        await server.stop()


async def test_idle_connections_are_closed_at_the_keepalive_timeout(database_url, tmp_path):
    # The header timeout stays at its default (10 s); a silent connection is not sending headers.
    server = await start_server(database_url, tmp_path, keepalive_timeout_s=0.5)
    connections: list[Connection] = []
    try:
        silent = await _connect(server.http_port)
        connections.append(silent)
        assert await _closed_by_server(silent[0])

        after_a_request = await _connect(server.http_port)
        connections.append(after_a_request)
        status, headers, _ = await _exchange(after_a_request, _request_bytes("GET", "/healthz"))
        assert status == 200 and headers.get("connection") != "close"
        assert await _closed_by_server(after_a_request[0])
    finally:
        _abort_all(connections)
        await server.stop()


async def test_at_the_cap_a_new_connection_evicts_the_oldest_idle_one(database_url, tmp_path):
    server = await start_server(database_url, tmp_path, max_connections=3, reserved_connections=0)
    guard = _guard(server)
    connections: list[Connection] = []
    try:
        for _ in range(3):  # one after the other, so that their age is known
            connection = await _connect(server.http_port)
            connections.append(connection)
            status, _, _ = await _exchange(connection, _request_bytes("GET", "/healthz"))
            assert status == 200
        assert guard.counts().regular == 3

        newcomer = await _connect(server.http_port)
        connections.append(newcomer)
        status, _, _ = await _exchange(newcomer, _request_bytes("GET", "/healthz"))
        assert status == 200
        oldest, second, third = connections[:3]
        assert await _closed_by_server(oldest[0])
        for survivor in (second, third):  # still open and kept alive
            status, _, _ = await _exchange(survivor, _request_bytes("GET", "/readyz"))
            assert status == 200
        counts = guard.counts()
        assert (counts.regular, counts.evicted, counts.refused) == (3, 1, 0)
    finally:
        _abort_all(connections)
        await server.stop()


async def test_the_reserve_lets_operators_in_when_every_connection_is_busy(database_url, db, tmp_path):
    server = await start_server(database_url, tmp_path, max_connections=5, reserved_connections=2)
    guard = _guard(server)
    admin = await make_user(db, "root@example.com", "admin")
    creator = await make_user(db, "ana@example.com", "creator")
    connections: list[Connection] = []

    async def hold_busy(count: int) -> None:
        for _ in range(count):
            connection = await _connect(server.http_port)
            connections.append(connection)
            connection[1].write(SLOW_LOGIN)

    async def on_the_reserve(request: bytes) -> tuple[int, dict[str, str], bytes]:
        # Each reserve connection is closed after its answer; wait for the slot to be free again.
        assert await wait_for(lambda: guard.counts().reserve == 0, DEADLINE_S)
        connection = await _connect(server.http_port)
        connections.append(connection)
        status, headers, body = await _exchange(connection, request)
        assert headers.get("connection") == "close", (status, headers)
        assert await _closed_by_server(connection[0])  # not kept alive
        return status, headers, body

    try:
        await hold_busy(5)
        assert await wait_for(lambda: guard.counts() == connection_guard.ConnectionCounts(5, 0, 5, 0, 0), DEADLINE_S)

        status, _, _ = await on_the_reserve(_request_bytes("GET", "/healthz"))
        assert status == 200
        status, _, _ = await on_the_reserve(_request_bytes("GET", "/readyz"))
        assert status == 200
        status, headers, body = await on_the_reserve(_request_bytes("GET", "/"))  # the console's page
        assert "retry-after" not in headers and b"Activity Console" in body
        login = json.dumps({"email": admin.email, "password": PASSWORD}).encode()
        json_body = {"Content-Type": "application/json"}
        status, _, body = await on_the_reserve(_request_bytes("POST", "/api/v1/auth/login", json_body, login))
        assert status == 200 and json.loads(body)["user"]["role"] == "admin"
        status, _, body = await on_the_reserve(_request_bytes("GET", "/api/v1/admin/users", auth(server, admin)))
        assert status == 200, body

        refused = [
            _request_bytes("GET", "/api/v1/auth/me", auth(server, creator)),
            _request_bytes("GET", "/api/v1/openapi.json"),  # public, but not for the reserve
            _request_bytes("GET", "/ws/activity-logs"),
        ]
        for request in refused:
            status, headers, body = await on_the_reserve(request)
            assert status == 503 and int(headers["retry-after"]) > 0, (request, status, body)
            if request.startswith(b"GET /api/"):  # in the API's error shape
                assert json.loads(body)["error"]["code"] == "unavailable"

        # Reserve full of busy connections too: the next one is closed at once, unanswered.
        await hold_busy(2)
        assert await wait_for(lambda: (guard.counts().reserve, guard.counts().busy) == (2, 7), DEADLINE_S)
        beyond = await _connect(server.http_port)
        connections.append(beyond)
        with contextlib.suppress(ConnectionError):
            beyond[1].write(_request_bytes("GET", "/healthz"))
        assert await _closed_by_server(beyond[0])
        assert guard.counts().refused == 1
    finally:
        _abort_all(connections)  # the busy handlers end when their clients go
        await server.stop()
