"""Ids for ``activity_logs``, reserved from its sequence a block at a time (migration 0003): the
writer takes them in order at commit time, one sequence call per block instead of one per row."""

from __future__ import annotations

from collections import deque

import asyncpg

from collector.copy_rows import IdRanges
from collector.db.queries import q

# Blocks reserved beyond what a flush needs, so that a steady stream of small flushes does not pay
# a round trip each.
SPARE_BLOCKS = 4


class IdBlocks:
    """Reserved ids not yet used, as (first_id, count) runs in the order they were reserved."""

    def __init__(self) -> None:
        self.block_size = 0
        self._runs: deque[tuple[int, int]] = deque()
        self._available = 0

    async def load(self, conn: asyncpg.Connection) -> None:
        self.block_size = int(await conn.fetchval(q("activity_log_id_block_size")) or 1)

    @property
    def available(self) -> int:
        return self._available

    async def reserve(self, conn: asyncpg.Connection, count: int) -> None:
        """Make at least ``count`` ids available."""
        if count <= self._available:
            return
        blocks = -(-(count - self._available) // self.block_size) + SPARE_BLOCKS
        for first in await conn.fetchval(q("reserve_activity_log_id_blocks"), blocks):
            self._add(first, self.block_size)

    def _add(self, first: int, count: int) -> None:
        if self._runs and self._runs[-1][0] + self._runs[-1][1] == first:
            last_first, last_count = self._runs.pop()
            self._runs.append((last_first, last_count + count))
        else:
            self._runs.append((first, count))
        self._available += count

    def take(self, count: int) -> IdRanges:
        """The next ``count`` ids (``reserve`` made them available), in runs."""
        if count > self._available:
            raise ValueError(f"{count} ids wanted, {self._available} reserved")
        ranges = []
        while count:
            first, run = self._runs.popleft()
            used = min(run, count)
            ranges.append((first, used))
            if used < run:
                self._runs.appendleft((first + used, run - used))
            count -= used
            self._available -= used
        return ranges
