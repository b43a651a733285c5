"""The live hub (the seed's ActivityLogBroadcaster): committed rows fan out to many subscribers.

Publishing never blocks and never waits for a subscriber: each subscriber has its own bounded
queue, and when it is full the subscriber's oldest rows are dropped and counted, so a slow
consumer only ever loses its own entries and learns how many (``lagged``).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Callable, Iterable

from collector.model import ActivityRow

DEFAULT_SUBSCRIBER_CAPACITY = 4096


class Subscription:
    def __init__(self, hub: "LiveHub", capacity: int, predicate: Callable[[ActivityRow], bool] | None):
        self._hub = hub
        self._queue: deque[ActivityRow] = deque()
        self._capacity = capacity
        self._ready = asyncio.Event()
        self.predicate = predicate
        self.skipped = 0  # rows dropped since the last ``get``
        self.closed = False

    def _offer(self, rows: Iterable[ActivityRow]) -> None:
        predicate = self.predicate
        self._append(list(rows) if predicate is None else [row for row in rows if predicate(row)])

    def _append(self, matched: list[ActivityRow]) -> None:
        """Queue rows that already passed the predicate, dropping the oldest beyond capacity.
        (C-level deque operations: publish runs this once per subscriber for every batch.)"""
        if not matched:
            return
        queue = self._queue
        overflow = len(queue) + len(matched) - self._capacity
        if overflow > 0:
            self.skipped += overflow
            if overflow >= len(queue):
                matched = matched[overflow - len(queue):]
                queue.clear()
            else:
                for _ in range(overflow):
                    queue.popleft()
        queue.extend(matched)
        self._ready.set()

    async def get(self, max_rows: int = 1000) -> tuple[list[ActivityRow], int]:
        """Wait for rows; return up to ``max_rows`` of them and how many were dropped before them."""
        while not self._queue and not self.closed:
            self._ready.clear()
            await self._ready.wait()
        if len(self._queue) <= max_rows:
            rows = list(self._queue)
            self._queue.clear()
        else:
            rows = [self._queue.popleft() for _ in range(max_rows)]
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
            self._ready.set()

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LiveHub:
    def __init__(self, subscriber_capacity: int = DEFAULT_SUBSCRIBER_CAPACITY):
        self.subscriber_capacity = subscriber_capacity
        self._subscriptions: set[Subscription] = set()

    def subscribe(
        self, predicate: Callable[[ActivityRow], bool] | None = None, capacity: int | None = None
    ) -> Subscription:
        subscription = Subscription(self, capacity or self.subscriber_capacity, predicate)
        self._subscriptions.add(subscription)
        return subscription

    def publish(self, rows: list[ActivityRow]) -> None:
        """Hand committed rows to every subscriber. Never blocks; a no-op without subscribers.

        Subscribers whose predicates carry the same ``share_key`` (e.g. many consoles with the
        default filter) select the same rows: the predicate runs once per batch for all of them."""
        if not rows:
            return
        matched_by_key: dict[object, list[ActivityRow]] = {}
        for subscription in tuple(self._subscriptions):
            predicate = subscription.predicate
            if predicate is None:
                subscription._append(list(rows))
                continue
            key = getattr(predicate, "share_key", None) or predicate
            matched = matched_by_key.get(key)
            if matched is None:
                matched = matched_by_key[key] = [row for row in rows if predicate(row)]
            subscription._append(matched)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    def close(self) -> None:
        for subscription in tuple(self._subscriptions):
            subscription.close()
