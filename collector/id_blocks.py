"""Ids for ``activity_logs``, reserved from its sequence a block at a time (migration 0003): each
flush reserves the blocks it needs under the commit-order lock (migrations 0005, 0012) and gives them to
its records in queue order, one sequence call per block instead of one per row."""

from __future__ import annotations

from collections import deque
from typing import Iterable

import asyncpg

from collector.copy_rows import IdRanges
from collector.db.queries import q


async def block_size(conn: asyncpg.Connection) -> int:
    """How many ids one ``nextval`` reserves."""
    return int(await conn.fetchval(q("activity_log_id_block_size")) or 1)


def blocks_for(count: int, size: int) -> int:
    return max(1, -(-count // size))


class IdBlocks:
    """Reserved ids not yet used, as (first_id, count) runs in the order they were reserved."""

    def __init__(self, block_size: int, first_ids: Iterable[int] = ()) -> None:
        self.block_size = block_size
        self._runs: deque[tuple[int, int]] = deque()
        self._available = 0
        for first in first_ids:
            self._add(first, block_size)

    @property
    def available(self) -> int:
        return self._available

    @property
    def last(self) -> int:
        """The highest id reserved."""
        first, count = self._runs[-1]
        return first + count - 1

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
