"""One live-tail client: authentication, its subscription and filter, the replay of stored
entries after ``after_id``, and the sender task that drains its hub queue into the socket.

Each client has its own bounded hub subscription and a sender task that drains it, so a client
that reads slowly only loses its own oldest entries (and is told with ``lagged``); publishing and
other clients never wait for it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import Counter
from typing import Mapping, Protocol

import asyncpg
from aiohttp import WSCloseCode, WSMsgType, web

from api import security
from api.live.matcher import EntryMatcher, JobProjects, is_job_only
from api.live.protocol import (
    LiveAuthMessage,
    LiveSubscribeMessage,
    LiveUpdateFilterMessage,
    entries_frames,
    error_frame,
    lagged_frame,
    parse_client_message,
    subscribed_frame,
)
from collector.db.repository import Scope, filter_from_fields, query_logs
from collector.query import QueryError
from api.security_events import SecurityEvents
from collector.hub import LiveHub, Subscription
from collector.model import ActivityRow

log = logging.getLogger(__name__)

REPLAY_PAGE_ROWS = 500
CLOSE_TIMEOUT_S = 2.0  # how long a close waits for the client's close frame before dropping it


class LiveContext(Protocol):
    """What a connection uses of the registry that opened it (``api.live.registry.LiveRegistry``),
    declared here so that the connection does not import the registry that imports it."""

    hub: LiveHub
    pool: asyncpg.Pool
    jobs: JobProjects
    events: SecurityEvents
    queue_capacity: int
    auth_timeout_s: float
    send_timeout_s: float
    tails_per_user: int

    def shared_frames(self, share_key: object, rows: list[ActivityRow]) -> list[tuple[bytes, int]]: ...

    def tails_of(self, user_id: int) -> int: ...


async def close_socket(ws: web.WebSocketResponse, code: int, reason: bytes) -> None:
    try:
        await asyncio.wait_for(ws.close(code=code, message=reason), CLOSE_TIMEOUT_S)
    except (TimeoutError, ConnectionError):
        pass  # a client that does not answer the close frame is dropped by the transport


@dataclasses.dataclass
class LiveStats:
    delivered: int = 0
    skipped: int = 0
    frames: int = 0


class LiveConnection:
    """One authenticated WebSocket client: its filter, its hub subscription and its sender task.

    All frames to the client go out under ``_send_lock``: the sender task writes entries, the
    receiving handler writes ``subscribed`` and ``error`` replies.
    """

    def __init__(self, connection_id: int, ws: web.WebSocketResponse, registry: LiveContext, remote: str | None,
                 transport: asyncio.BaseTransport | None = None):  # fmt: skip
        self.id = connection_id
        self.ws = ws
        self.registry = registry
        self.remote = remote
        self._transport = transport
        self.principal: security.Principal | None = None
        self.scope: Scope | None = None
        self.matcher: EntryMatcher | None = None
        self.subscription: Subscription | None = None
        self.sender: asyncio.Task[None] | None = None
        self.stats = LiveStats()
        self.connected_at = time.monotonic()
        self.finished = asyncio.Event()  # set when the handler has fully ended
        # The hub already applied the filter to queued rows; after a filter or scope change the
        # rows queued before it must be checked again, until the queue has been drained once.
        self._recheck = False
        self._send_lock = asyncio.Lock()

    # --- frames --------------------------------------------------------------------------------

    async def _send(self, payload: bytes) -> None:
        """Every frame to the client goes out here, one at a time."""
        async with self._send_lock:
            try:
                async with asyncio.timeout(self.registry.send_timeout_s):
                    await self.ws.send_frame(payload, WSMsgType.TEXT)
            except TimeoutError:
                # A client that stopped reading: a close frame would queue behind what it does
                # not read, so the socket is aborted, which frees its kernel buffers at once.
                log.info("live tail %d: the client did not read for %.0f s; disconnecting", self.id,
                         self.registry.send_timeout_s)  # fmt: skip
                self.abort()
                raise ConnectionResetError("the live-tail client stopped reading") from None

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    async def send_entries(self, rows: list[ActivityRow], share_key: object = None) -> None:
        """Entries in frames of bounded size; each entry's JSON was serialised once for all clients,
        and with a ``share_key`` the frames too (see ``LiveRegistry.shared_frames``)."""
        if share_key is not None:
            frames = self.registry.shared_frames(share_key, rows)
        else:
            frames = entries_frames([row.json() for row in rows])
        for frame, count in frames:
            await self._send(frame)
            self.stats.frames += 1
            self.stats.delivered += count

    async def send_lagged(self, skipped: int) -> None:
        self.stats.skipped += skipped
        await self._send(lagged_frame(skipped))

    async def send_error(self, message: str, position: int | None = None) -> None:
        await self._send(error_frame(message, position))

    # --- subscription --------------------------------------------------------------------------

    async def subscribe(self, message: LiveSubscribeMessage) -> None:
        """(Re)start the subscription: the old sender stops before the new one starts, so that
        frames of the two never interleave."""
        log_filter = filter_from_fields(message)  # a bad query is refused before the running subscription stops
        await self.stop_sender()
        self.matcher = EntryMatcher(log_filter, self.scope or Scope(is_admin=False), self.registry.jobs)
        # Subscribe to the hub BEFORE reading history: a row committed meanwhile is then either in
        # the replay or in the subscription (or both, and the id check drops the second copy).
        self.subscription = self.registry.hub.subscribe(
            self.matcher, capacity=self.registry.queue_capacity, pending_owner=self.matcher.pending_owner
        )
        self._recheck = False
        await self._send(subscribed_frame(self.matcher.log_filter))
        self.sender = asyncio.create_task(
            self._run_sender(self.subscription, message.after_id), name=f"live-tail-sender-{self.id}"
        )

    async def update_filter(self, message: LiveUpdateFilterMessage) -> None:
        if self.matcher is None or self.subscription is None:
            raise ValueError("subscribe first")
        log_filter = filter_from_fields(message, self.matcher.log_filter, only_set=True)
        self._use(EntryMatcher(log_filter, self.matcher.scope, self.registry.jobs))
        await self._send(subscribed_frame(self.matcher.log_filter))

    async def stop_sender(self) -> None:
        if self.subscription is not None:
            self.subscription.close()
        if self.sender is not None:
            self.sender.cancel()
            try:
                await self.sender
            except asyncio.CancelledError:
                if asyncio.current_task().cancelling():  # type: ignore[union-attr]
                    raise
            except Exception:  # noqa: BLE001 - the sender logged it; the connection is closing anyway
                pass
        self.sender = None
        self.subscription = None

    async def _run_sender(self, subscription: Subscription, after_id: int | None) -> None:
        try:
            last_id = await self._replay(after_id) if after_id is not None else None
            while not subscription.closed:
                rows, skipped = await subscription.get(self.registry.queue_capacity)
                skipped += await self._visible_drops(subscription.take_dropped_pending())
                if last_id is not None:
                    rows = [row for row in rows if row.id is not None and row.id > last_id]
                    if rows and subscription.pending() == 0:
                        last_id = None  # every row from now on is newer than the replay
                recheck = self._recheck
                if recheck and subscription.pending() == 0:
                    self._recheck = False  # the rows queued under the previous filter or scope are out
                matcher, visible, withheld = await self._visible(rows, recheck)
                skipped += withheld
                # Unless a row was removed here, the batch is exactly the rows the shared
                # predicate selected between its first and last id: its frame can be shared.
                share_key = matcher.share_key if last_id is None and len(visible) == len(rows) else None
                rows = visible
                if skipped:
                    await self.send_lagged(skipped)
                if rows:
                    await self.send_entries(rows, share_key)
        except (ConnectionResetError, ConnectionError):
            pass  # the client went away; the handler notices and cleans up
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("live tail sender %d failed", self.id)
            await self.ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"internal error")

    async def _visible(self, rows: list[ActivityRow], recheck: bool) -> tuple[EntryMatcher, list[ActivityRow], int]:
        """The rows of a batch this client may receive, the matcher that decided, and how many were
        withheld because their job could not be looked up (reported to the client as skipped).

        Job-only rows are always decided here with their jobs' projects, whatever the hub admitted:
        a row admitted while its job was unknown must not be sent because another connection has
        since looked the job up. With ``recheck`` (a filter or scope change), every row is decided
        again. Should the filter or scope change during the lookup, the newest matcher decides."""
        jobs_failed = False
        while True:
            matcher = self.matcher
            assert matcher is not None
            recheck = recheck or self._recheck
            job_ids = matcher.job_ids_to_decide(rows)
            if not job_ids and not recheck:
                return matcher, rows, 0
            projects: Mapping[int, int | None] = {}
            if job_ids:
                try:
                    projects = await self.registry.jobs.lookup(job_ids)
                except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("live tail %d: cannot look up jobs, withholding their entries: %s", self.id, exc)
                    jobs_failed = True
            if matcher is self.matcher:
                break
        if recheck:
            visible = [row for row in rows if matcher.decide(row, projects)]
        else:
            visible = [row for row in rows if not is_job_only(row) or matcher.decide(row, projects)]
        withheld = sum(1 for row in rows if is_job_only(row) and row.job_id not in projects) if jobs_failed else 0
        return matcher, visible, withheld

    async def _visible_drops(self, dropped: Counter[int]) -> int:
        """How many of the job-only rows dropped from this client's queue it was allowed to see:
        only those are reported in ``lagged`` (the others belong to other projects' jobs)."""
        if not dropped or self.matcher is None:
            return 0
        try:
            projects = await self.registry.jobs.lookup(dropped)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return 0  # unknown: better not reported than reported to a client that may not see them
        matcher = self.matcher
        return sum(count for job_id, count in dropped.items() if job_id in projects and matcher.job_visible(projects[job_id]))

    async def _replay(self, after_id: int) -> int:
        """Send the stored entries after ``after_id`` (filter and scope applied in SQL), page by
        page; returns the last id sent. The pool connection is released before each send, so a slow
        client never holds one."""
        last_id = after_id
        matcher = self.matcher
        assert matcher is not None and self.scope is not None
        while True:
            page_filter = dataclasses.replace(matcher.log_filter, after_id=last_id)
            async with self.registry.pool.acquire() as conn:
                rows = await query_logs(conn, page_filter, self.scope, limit=REPLAY_PAGE_ROWS)
            if rows:
                await self.send_entries(rows)
                last_id = rows[-1].id  # type: ignore[assignment]
            if len(rows) < REPLAY_PAGE_ROWS:
                return last_id

    async def load_scope(self) -> None:
        assert self.principal is not None
        async with self.registry.pool.acquire() as conn:
            self.scope = await security.load_scope(conn, self.principal)

    def rescope(self, principal: security.Principal, scope: Scope) -> None:
        """The account changed (role, memberships): entries from now on, and those still queued,
        follow the new scope."""
        self.principal, self.scope = principal, scope
        if self.matcher is not None:
            self._use(EntryMatcher(self.matcher.log_filter, scope, self.registry.jobs))

    def _use(self, matcher: EntryMatcher) -> None:
        """A new filter or scope for a running subscription: the hub admits by it from now on, the
        sender decides by it (``self.matcher``, read for each batch), and the rows queued under the
        previous one are decided again."""
        self.matcher = matcher
        if self.subscription is not None:
            self.subscription.predicate = matcher
            self.subscription.pending_owner = matcher.pending_owner
            self._recheck = True

    async def end(self, reason: bytes) -> None:
        """Close with 1008 (policy violation): the account is gone or the token has expired."""
        await self.stop_sender()
        await close_socket(self.ws, WSCloseCode.POLICY_VIOLATION, reason)

    # --- the client's messages -----------------------------------------------------------------

    async def authenticate(self, app: web.Application) -> bool:
        """Read the first message, which must be a valid ``auth``, within ``auth_timeout_s``; on
        success the connection has its principal and scope. Otherwise the socket is closed with
        1008 (and the failure counted into the security report) and False returned."""
        ws, registry = self.ws, self.registry
        try:
            first = await ws.receive(timeout=registry.auth_timeout_s)
        except TimeoutError:
            await close_socket(ws, WSCloseCode.POLICY_VIOLATION, b"authentication timeout")
            return False
        if first.type is not WSMsgType.TEXT:
            if first.type not in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                await close_socket(ws, WSCloseCode.POLICY_VIOLATION, b"authenticate first")
            return False
        try:
            message = parse_client_message(first.data)
            if not isinstance(message, LiveAuthMessage):
                raise ValueError("the first message must be {action: auth}")
            principal = security.verify_token(app, message.token)
            self.principal = await security.current_principal(registry.pool, principal)
        except (ValueError, security.InvalidToken) as exc:
            registry.events.record("live_auth_failed", self.remote, str(exc))
            await close_socket(ws, WSCloseCode.POLICY_VIOLATION, b"authentication failed")
            return False
        if registry.tails_of(self.principal.user_id) > registry.tails_per_user:
            await close_socket(ws, WSCloseCode.POLICY_VIOLATION,
                               f"at most {registry.tails_per_user} live tails per user".encode())  # fmt: skip
            return False
        await self.load_scope()
        return True

    async def serve(self) -> None:
        """Answer the client's messages until it goes away; a bad message gets an ``error``."""
        async for frame in self.ws:
            if frame.type is WSMsgType.BINARY:
                await self.send_error("send JSON text frames")
                continue
            if frame.type is not WSMsgType.TEXT:
                break  # ERROR: the connection is gone (CLOSE ends the iteration by itself)
            try:
                message = parse_client_message(frame.data)
                if isinstance(message, LiveAuthMessage):
                    raise ValueError("already authenticated")
                if isinstance(message, LiveSubscribeMessage):
                    await self.subscribe(message)
                else:
                    await self.update_filter(message)
            except QueryError as exc:  # before ValueError, which it is: the frame says where
                await self.send_error(f"q: {exc}", exc.position)
            except ValueError as exc:
                await self.send_error(str(exc))
