"""Committed entries to the live hub in commit order, from every server process on the database.

Each flush reserves its ids and a turn under the commit-order lock and waits for every earlier
turn before its commit (``activity_reserve_flush`` and ``activity_await_turn``, migration 0012; the
wait runs at the end of its COPY since 0013), so flushes commit in the order they reserved, across
every process, each with ids above all committed before it: commit order is id order. The
reservation also sends ``NOTIFY activity_logs '<origin> <first id> <last id>'``, which PostgreSQL
delivers at commit, in commit order, to every listening session (docs/replicas.md).

The feed listens on a connection of its own and handles the notifications one at a time, in
order: the rows of its own process's flushes are handed over by the writer (nothing is read);
another process's are read by id range, only while this process has live-tail subscribers. So
the hub publishes the entries of every process in id order, which the live tail's resume after
an id relies on, on whichever process a client reconnects to.

When the listening connection is lost (a database restart), the feed connects again and first
reads everything committed after the last id it published (while it has subscribers), then
carries on with the notifications, skipping what it has published already.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import deque
from dataclasses import dataclass
from typing import Awaitable, Callable

import asyncpg

from collector.copy_rows import COPY_HEADER, COPY_TRAILER, live_rows
from collector.db.queries import q
from collector.hub import LiveHub
from collector.model import ActivityRow

log = logging.getLogger(__name__)

CHANNEL = "activity_logs"
CHANGES = "activity_changes"  # a table whose rows processes cache changed (migration 0006)
READ_PAGE = 2_000  # rows per read of another process's entries
OWN_ROWS_WAIT_S = 5.0  # a notification of our own flush waits this long for the writer's rows
RECONNECT_S = 1.0
MAX_OWN_PENDING = 1_000  # own flushes held for their notification (beyond: read back instead)


@dataclass(slots=True)
class _Notice:
    origin: str
    first: int
    last: int


def new_origin() -> str:
    """This process's name in the notifications: random, so that restarts never collide."""
    return os.urandom(6).hex()


