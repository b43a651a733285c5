"""The live hub: committed rows fan out to many subscribers.

Publishing never blocks and never waits for a subscriber: each subscriber has its own bounded
queue, and when it is full the subscriber's oldest rows are dropped and counted, so a slow
consumer only ever loses its own entries and learns how many (``lagged``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, deque
from typing import Callable, Hashable, Protocol, runtime_checkable

from collector.model import ActivityRow

DEFAULT_SUBSCRIBER_CAPACITY = 4096
# What one subscriber's queue may hold, in bytes of row views and messages (live_size).
DEFAULT_SUBSCRIBER_BYTES = 16 * 1024 * 1024
MAX_PENDING_OWNERS = 10_000
# Subscribers are woken at most this often: rows committed in between are handed out together.
# An idle hub wakes them at once, so a lone record is not delayed; under load each client gets
# one frame per interval instead of one per commit (the writer commits as often as it can).
DEFAULT_WAKE_INTERVAL_S = 0.01


@runtime_checkable
class RowMatcher(Protocol):
    """A subscription's predicate that can say which others select the same rows.

    Matchers with equal ``share_key`` admit exactly the same rows, so ``LiveHub.publish`` runs one
    of them per batch for all (many consoles with the default filter cost one evaluation); None
    shares with no one. A plain ``Callable[[ActivityRow], bool]`` is a predicate too, unshared.
    A matcher whose ``reads_attributes`` is true looks into rows' ``fields`` and ``resource``."""

    share_key: Hashable | None

    def __call__(self, row: ActivityRow) -> bool: ...


Predicate = RowMatcher | Callable[[ActivityRow], bool]


def live_size(row: ActivityRow) -> int:
    """About what a published row holds: its serialised view and its message (kept for search)."""
    return len(row.json()) + len(row.message)


