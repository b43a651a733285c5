"""The batch writer: queues mapped rows, commits them to ``activity_logs`` with binary COPY, then
publishes them (now with ids) to the live hub and tells each waiting receiver how it went.

Delivery guarantee: ``submit`` returns only after the transaction holding the request's rows has
committed. A request's rows are never split across transactions. A request with an id (every
OTLP request has one, collector/delivery.py) has it recorded in ``ingest_requests`` in the same
transaction, and a request whose id is already there is not written again (``duplicate``): that is
how a replay from the spool, or a retry after a flush whose COMMIT outcome was unknown, stays
exactly once.

Adaptive flushing: an idle writer flushes at once, so a lone record is stored (and acknowledged,
and on the live tail) in milliseconds instead of waiting for a batch to fill. Batches form only
while flushes are under way: the next flush takes what was queued meanwhile (group commit, up to
``max_batch_rows`` and ``max_batch_bytes``), so under load each COPY grows with the load instead of
each record paying for a commit.

Flushes side by side: up to ``flushes_in_flight`` (2) flushes run at once, each in a transaction on
its own connection, so that their COPYs keep several PostgreSQL backends busy (one COPY stream is
what one backend, one core, can load) and one flush's round trips and commit overlap the others'
COPYs. Each flush costs the receiver about a millisecond of CPU whatever its size, and the rows
queued under load are what the senders have in flight, shared out among the flushes: on two cores
four flushes loaded no more rows per second than two, each half the size, for more CPU per row
(README, Performance). Each takes its ids and a turn when it begins and waits for its turn just
before its COMMIT (migration 0012; at the end of its COPY, by a statement trigger, since 0013), so
commits still follow id order, across every process on the database (docs/replicas.md). Another
flush begins beside those under way only with a full batch holding at least half the rows of the
last one begun, and a writer with several free connections and two full batches queued shares
the queue out among them: flushes of like sizes run side by side for about as long as each other,
instead of a small one finishing first and only waiting for its turn.

``batch_size`` and ``flush_interval`` (from ``activity_log_settings``, re-read every few seconds)
stay as upper bounds: no record waits longer than the interval, nor behind more than
``batch_size`` queued rows, before its flush starts; with adaptive flushing it normally waits much
less. Right after a flush the writer lingers for ``linger`` (20 ms) unless ``batch_size`` rows
wait, so that a steady stream of small requests is committed in batches rather than a commit each.

Failure handling:
- A row PostgreSQL refuses (data or constraint errors, SQLSTATE classes 22 and 23) does not fail
  its batch: the batch is retried request by request, each in one transaction within which
  savepoints halve the request's rows until the refused ones are found; only those are rejected
  and counted for their request's ``partial_success``.
- Any other database failure (connection lost, server shutting down, timeout) fails every queued
  request with ``StoreUnavailable``: nothing of them was committed, the senders retry. New requests
  are refused at once until a probe reaches the database again.
- The queue is bounded (``max_pending_rows``); a request that does not fit is refused with
  ``Overloaded`` (also retryable).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass, field
from typing import AsyncIterator, Sequence

import asyncpg

from collector.backoff import RetryAdvice
from collector.commit_feed import CommitFeed
from collector.contract import BATCH_SIZE_RANGE, FLUSH_INTERVAL_MS_RANGE, LEVEL_IDS, SOURCE_IDS
from collector.copy_rows import COPY_COLUMNS, COPY_HEADER, COPY_TRAILER, RequestRecords, live_rows, split_tuples
from collector.db.queries import q
from collector.errors import ConfigurationError, Overloaded, StoreUnavailable
from collector.hub import LiveHub
from collector.id_blocks import IdBlocks, block_size, blocks_for
from collector.key_catalogue import KeyCatalogue
from collector.model import ActivityRow

log = logging.getLogger(__name__)

# How long the writer waits after a flush before the next one while fewer than ``batch_size`` rows
# are queued: long enough that a steady stream is committed in batches, short enough that a
# record is never held for long (a record arriving at an idle writer is not held at all).
DEFAULT_LINGER_S = 0.02
DEFAULT_FLUSHES_IN_FLIGHT = 2


@dataclass(slots=True)
class WriteResult:
    accepted: int
    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    duplicate: bool = False  # the request's id was already committed: nothing written this time
    spooled: bool = False  # on disk in the spool, to be committed by its replayer


@dataclass(slots=True)
class _Request:
    records: RequestRecords
    future: asyncio.Future[WriteResult] | None
    enqueued_at: float
    payload_bytes: int = 0  # the request's size on the wire: what its COPY encoding will about take
    request_id: uuid.UUID | None = None  # recorded with its rows (exactly once); None: not recorded
    duplicate: bool = False
    # Its COPY tuples with the ids it was given at its first flush (kept for retries).
    encoded: bytes = b""
    # What of it is committed: the tuples (for the live tail) and how many records they hold.
    committed_parts: list[bytes] = field(default_factory=list)
    committed: int = 0
    published: bool = False

    @property
    def count(self) -> int:
        return self.records.count

    def add_committed(self, part: bytes, records: int) -> None:
        self.committed_parts.append(part)
        self.committed += records


# Upper bounds of the flush-duration histogram's buckets, in seconds (GET /metrics).
FLUSH_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class WriterStats:
    committed: int = 0
    rejected: int = 0
    refused_requests: int = 0
    dropped_internal: int = 0
    duplicate_requests: int = 0  # requests found already committed (replays, retries)
    flushes: int = 0
    # Flushes by duration: per bucket of FLUSH_SECONDS_BUCKETS, then beyond the last; and their sum.
    flush_buckets: list[int] = field(default_factory=lambda: [0] * (len(FLUSH_SECONDS_BUCKETS) + 1))
    flush_seconds: float = 0.0

    def observe_flush(self, seconds: float) -> None:
        self.flushes += 1
        self.flush_seconds += seconds
        self.flush_buckets[bisect_left(FLUSH_SECONDS_BUCKETS, seconds)] += 1


class _BatchRejected(Exception):
    """A COPY failed because of the data (SQLSTATE class 22 or 23), not the connection."""

    def __init__(self, cause: asyncpg.PostgresError):
        super().__init__(str(cause))
        self.cause = cause


def _is_data_error(exc: BaseException) -> bool:
    sqlstate = getattr(exc, "sqlstate", None) or ""
    return isinstance(exc, asyncpg.PostgresError) and sqlstate[:2] in ("22", "23")


def _clamp(value: int, bounds: tuple[int, int]) -> int:
    return max(bounds[0], min(bounds[1], int(value)))


@contextlib.asynccontextmanager
async def _locks_given_back_on_failure(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """When a flush fails, its connection gives back any session-level advisory lock before it
    goes back to the ingest pool, which skips asyncpg's reset query (collector/db/connect.py).
    ``activity_reserve_flush`` gives the commit-order lock back itself, also when it fails or is
    cancelled; this is the second line, for a failure at a moment no one has thought of. A
    connection that is broken is closed by the pool instead."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            await conn.execute(q("give_back_session_locks"), timeout=5)
        raise