class CommitFeed:
    """``start`` listens; the writer calls ``committed`` after each commit of its own; ``close``
    stops. Without a listening connection (``connect`` None) the writer's rows are published
    as they come, which is exact for a single process."""

    def __init__(self, hub: LiveHub, pool: asyncpg.Pool,
                 connect: Callable[[], Awaitable[asyncpg.Connection]] | None, origin: str | None = None):  # fmt: skip
        self._hub = hub
        self._pool = pool
        self._connect = connect
        self.origin = origin or new_origin()
        self._notices: deque[_Notice] = deque()
        self._own: dict[int, list[ActivityRow]] = {}  # last id of an own flush → its rows
        self._wake = asyncio.Event()
        self._own_arrived = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()
        self.last_published = 0  # the highest id handed to the hub (or passed over)
        self.remote_rows = 0  # rows of other processes published (read by id)
        self.catch_ups = 0
        self.own_rows_missed = 0  # own flushes whose rows never came (read back instead)
        self.own_rows_wait_s = OWN_ROWS_WAIT_S
        self.handling: _Notice | None = None  # the notification being handled
        self._on_change: dict[str, list[Callable[[], object]]] = {}

    def on_change(self, table: str, callback: Callable[[], object]) -> None:
        """Call ``callback`` (on the event loop) whenever any process changes ``table``, and
        after a lost connection comes back (changes may have been missed meanwhile)."""
        self._on_change.setdefault(table, []).append(callback)

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._connect is None:
            return
        await self._listen()
        self._task = asyncio.create_task(self._run(), name="commit-feed")

    async def close(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._unlisten()

    async def _listen(self) -> None:
        assert self._connect is not None
        conn = await self._connect()
        try:
            await conn.add_listener(CHANNEL, self._on_notify)
            await conn.add_listener(CHANGES, self._on_change_notice)
            conn.add_termination_listener(lambda _: self._lost.set())
            # Everything committed before this moment is below the sequence's current value.
            if not self.last_published:
                self.last_published = int(await conn.fetchval(q("activity_logs_committed_id_floor")) or 0)
        except BaseException:
            await conn.close()
            raise
        self._listener = conn
        self._lost.clear()

    async def _unlisten(self) -> None:
        conn, self._listener = self._listener, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await conn.close()

    # --- input -----------------------------------------------------------------------------

    def committed(self, first: int, last: int, rows: list[ActivityRow]) -> None:
        """The writer's own flush with the ids ``first``..``last`` is committed; ``rows`` are
        its entries (none when nobody subscribed at the time).

        When its ids follow the last ones published without a gap, no other flush can have
        committed in between (ids are reserved in commit order), so it is published at once,
        without waiting for its notification: the common case of one process, or of a moment
        when no other wrote. (A notification still queued then is of ids already published, and
        is passed over.)"""
        if self._connect is None:
            self._publish(rows)
            return
        if last <= self.last_published:
            return  # already read back (its notification came first and waited too long)
        if first == self.last_published + 1:
            self._publish(rows)
            self.last_published = last
            self._own_arrived.set()  # (its notification may be waiting for it already)
            return
        if len(self._own) >= MAX_OWN_PENDING:
            self._own.pop(next(iter(self._own)))  # read back by id instead, when its turn comes
        self._own[last] = rows
        self._own_arrived.set()

    @property
    def drained(self) -> bool:
        """No notification waits or is being handled."""
        return not self._notices and self.handling is None

    def _on_notify(self, conn: asyncpg.Connection, pid: int, channel: str, payload: str) -> None:
        try:
            origin, first, last = payload.split(" ")
            self._notices.append(_Notice(origin, int(first), int(last)))
        except ValueError:
            log.warning("commit feed: ignored a notification it cannot read: %r", payload[:100])
            return
        self._wake.set()

    def _on_change_notice(self, conn: asyncpg.Connection, pid: int, channel: str, payload: str) -> None:
        self._changed(self._on_change.get(payload, ()))

    @staticmethod
    def _changed(callbacks) -> None:  # noqa: ANN001 - callables
        for callback in callbacks:
            try:
                callback()
            except Exception:  # noqa: BLE001 - one cache's bug must not stop the others hearing
                log.exception("commit feed: a change callback failed")

    # --- the loop --------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            if self._lost.is_set() or self._listener is None or self._listener.is_closed():
                await self._reconnect()
                continue
            if not self._notices:
                self._wake.clear()
                lost = asyncio.ensure_future(self._lost.wait())
                woken = asyncio.ensure_future(self._wake.wait())
                try:
                    await asyncio.wait({lost, woken}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    lost.cancel()
                    woken.cancel()
                continue
            notice = self.handling = self._notices.popleft()
            try:
                await self._handle(notice)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # Could not read another process's rows: the catch-up after a reconnect reads them.
                log.warning("commit feed: could not read entries %d–%d (%s); catching up", notice.first, notice.last, exc)
                self._notices.appendleft(notice)
                self._lost.set()
            finally:
                self.handling = None

    async def _handle(self, notice: _Notice) -> None:
        if notice.last <= self.last_published:
            return
        if notice.origin == self.origin:
            rows = await self._own_rows(notice.last)
            if rows is not None:
                self._publish([row for row in rows if row.id is not None and row.id > self.last_published])
                self.last_published = max(self.last_published, notice.last)
                return
        await self._read_range(notice.first, notice.last)
        self.last_published = max(self.last_published, notice.last)

    async def _own_rows(self, last: int) -> list[ActivityRow] | None:
        """The writer's rows of its flush ending at ``last``: it hands them over right after its
        commit, which the notification may precede."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.own_rows_wait_s
        while last not in self._own:
            if last <= self.last_published:
                return []  # published as it committed (``committed``)
            remaining = deadline - loop.time()
            if remaining <= 0:
                self.own_rows_missed += 1
                return None  # (a flush whose commit the writer could not confirm, say)
            self._own_arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._own_arrived.wait(), remaining)
        rows = self._own.pop(last)
        for stale in [key for key in self._own if key < last]:
            del self._own[stale]  # flushes whose notifications were lost with a connection
        return rows

    async def _read_range(self, first: int, last: int) -> None:
        """Publish the committed entries with ids in (last_published, last], read in id order:
        only while someone subscribes (else they are passed over)."""
        after = max(first - 1, self.last_published)
        while self._hub.subscriber_count and after < last:
            tuples = await self._copy_out(after, last)
            if not tuples:
                break
            rows = [row for row in live_rows(tuples, self._hub.reads_attributes)
                    if row.id is not None and row.id > self.last_published]
            if not rows:
                break
            self.remote_rows += len(rows)
            self._publish(rows)
            # Everything up to the page's last id is published (the read is in id order).
            after = self.last_published = rows[-1].id  # type: ignore[assignment]

    async def _copy_out(self, after: int, last: int) -> bytes:
        """The committed entries with ids in (after, last], up to READ_PAGE, as COPY tuples: the
        same bytes the writer of another process sent, read back without conversion."""
        chunks: list[bytes] = []

        async def collect(chunk: bytes) -> None:
            chunks.append(chunk)

        async with self._pool.acquire() as conn:
            await conn.copy_from_query(q("committed_entries_for_copy").rstrip().rstrip(";"), after, last, READ_PAGE,
                                       output=collect, format="binary")  # fmt: skip
        data = b"".join(chunks)
        if not data.startswith(COPY_HEADER) or not data.endswith(COPY_TRAILER):
            raise OSError(f"unexpected COPY output for entries {after + 1}–{last}")
        return data[len(COPY_HEADER) : -len(COPY_TRAILER)]

    async def _reconnect(self) -> None:
        await self._unlisten()
        while True:
            try:
                await self._listen()
                break
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.debug("commit feed: cannot listen yet (%s)", exc)
                await asyncio.sleep(RECONNECT_S)
        # Notifications sent while nobody listened are lost: read what was committed meanwhile.
        self.catch_ups += 1
        try:
            async with self._pool.acquire() as conn:
                floor = int(await conn.fetchval(q("activity_logs_committed_id_floor")) or 0)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            self._lost.set()
            return
        await self._read_range(self.last_published + 1, floor)
        self.last_published = max(self.last_published, floor)
        self._changed([callback for callbacks in self._on_change.values() for callback in callbacks])
        log.info("commit feed: listening again; caught up to id %d", self.last_published)

    def _publish(self, rows: list[ActivityRow]) -> None:
        if rows:
            self._hub.publish(rows)