class Subscription:
    """One subscriber's bounded queue: at most ``capacity`` rows and about ``capacity_bytes``
    bytes (``live_size``, accounted per published batch at the batch's average, so that neither
    publishing nor dropping costs work per row); beyond either, the oldest rows are dropped and
    counted.

    ``pending_owner(row)``, when given, names rows whose visibility the consumer decides later
    (the live tail's job-only entries, by job id): when such rows are dropped they are not counted
    in ``skipped`` but by that key (``take_dropped_pending``), so that the consumer reports only
    the ones the client was allowed to see."""

    def __init__(self, hub: "LiveHub", capacity: int, predicate: Predicate | None,
                 pending_owner: Callable[[ActivityRow], Hashable | None] | None = None,
                 capacity_bytes: int = DEFAULT_SUBSCRIBER_BYTES):  # fmt: skip
        self._hub = hub
        self._queue: deque[ActivityRow] = deque()
        # Parallel to the queue: [rows left of a published batch, their average size in bytes].
        self._batches: deque[list[float]] = deque()
        self._capacity = capacity
        self._capacity_bytes = capacity_bytes
        self._bytes = 0.0
        self._ready = asyncio.Event()
        self.predicate = predicate  # sets share_key too
        self.pending_owner = pending_owner
        self.skipped = 0  # rows dropped since the last ``get``
        self._dropped_pending: Counter[Hashable] = Counter()
        self.closed = False

    @property
    def predicate(self) -> Predicate | None:
        return self._predicate

    @predicate.setter
    def predicate(self, predicate: Predicate | None) -> None:
        """Admit by ``predicate`` from the next publish on."""
        self._predicate = predicate
        # Decided here, once, rather than for every subscriber on every publish.
        shared = predicate.share_key if isinstance(predicate, RowMatcher) else None
        self.share_key: Hashable | None = shared if shared is not None else predicate

    def _append(self, matched: list[ActivityRow], matched_bytes: int) -> None:
        """Queue rows that already passed the predicate (``matched_bytes``: their ``live_size``),
        dropping the oldest beyond the capacity in rows or in bytes. (C-level deque operations:
        publish runs this once per subscriber for every batch.)"""
        if not matched:
            return
        self._queue.extend(matched)
        self._batches.append([len(matched), matched_bytes / len(matched)])
        self._bytes += matched_bytes
        excess = len(self._queue) - self._capacity
        if self._bytes > self._capacity_bytes:
            excess = max(excess, self._rows_over_bytes())
        if excess > 0:
            self._count_dropped(self._take(min(excess, len(self._queue) - 1)))
        if len(self._queue) * 2 >= self._capacity or self._bytes * 2 >= self._capacity_bytes:
            self._ready.set()  # half full: waiting for the next paced wake could cost it rows
        else:
            self._hub._to_wake.add(self)

    def _rows_over_bytes(self) -> int:
        """How many of the oldest rows to drop to get back within ``capacity_bytes``."""
        over, rows = self._bytes - self._capacity_bytes, 0
        for left, size in self._batches:
            if over <= 0:
                break
            take = min(left, int(over // size) + 1) if size else left
            rows += take
            over -= take * size
        return int(rows)

    def _take(self, count: int) -> list[ActivityRow]:
        """The ``count`` oldest rows, out of the queue and its accounting."""
        queue, batches = self._queue, self._batches
        if count >= len(queue):
            rows = list(queue)
            queue.clear()
            batches.clear()
            self._bytes = 0.0
            return rows
        rows = [queue.popleft() for _ in range(count)]
        while count:
            batch = batches[0]
            take = min(count, int(batch[0]))
            self._bytes -= take * batch[1]
            batch[0] -= take
            count -= take
            if not batch[0]:
                batches.popleft()
        return rows

    def _count_dropped(self, dropped: list[ActivityRow]) -> None:
        self._hub.dropped += len(dropped)
        owner_of = self.pending_owner
        if owner_of is None:
            self.skipped += len(dropped)
            return
        for row in dropped:
            owner = owner_of(row)
            if owner is None:
                self.skipped += 1
            elif owner in self._dropped_pending or len(self._dropped_pending) < MAX_PENDING_OWNERS:
                self._dropped_pending[owner] += 1
            # else: too many distinct owners to remember; such drops go unreported rather than
            # reported to a client that may not see them

    def take_dropped_pending(self) -> Counter[Hashable]:
        dropped, self._dropped_pending = self._dropped_pending, Counter()
        return dropped

    async def get(self, max_rows: int = 1000) -> tuple[list[ActivityRow], int]:
        """Wait for rows the hub has woken this subscriber for; return up to ``max_rows`` of them
        and how many were dropped before them."""
        while not self.closed and not (self._queue and self._ready.is_set()):
            if not self._queue:
                self._ready.clear()
            await self._ready.wait()
        rows = self._take(max_rows)
        if not self._queue:
            self._ready.clear()
        skipped, self.skipped = self.skipped, 0
        return rows, skipped

    def pending(self) -> int:
        return len(self._queue)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._hub._subscriptions.discard(self)
            self._hub._to_wake.discard(self)
            self._ready.set()

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LiveHub:
    def __init__(self, subscriber_capacity: int = DEFAULT_SUBSCRIBER_CAPACITY,
                 wake_interval_s: float = DEFAULT_WAKE_INTERVAL_S):  # fmt: skip
        self.subscriber_capacity = subscriber_capacity
        self.wake_interval_s = wake_interval_s
        self._subscriptions: set[Subscription] = set()
        self._to_wake: set[Subscription] = set()
        self._last_wake = float("-inf")
        self._wake_timer: asyncio.TimerHandle | None = None
        self.dropped = 0  # rows dropped from subscribers' full queues ("lagged"), all told

    def subscribe(
        self, predicate: Predicate | None = None, capacity: int | None = None,
        pending_owner: Callable[[ActivityRow], Hashable | None] | None = None,
        capacity_bytes: int = DEFAULT_SUBSCRIBER_BYTES,
    ) -> Subscription:
        subscription = Subscription(self, capacity or self.subscriber_capacity, predicate, pending_owner, capacity_bytes)
        self._subscriptions.add(subscription)
        return subscription

    def publish(self, rows: list[ActivityRow]) -> None:
        """Hand committed rows to every subscriber. Never blocks; a no-op without subscribers.

        Subscribers whose predicates carry the same ``share_key`` (``RowMatcher``) select the same
        rows: the predicate runs once per batch for all of them."""
        if not rows:
            return
        if not self._subscriptions:
            return
        # What subscribers hold until they send it: each row's view, serialised once, and the
        # columns filters read; not its fields and resource, which can be megabytes of small
        # objects (what a queue may pin is then bounded by its bytes capacity), unless a
        # subscriber's query reads attributes: then they are kept (shared, not copied) for this
        # batch, and the bytes capacity counts only the serialised view.
        rows = [row.for_live(self.reads_attributes) for row in rows]
        total = sum(map(live_size, rows))
        matched_by_key: dict[object, tuple[list[ActivityRow], int]] = {}
        for subscription in tuple(self._subscriptions):
            predicate = subscription.predicate
            if predicate is None:
                subscription._append(list(rows), total)
                continue
            key = subscription.share_key
            matched_entry = matched_by_key.get(key)
            if matched_entry is None:
                matched = [row for row in rows if predicate(row)]
                matched_entry = matched_by_key[key] = (matched, sum(map(live_size, matched)))
            subscription._append(*matched_entry)
        self._schedule_wake()

    def _schedule_wake(self) -> None:
        """Wake the subscribers that have new rows: now when the last wake was at least an
        interval ago, else at the end of that interval (one timer for all of them)."""
        if not self._to_wake or self._wake_timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # published from outside a loop (a synchronous caller): no pacing
            self._wake()
            return
        due = self._last_wake + self.wake_interval_s
        if loop.time() >= due:
            self._wake()
        else:
            self._wake_timer = loop.call_at(due, self._wake)

    def _wake(self) -> None:
        self._wake_timer = None
        with contextlib.suppress(RuntimeError):
            self._last_wake = asyncio.get_running_loop().time()
        to_wake, self._to_wake = self._to_wake, set()
        for subscription in to_wake:
            subscription._ready.set()

    @property
    def reads_attributes(self) -> bool:
        """Whether some subscriber's query reads ``fields`` or ``resource`` (``RowMatcher``): only
        then do published rows need them."""
        return any(getattr(s.predicate, "reads_attributes", False) for s in self._subscriptions)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    def close(self) -> None:
        if self._wake_timer is not None:
            self._wake_timer.cancel()
            self._wake_timer = None
        for subscription in tuple(self._subscriptions):
            subscription.close()
