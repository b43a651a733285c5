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
        queue = self._queue
        for row in rows:
            if predicate is None or predicate(row):
                if len(queue) >= self._capacity:
                    queue.popleft()
                    self.skipped += 1
                queue.append(row)
        if queue:
            self._ready.set()

    async def get(self, max_rows: int = 1000) -> tuple[list[ActivityRow], int]:
        """Wait for rows; return up to ``max_rows`` of them and how many were dropped before them."""
        while not self._queue and not self.closed:
            self._ready.clear()
            await self._ready.wait()
        rows = [self._queue.popleft() for _ in range(min(max_rows, len(self._queue)))]
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
        """Hand committed rows to every subscriber. Never blocks; a no-op without subscribers."""
        for subscription in tuple(self._subscriptions):
            subscription._offer(rows)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    def close(self) -> None:
        for subscription in tuple(self._subscriptions):
            subscription.close()
