"""Every open live-tail connection of the server: per-user caps, origins, the periodic re-check of
the accounts behind them, the ``entries`` frames they share, and closing them all at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import time
from typing import Callable

import asyncpg
from aiohttp import WSCloseCode, web

from api.live.connection import CLOSE_TIMEOUT_S, LiveConnection, close_socket
from api.live.matcher import JobProjects
from api.live.protocol import entries_frames
from api.security_events import SecurityEvents
from collector.db.queries import q
from collector.db.repository import Scope
from collector.hub import LiveHub
from collector.model import ActivityRow

log = logging.getLogger(__name__)

# Recent batches whose frames are kept for the clients that receive the same batch, bounded in
# count and in bytes (a batch is at most the writer's largest flush).
SHARED_FRAMES_KEPT = 512
SHARED_FRAMES_MAX_BYTES = 64 * 1024 * 1024


class LiveRegistry:
    """Every open live-tail connection of the server, so that shutdown can close them all."""

    def __init__(self, *, queue_capacity: int, auth_timeout_s: float, allowed_origins: list[str],
                 recheck_s: float = 10.0, send_timeout_s: float = 10.0, tails_per_user: int = 20):  # fmt: skip
        self.queue_capacity = queue_capacity
        self.auth_timeout_s = auth_timeout_s
        self.recheck_s = recheck_s
        self._recheck_now = asyncio.Event()
        self.send_timeout_s = send_timeout_s
        self.tails_per_user = tails_per_user
        self.allowed_origins = {origin.rstrip("/").lower() for origin in allowed_origins}
        self.connections: dict[int, LiveConnection] = {}
        self.closing = True  # until ``attach``: connections arriving before start-up ends are refused
        self._ids = itertools.count(1)
        self._frames: dict[tuple[object, int | None, int | None, int], list[tuple[bytes, int]]] = {}
        self._frames_bytes = 0
        self.hub: LiveHub
        self.pool: asyncpg.Pool
        self.jobs: JobProjects
        self.log_row: Callable[[ActivityRow], None]
        self.events: SecurityEvents

    def shared_frames(self, share_key: object, rows: list[ActivityRow]) -> list[tuple[bytes, int]]:
        """The ``entries`` frames of a batch, built once for every client whose batch it is too.

        Subscribers with the same ``share_key`` receive the same rows from each publish, and drops
        only ever remove the oldest, so (key, first id, last id, count) identifies the batch. A
        batch larger than one frame is shared too: under a burst, when the writer commits large
        batches, building its frames once per client would cost each batch again per client."""
        key = (share_key, rows[0].id, rows[-1].id, len(rows))
        frames = self._frames.get(key)
        if frames is None:
            frames = entries_frames([row.json() for row in rows])
            size = sum(len(frame) for frame, _ in frames)
            if len(self._frames) >= SHARED_FRAMES_KEPT or self._frames_bytes + size > SHARED_FRAMES_MAX_BYTES:
                self._frames.clear()  # a cache of the latest batches; old ones are not asked for again
                self._frames_bytes = 0
            self._frames[key] = frames
            self._frames_bytes += size
        return frames

    def attach(self, hub: LiveHub, pool: asyncpg.Pool, log_row: Callable[[ActivityRow], None],
               events: SecurityEvents) -> None:  # fmt: skip
        """Bind what exists only once the server has started (the pool, the writer)."""
        self.hub, self.pool, self.log_row, self.events = hub, pool, log_row, events
        self.jobs = JobProjects(pool)
        self.closing = False

    def open(self, ws: web.WebSocketResponse, request: web.Request) -> LiveConnection:
        connection = LiveConnection(next(self._ids), ws, self, request.remote, request.transport)
        self.connections[connection.id] = connection
        return connection

    def tails_of(self, user_id: int) -> int:
        return sum(1 for c in self.connections.values() if c.principal is not None and c.principal.user_id == user_id)

    async def watch_accounts(self) -> None:
        """Until cancelled: every ``recheck_s`` (and at each token's expiry) re-read the accounts
        behind the open connections. A deleted account or an expired token is closed with 1008;
        a changed role or membership re-scopes the connection. The API reads the account on every
        request; this is the same rule for connections that last hours."""
        while True:
            self._recheck_now.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._recheck_now.wait(), self._next_check_in())
            try:
                await self.recheck_accounts()
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("live tail: cannot re-read accounts now: %s", exc)

    def recheck_soon(self) -> None:
        """An account or membership changed (in any process): re-read them now."""
        self._recheck_now.set()

    def _next_check_in(self) -> float:
        expiries = [c.principal.expires_at for c in self.connections.values()
                    if c.principal is not None and c.principal.expires_at is not None]  # fmt: skip
        delay = self.recheck_s
        if expiries:
            delay = min(delay, min(expiries) - time.time())
        return max(delay, 0.05)

    async def recheck_accounts(self) -> None:
        connections = [c for c in self.connections.values() if c.principal is not None and c.scope is not None]
        now = time.time()
        ending: list[tuple[LiveConnection, bytes]] = []
        current = []
        for connection in connections:
            expires_at = connection.principal.expires_at  # type: ignore[union-attr]
            if expires_at is not None and expires_at <= now:
                ending.append((connection, b"token expired; log in again"))
            else:
                current.append(connection)
        if current:
            user_ids = sorted({c.principal.user_id for c in current})  # type: ignore[union-attr]
            async with self.pool.acquire() as conn:
                accounts = {r["id"]: r for r in await conn.fetch(q("live_accounts"), user_ids)}
                memberships: dict[int, list[int]] = {}
                for record in await conn.fetch(q("live_memberships"), user_ids):
                    memberships.setdefault(record["user_id"], []).append(record["project_id"])
            for connection in current:
                principal = connection.principal
                assert principal is not None
                account = accounts.get(principal.user_id)
                if account is None:
                    ending.append((connection, b"account deleted"))
                    continue
                now_principal = dataclasses.replace(principal, email=account["email"], role=account["role"])
                scope = (Scope.admin() if now_principal.is_admin else
                         Scope(is_admin=False, user_id=principal.user_id, project_ids=memberships.get(principal.user_id, [])))  # fmt: skip
                if now_principal != principal or scope != connection.scope:
                    connection.rescope(now_principal, scope)
        await asyncio.gather(*(connection.end(reason) for connection, reason in ending))

    def forget(self, connection: LiveConnection) -> None:
        self.connections.pop(connection.id, None)

    def origin_allowed(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:
            return True  # not a browser (browsers always send Origin on WebSocket handshakes)
        origin = origin.rstrip("/").lower()
        if self.allowed_origins:
            return origin in self.allowed_origins
        host = request.host.lower()
        return origin in (f"http://{host}", f"https://{host}")

    async def close_all(self, code: int = WSCloseCode.GOING_AWAY) -> None:
        """Close every socket (1001 on shutdown) and wait until each handler has ended."""
        self.closing = True
        connections = list(self.connections.values())
        for connection in connections:
            await connection.stop_sender()
        await asyncio.gather(*(close_socket(c.ws, code, b"server shutting down") for c in connections))
        for connection in connections:
            try:
                await asyncio.wait_for(connection.finished.wait(), CLOSE_TIMEOUT_S + 1)
            except TimeoutError:
                log.warning("live tail connection %d did not end in time", connection.id)