async def copy_tuples(conn: asyncpg.Connection, parts: list[bytes], columns: Sequence[str] = COPY_COLUMNS) -> int:
    """One binary COPY into ``activity_logs`` of these tuples (the stream's header and trailer
    added, nothing re-encoded): one statement, so its own transaction. The rows PostgreSQL
    counted."""

    async def stream():  # noqa: ANN202 - an async iterator of bytes
        yield COPY_HEADER
        for part in parts:
            yield part
        yield COPY_TRAILER

    status = await conn.copy_to_table("activity_logs", source=stream(), columns=list(columns), format="binary")
    return int(status.split()[-1])  # "COPY <rows>"


class BatchWriter:
    def __init__(
        self,
        pool: asyncpg.Pool,
        hub: LiveHub,
        *,
        feed: CommitFeed | None = None,
        batch_size: int = 100,
        flush_interval: float = 1.0,
        max_pending_rows: int = 50_000,
        max_batch_rows: int = 10_000,
        max_batch_bytes: int = 16 * 1024 * 1024,
        settings_refresh: float = 5.0,
        retry_after: float = 1.0,
        linger: float = DEFAULT_LINGER_S,
        catalogue: KeyCatalogue | None = None,
        flushes_in_flight: int = DEFAULT_FLUSHES_IN_FLIGHT,
    ):
        self._pool = pool
        # Told the attribute keys of what commits (the query bar's completions).
        self._catalogue = catalogue
        self._hub = hub
        # Committed entries reach the hub through the feed, in commit order across processes
        # (collector/commit_feed.py); without one they are published as they commit.
        self._feed = feed
        self.origin = feed.origin if feed is not None else ""
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_pending_rows = max_pending_rows
        self.max_batch_rows = max_batch_rows
        # A flush encodes its whole batch for COPY at once: bounded in bytes as well as rows, so
        # that a queue of large records is committed in several flushes, never held twice over.
        self.max_batch_bytes = max_batch_bytes
        self.settings_refresh = settings_refresh
        self.linger = linger
        # Flushes run side by side, each on its own connection: their COPYs keep as many
        # PostgreSQL backends (and cores) busy, their commits follow id order (``_end``).
        self.flushes_in_flight = max(1, flushes_in_flight)
        self._last_flush_end = float("-inf")
        self._last_reserved: asyncio.Future[None] | None = None  # the last flush begun has its ids
        # The flushes under way, oldest first, with the rows each took (the loop's own; read by metrics).
        self._flights: deque[tuple[asyncio.Task[None], int]] = deque()
        self.retry_after = retry_after  # how often the database is probed while it is away
        # The delays advertised to senders grow while the database is away or the queue full.
        self.unavailable_advice = RetryAdvice(retry_after)
        self.overload_advice = RetryAdvice(retry_after)
        self.stats = WriterStats()
        self._queue: deque[_Request] = deque()
        self._queued_rows = 0
        self._queued_bytes = 0
        self._wake = asyncio.Event()
        self._available = True
        self._closing = False
        self.failed = False  # the loop died (a bug): only a restart brings ingest back
        self._task: asyncio.Task[None] | None = None
        self._block_size = 1
        self._next_settings_read = 0.0

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        async with self._pool.acquire() as conn:
            # COPY tuples carry the contract's level and source ids (both encoders use them).
            levels = {r["name"]: r["id"] for r in await conn.fetch(q("list_levels"))}
            sources = {r["name"]: r["id"] for r in await conn.fetch(q("list_sources"))}
            if levels != LEVEL_IDS or sources != SOURCE_IDS:
                raise ConfigurationError(
                    f"the database's levels {levels} and sources {sources} are not the contract's "
                    f"{LEVEL_IDS} and {SOURCE_IDS}: was the schema changed by hand?"
                )
            self._block_size = await block_size(conn)
        await self._read_settings()
        self._task = asyncio.create_task(self._run(), name="batch-writer")
        self._task.add_done_callback(self._watch)

    def _watch(self, task: asyncio.Task[None]) -> None:
        """The loop ends only on close. If it ever dies, refuse ingest (retryably, and /readyz
        says so) instead of letting senders wait for commits that will never come."""
        if self._closing or task.cancelled():
            return
        log.critical("the batch writer stopped unexpectedly; refusing ingest", exc_info=task.exception())
        self.failed = True
        self._closing = True
        self._fail_queued(StoreUnavailable("the batch writer stopped; retry later", self.retry_after))

    async def close(self) -> None:
        """Stop accepting, commit everything queued, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            task, self._task = self._task, None
            with contextlib.suppress(Exception):  # a loop that died was reported by _watch
                await task
        self._fail_queued(StoreUnavailable("the server is shutting down"))

    # --- submitting ------------------------------------------------------------------------

    async def submit(self, records: RequestRecords | list[ActivityRow], *, payload_bytes: int = 0,
                     request_id: uuid.UUID | None = None) -> WriteResult:  # fmt: skip
        """Queue a request's records (or rows) and wait until they are committed (or rejected).
        ``payload_bytes``, the request's size, bounds how much one flush takes
        (``max_batch_bytes``)."""
        if isinstance(records, list):
            records = RequestRecords(records)
        if not records.count:
            return WriteResult(accepted=0)
        return await self.enqueue(records, payload_bytes=payload_bytes, request_id=request_id)

    def enqueue(self, records: RequestRecords, *, payload_bytes: int = 0, request_id: uuid.UUID | None = None,
                bounded: bool = True) -> asyncio.Future[WriteResult]:  # fmt: skip
        """Queue a request and return the future of its commit; raises ``StoreUnavailable`` or
        ``Overloaded`` at once when it cannot be queued. ``bounded=False`` skips the queue bound
        (the spool's replayer bounds what it queues itself)."""
        self._check_accepting(records.count, bounded)
        future: asyncio.Future[WriteResult] = asyncio.get_running_loop().create_future()
        self._enqueue(_Request(records, future, time.monotonic(), max(payload_bytes, len(records.tuples)), request_id))
        return future

    def submit_nowait(self, rows: list[ActivityRow]) -> bool:
        """Queue rows without waiting (the server's own log records). Returns False, and counts
        the rows as dropped, when they cannot be queued."""
        try:
            self._check_accepting(len(rows))
        except StoreUnavailable:
            self.stats.dropped_internal += len(rows)
            return False
        self._enqueue(_Request(RequestRecords(rows), None, time.monotonic()))
        return True

    @property
    def available(self) -> bool:
        return self._available and not self._closing

    @property
    def flushes_under_way(self) -> int:
        return sum(not flush.done() for flush, _ in self._flights)

    @property
    def queued_rows(self) -> int:
        return self._queued_rows

    @property
    def queued_bytes(self) -> int:
        return self._queued_bytes

    def reload_settings_soon(self) -> None:
        """Another process changed the settings: re-read them before the next flush."""
        self._next_settings_read = 0.0
        self._wake.set()

    def apply_settings(self, batch_size: int, flush_interval_ms: int) -> None:
        self.batch_size = _clamp(batch_size, BATCH_SIZE_RANGE)
        self.flush_interval = _clamp(flush_interval_ms, FLUSH_INTERVAL_MS_RANGE) / 1000
        self._wake.set()

    def _check_accepting(self, count: int, bounded: bool = True) -> None:
        if self._closing:
            raise StoreUnavailable("the server is shutting down", self.retry_after)
        if not self._available:
            raise StoreUnavailable(
                f"the database has been unavailable for {self.unavailable_advice.lasting:.0f} s; retry later",
                self.unavailable_advice.delay(),
            )
        if bounded and self._queued_rows and self._queued_rows + count > self.max_pending_rows:
            self.stats.refused_requests += 1
            raise Overloaded(
                f"ingest queue is full ({self._queued_rows} records waiting); retry later", self.overload_advice.delay()
            )
        self.overload_advice.clear()

    def _enqueue(self, request: _Request) -> None:
        self._queue.append(request)
        self._queued_rows += request.count
        self._queued_bytes += request.payload_bytes
        if self._queued_rows >= self.batch_size or len(self._queue) == 1:
            self._wake.set()

    # --- the loop --------------------------------------------------------------------------

    async def _run(self) -> None:
        flights = self._flights
        try:
            while True:
                # Cleared before the state is read, never while sleeping: a flush that ends, or a
                # request queued, during any await below (a settings read) wakes the next sleep.
                self._wake.clear()
                for ended in [flight for flight in flights if flight[0].done()]:
                    flights.remove(ended)
                if not self._available:
                    if flights:
                        await self._sleep(self.settings_refresh)  # woken when a flush ends
                    elif self._closing:
                        return  # the database is gone while shutting down: the senders were told to retry
                    else:
                        await self._probe()
                    continue
                if time.monotonic() >= self._next_settings_read and not self._closing:
                    await self._read_settings()
                if not self._queue:
                    if self._closing and not flights:
                        return
                    await self._sleep(self.settings_refresh)
                    continue
                free = self.flushes_in_flight - len(flights)
                if flights:
                    # Flushes are under way. Another runs beside them (its COPY on a connection of
                    # its own, its COMMIT after theirs) once a batch is full and holds at least half
                    # the rows of the last one begun: a small one would finish first and only wait
                    # for its turn, and the flushes would start together from then on.
                    if free <= 0 or self._queued_rows < max(self.batch_size, flights[-1][1] // 2):
                        await self._sleep(self.settings_refresh)  # woken when a flush ends
                        continue
                else:
                    # Something is queued and no flush is under way. Right after a flush, linger
                    # briefly unless a batch is already full: under a steady stream each request
                    # would otherwise pay a commit of its own. An idle writer flushes now.
                    linger = self._last_flush_end + self.linger - time.monotonic()
                    if linger > 0 and self._queued_rows < self.batch_size and not self._closing:
                        await self._sleep(linger)
                        continue
                # With several connections free and two full batches queued, the queue is shared
                # out among them, so that the flushes run side by side for about as long as each other.
                share = self._queued_rows
                if free >= 2 and self._queued_rows >= 2 * self.batch_size:
                    share = -(-self._queued_rows // min(free, self._queued_rows // self.batch_size))
                batch = self._take(min(share, self.max_batch_rows))
                # Ids are reserved in the order flushes begin (so in queue order): each flush
                # reserves once the one begun before it has (its connection may come sooner).
                reserved = asyncio.get_running_loop().create_future()
                flush = asyncio.create_task(self._flush_handled(batch, self._last_reserved, reserved),
                                            name="batch-writer-flush")  # fmt: skip
                self._last_reserved = reserved
                flights.append((flush, sum(request.count for request in batch)))
        finally:
            # Never leave a flush behind: its senders wait for its outcome.
            for flush, _ in flights:
                with contextlib.suppress(Exception):
                    await flush

    async def _flush_handled(self, batch: list[_Request], after: asyncio.Future[None] | None,
                             reserved: asyncio.Future[None]) -> None:  # fmt: skip
        """One flush, its failures handled: a broken connection fails the queue and refuses ingest
        until the database is back; a bug fails only its batch. Its ids are reserved once
        ``after`` is done; ``reserved`` is done once they are (or the flush has failed)."""
        try:
            await self._flush(batch, after, reserved)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            self._on_store_failure(batch, exc)
        except Exception as exc:  # noqa: BLE001 - a bug must fail its batch, not the writer
            log.exception("writer failed on a batch of %d requests", len(batch))
            self._settle(batch, exc)
        finally:
            if not reserved.done():
                reserved.set_result(None)
            self._last_flush_end = time.monotonic()
            self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        """Until woken (``_wake``, cleared at the top of each turn of the loop) or ``seconds``."""
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=max(seconds, 0.001))
        except TimeoutError:
            pass

    def _take(self, max_rows: int) -> list[_Request]:
        """The oldest queued requests, at least one, up to ``max_rows`` (and ``max_batch_bytes``)."""
        batch = [self._queue.popleft()]
        rows, size = batch[0].count, batch[0].payload_bytes
        while (self._queue and rows + self._queue[0].count <= max_rows
               and size + self._queue[0].payload_bytes <= self.max_batch_bytes):  # fmt: skip
            request = self._queue.popleft()
            rows += request.count
            size += request.payload_bytes
            batch.append(request)
        self._queued_rows -= rows
        self._queued_bytes -= size
        return batch

    async def _flush(self, batch: list[_Request], after: asyncio.Future[None] | None = None,
                     reserved: asyncio.Future[None] | None = None) -> None:  # fmt: skip
        started = time.perf_counter()
        results: list[WriteResult]
        for request in batch:
            request.records.prepare()  # Python-mapped rows encoded before the lock is taken
        async with self._pool.acquire() as conn, _locks_given_back_on_failure(conn):
            try:
                async with conn.transaction():
                    if after is not None:
                        await asyncio.shield(after)
                    try:
                        fresh, first_id, last_id, turn = await self._begin(conn, batch)
                    finally:
                        if reserved is not None and not reserved.done():
                            reserved.set_result(None)
                    if fresh:
                        # Its statement trigger waits for the turn at the COPY's end (migration 0013).
                        await self._copy(conn, [request.encoded for request in fresh])
                    else:
                        await self._end(conn, turn)
                for request in fresh:
                    request.add_committed(request.encoded, request.count)
                self._committed(batch, first_id, last_id)
                results = [WriteResult(accepted=request.count, duplicate=request.duplicate) for request in batch]
            except _BatchRejected as exc:
                log.warning("a batch of %d requests was refused (%s); isolating the bad records", len(batch), exc)
                results = [await self._copy_isolated(conn, request) for request in batch]
        self.stats.observe_flush(time.perf_counter() - started)
        self.stats.rejected += sum(r.rejected for r in results)
        for request, result in zip(batch, results):
            if request.future is not None and not request.future.done():
                request.future.set_result(result)
        log.debug("flushed %d requests in %.1f ms", len(batch), (time.perf_counter() - started) * 1000)

    async def _begin(self, conn: asyncpg.Connection, batch: list[_Request]) -> tuple[list[_Request], int, int, int]:
        """The start of a flush's transaction (``activity_reserve_flush``, migration 0012): under
        the commit-order lock for a moment, reserve ids and draw a turn, and record the request
        ids; notify every process of the id range. Returns the requests to write, with their ids
        given in queue order (those whose id was recorded before are duplicates, not written
        again), the range's first and last ids, and the turn to await before COMMIT (``_end``).
        Another transaction recording the same request id waits for this one's end, then skips it."""
        count = sum(request.count for request in batch)
        request_ids = [request.request_id for request in batch if request.request_id is not None]
        row = await conn.fetchrow(q("reserve_flush"), blocks_for(count, self._block_size), request_ids, self.origin)
        claimed = set(row["claimed"])
        ids = IdBlocks(self._block_size, row["first_ids"])
        last_id = row["first_ids"][-1] + self._block_size - 1
        fresh = []
        for request in batch:
            request.duplicate = request.request_id is not None and request.request_id not in claimed
            if not request.duplicate:
                request.encoded = request.records.encode(ids.take(request.count))
                fresh.append(request)
        duplicates = len(batch) - len(fresh)
        if duplicates:
            self.stats.duplicate_requests += duplicates
            log.info("%d request(s) were already committed (a replay or a retry): not written again", duplicates)
        return fresh, row["first_ids"][0], last_id, row["turn"]

    @staticmethod
    async def _end(conn: asyncpg.Connection, turn: int) -> None:
        """The end of a flush's transaction, just before its COMMIT: wait until every flush that
        drew an earlier turn has ended, so that commits follow id order (docs/replicas.md). A
        flush's COPY does this itself as it ends (a statement trigger on ``activity_logs``): only a
        flush that copies nothing, or whose COPYs the isolation path may have undone, calls it."""
        await conn.fetchval(q("await_turn"), turn)

    def _committed(self, requests: list[_Request], first_id: int, last_id: int) -> None:
        """Hand what one transaction committed to the live tail, read back from what was stored
        (in id order: the requests are in id order, and so are the tuples of each). Once per
        request."""
        parts = []
        known_keys, unread_parts = [], []  # for the key catalogue
        for request in requests:
            if not request.published and request.committed_parts:
                request.published = True
                self.stats.committed += request.committed
                parts += request.committed_parts
                # Keys read when the request was encoded hold for it only when all of it committed.
                keys = request.records.catalogue_keys
                if keys is not None and request.committed == request.count:
                    known_keys.append(keys)
                else:
                    unread_parts += request.committed_parts
        if self._catalogue is not None:
            if known_keys:
                self._catalogue.add(known_keys)
            if unread_parts:
                self._catalogue.observe(unread_parts)
        rows: list[ActivityRow] = []
        if parts and self._hub.subscriber_count:
            try:
                with_attributes = self._hub.reads_attributes
                rows = [row for part in parts for row in live_rows(part, with_attributes)]
            except Exception:  # noqa: BLE001 - the records are committed: a bug here must not undo that
                log.exception("could not read back %d committed COPY parts for the live tail", len(parts))
                rows = []
        if self._feed is not None:
            self._feed.committed(first_id, last_id, rows)
        elif rows:
            self._hub.publish(rows)

    async def _copy(self, conn: asyncpg.Connection, parts: list[bytes]) -> None:
        """Commit COPY tuples atomically (an explicit BEGIN/COMMIT around the one statement would
        only add two round trips per flush)."""
        try:
            await copy_tuples(conn, parts)
        except asyncpg.PostgresError as exc:
            if _is_data_error(exc):
                raise _BatchRejected(exc) from exc
            raise

    async def _copy_isolated(self, conn: asyncpg.Connection, request: _Request) -> WriteResult:
        """One request in a transaction of its own, its id recorded as in a flush; when its
        COPY is refused, savepoints halve its rows until each refused row is alone."""
        result = WriteResult(accepted=0)
        committed: list[tuple[bytes, int]] = []
        async with conn.transaction():
            fresh, first_id, last_id, turn = await self._begin(conn, [request])
            if fresh:
                await self._copy_halving(conn, [request.encoded], request.count, committed, result)
            await self._end(conn, turn)
        if not fresh:
            # Its range was notified: the commit feed waits for the writer's word on it.
            self._committed([request], first_id, last_id)
            return WriteResult(accepted=request.count, duplicate=True)
        for part, records in committed:
            request.add_committed(part, records)
        self._committed([request], first_id, last_id)
        result.accepted = request.committed
        return result

    async def _copy_halving(self, conn: asyncpg.Connection, parts: list[bytes], records: int,
                            committed: list[tuple[bytes, int]], result: WriteResult) -> None:  # fmt: skip
        try:
            async with conn.transaction():  # a savepoint
                await self._copy(conn, parts)
            committed.append((b"".join(parts), records))
            return
        except _BatchRejected as exc:
            if records == 1:
                result.rejected += 1
                if len(result.errors) < 3:
                    result.errors.append(f"{exc.cause.sqlstate}: {exc.cause}")
                return
        if len(parts) == 1:
            parts = split_tuples(parts[0])
        half = len(parts) // 2
        await self._copy_halving(conn, parts[:half], half, committed, result)
        await self._copy_halving(conn, parts[half:], len(parts) - half, committed, result)

    # --- failures and recovery -------------------------------------------------------------

    def _on_store_failure(self, batch: list[_Request], exc: BaseException) -> None:
        log.error("database unavailable, refusing ingest until it returns: %s", exc)
        self._available = False
        error = StoreUnavailable(f"the database is unavailable ({type(exc).__name__}); retry later",
                                 self.unavailable_advice.delay())  # fmt: skip
        self._settle(batch, error)
        self._fail_queued(error)

    def _settle(self, batch: list[_Request], error: BaseException) -> None:
        """Fail a batch whose flush broke off. Requests the isolation path had already committed
        in full still succeed, so their senders do not send them twice (they were handed to the
        live tail when their transaction committed)."""
        for request in batch:
            if request.committed == request.count:
                if request.future is not None and not request.future.done():
                    request.future.set_result(WriteResult(accepted=request.count))
            elif request.future is not None and not request.future.done():
                request.future.set_exception(error)
            else:
                self.stats.dropped_internal += request.count - request.committed

    def _fail_queued(self, error: StoreUnavailable) -> None:
        while self._queue:
            request = self._queue.popleft()
            self._queued_rows -= request.count
            self._queued_bytes -= request.payload_bytes
            if request.future is not None and not request.future.done():
                request.future.set_exception(error)
            elif request.future is None:
                self.stats.dropped_internal += request.count

    async def _probe(self) -> None:
        await self._sleep(self.retry_after)
        try:
            async with self._pool.acquire(timeout=5) as conn:
                await conn.fetchval(q("ping"), timeout=5)
        except Exception as exc:  # noqa: BLE001 - any failure means "still down"
            log.debug("database still unavailable: %s", exc)
            if self._closing:
                self._fail_queued(StoreUnavailable("the server is shutting down"))
                self._available = True  # let the loop end
            return
        log.info("database reachable again after %.0f s; accepting ingest", self.unavailable_advice.lasting)
        self.unavailable_advice.clear()
        self._available = True

    async def _read_settings(self) -> None:
        self._next_settings_read = time.monotonic() + self.settings_refresh
        try:
            async with self._pool.acquire(timeout=5) as conn:
                row = await conn.fetchrow(q("get_settings"), timeout=5)
        except Exception as exc:  # noqa: BLE001 - keep the current settings
            log.debug("could not read activity_log_settings: %s", exc)
            return
        if row is not None:
            self.apply_settings(row["batch_size"], row["flush_interval_ms"])
