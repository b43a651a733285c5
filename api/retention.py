"""Retention: every ``Settings.retention_interval_s`` (1 h by default) delete, per
level, the entries older than that level's retention in ``activity_log_settings``.

- The settings are read at each cycle, so a change through the API applies at the next run; a
  missing settings row is an error (the cycle fails and is retried), never a silent default.
- Whole days of a level that lie before its cutoff are dropped as partitions (constant time; the
  space goes back at once); the rest, the cutoff's own day and the default partitions, goes in
  bounded DELETE chunks, each its own short statement, so ingest never waits behind one long
  delete (collector/partitions.py).
- Each cycle first creates the partitions of the coming days and of back-filled days.
- Purged counts are logged as a curated entry (source ``api``) through the batch writer, and only
  when something was purged, so that an idle server's log is not one line per hour of nothing.
- The first cycle runs at start-up: a server that restarts more often than the interval still
  enforces retention.
- With several processes on one database, one cycle runs at a time: a cycle starts by taking an
  advisory lock without waiting, and a process that finds it taken skips that cycle.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import datetime, timedelta, timezone
from time import monotonic as time_now
from typing import Any

import asyncpg

from api.server_entries import server_entry
from collector import partitions
from collector.contract import Category
from collector.db import repository
from collector.db.queries import q
from collector.delivery import REQUEST_ID_WINDOW, request_id_floor
from collector.model import LEVELS, ActivityRow
from collector.writer import BatchWriter

log = logging.getLogger(__name__)

DELETE_CHUNK_ROWS = 10_000
# A cycle starts no index build after this long (a first run on a large database catches up over
# several cycles rather than holding the retention lock for hours).
INDEX_BUDGET_S = 600.0


def curated_api_entry(message: str, fields: dict[str, Any], *, scope_name: str = __name__,
                      user_id: int | None = None) -> ActivityRow:  # fmt: skip
    """A curated entry of the API server's maintenance (retention runs, manual purges), for admins only."""
    return server_entry(message, scope_name=scope_name, category=Category.CURATED.value, fields=fields, user_id=user_id)


class RetentionJob:
    """Deletes what is past each level's retention, once per ``interval_s``."""

    def __init__(self, pool: asyncpg.Pool, writer: BatchWriter | None, interval_s: float,
                 *, chunk_rows: int = DELETE_CHUNK_ROWS):  # fmt: skip
        self.pool = pool
        self.writer = writer
        self.interval_s = interval_s
        self.chunk_rows = chunk_rows
        self.cycles = 0  # completed cycles (tests wait on it)
        self.deleted: Counter[str] = Counter()  # entries deleted by level, all cycles (GET /metrics)
        self.forgotten_request_ids = 0  # ingest_requests rows pruned, all cycles
        self.skipped = 0  # cycles left to another process
        self.failed = 0  # cycles that failed (database away), retried at the next interval
        self.days_dropped = 0  # day partitions dropped, all cycles
        self.days_created = 0  # day partitions created, all cycles
        self.indexes_built = 0  # closed days' query indexes built, all cycles
        self.today_indexes_built = 0  # today's partial query indexes built, all cycles
        self.index_budget_s = INDEX_BUDGET_S
        self.expired_keys = 0  # key catalogue entries not seen within the longest retention, all cycles

    async def run_once(self, now: datetime | None = None) -> dict[str, int] | None:
        """One cycle: the number of entries deleted per level; None when another process is
        running one."""
        now = now or datetime.now(timezone.utc)
        async with self.pool.acquire() as conn:
            if not await conn.fetchval(q("try_lock_retention")):
                self.skipped += 1
                log.debug("retention: another process is running a cycle; skipping this one")
                return None
            try:
                return await self._cycle(conn, now)
            finally:
                await conn.execute(q("unlock_retention"))

    async def _cycle(self, conn: asyncpg.Connection, now: datetime) -> dict[str, int]:
        settings = await repository.get_settings(conn)
        retention_days = {level: settings[f"retention_days_{level}"] for level in LEVELS}
        self.days_created += len(await partitions.ensure_days(conn, now, retention_days))
        purged = dict(await partitions.drop_leftover_days(conn))
        for level in LEVELS:
            result = await partitions.purge_older_than(conn, level, now - timedelta(days=retention_days[level]),
                                                       chunk=self.chunk_rows)  # fmt: skip
            purged[level] = purged.get(level, 0) + result.rows
            self.days_dropped += result.days_dropped
        # Exactly-once needs a request's id only while it may be replayed (collector/delivery.py).
        self.forgotten_request_ids += await repository.prune_ingest_requests(
            conn, request_id_floor(now - REQUEST_ID_WINDOW), chunk=self.chunk_rows
        )
        # Closed days get the query indexes ingest does not pay for (collector/partitions.py).
        started = time_now()
        self.indexes_built += await partitions.index_closed_days(conn, now, budget_s=self.index_budget_s)
        # Today's rows up to this cycle get them too, partial, so that a query reads unindexed
        # only the rows since (collector/db/query_indexes.py); within the same budget.
        if time_now() - started < self.index_budget_s:
            self.today_indexes_built += await partitions.index_today(conn, now)
        # The key catalogue forgets keys no entry kept within the longest retention can carry.
        self.expired_keys += await repository.expire_log_keys(conn, now - timedelta(days=max(retention_days.values())))
        total = sum(purged.values())
        self.deleted.update(purged)
        log.debug("retention purged %d entries: %s", total, purged)
        if total and self.writer is not None:
            message = "retention purged {} entries ({})".format(
                total, ", ".join(f"{level} {count}" for level, count in purged.items() if count)
            )
            self.writer.submit_nowait([curated_api_entry(message, {"purged": purged, "job": "retention"})])
        self.cycles += 1
        return purged

    async def run_forever(self) -> None:
        """Cycles until cancelled. A failed cycle (database down) is logged and retried at the
        next interval; it never ends the job."""
        while True:
            try:
                await self.run_once()
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                self.failed += 1
                log.warning("retention cycle failed, retrying in %.0f s: %s", self.interval_s, exc)
            except Exception:  # noqa: BLE001 - a bug must not end retention for the server's life
                self.failed += 1
                log.exception("retention cycle failed")
            await asyncio.sleep(self.interval_s)
