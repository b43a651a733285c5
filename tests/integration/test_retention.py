"""Retention: per-level deletion of exactly what is past its retention, an error (and nothing
deleted) when the settings row is missing, the curated report entry, and the background task's
lifecycle."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from api.retention import RetentionJob
from collector.db.repository import LogFilter, Scope, count_logs, query_logs, update_settings
from collector.errors import ConfigurationError
from collector.model import LEVELS
from tests.support.api import row, store
from tests.support.server import start_server, wait_for

pytestmark = pytest.mark.timeout(60)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def around_cutoffs(retention_days: dict[str, int]) -> tuple[list, set[str]]:
    """Per level: two rows just past the cutoff (to delete) and two just inside it (to keep)."""
    rows, doomed = [], set()
    for level in LEVELS:
        cutoff = NOW - timedelta(days=retention_days[level])
        for n, offset in enumerate((timedelta(seconds=-1), timedelta(days=-30), timedelta(seconds=1), timedelta(0))):
            message = f"{level} {n}"
            rows.append(row(message, level=level, at=cutoff + offset))
            if offset < timedelta(0):
                doomed.add(message)
    return rows, doomed


async def settled(server) -> None:
    """Wait until the server's own retention job has finished its start-up cycle."""
    assert await wait_for(lambda: _done(server))


async def _done(server) -> bool:
    return server.runtime.retention is not None and server.runtime.retention.cycles >= 1


async def remaining_messages(db) -> set[str]:
    return {r.message for r in await query_logs(db, LogFilter(sources=["worker"]), Scope.admin(), limit=1000)}


async def test_deletes_exactly_what_is_past_each_levels_retention(server, db):
    await settled(server)
    retention = {"debug": 1, "info": 2, "warn": 3, "error": 7}
    await update_settings(db, {f"retention_days_{level}": days for level, days in retention.items()})
    rows, doomed = around_cutoffs(retention)
    await store(server, rows)
    job = RetentionJob(server.runtime.pool, server.runtime.writer, 3600, chunk_rows=3)  # several chunks per level
    purged = await job.run_once(now=NOW)
    assert purged == {"debug": 2, "info": 2, "warn": 2, "error": 2}
    assert await remaining_messages(db) == {r.message for r in rows} - doomed
    # A second cycle finds nothing more.
    assert await job.run_once(now=NOW) == dict.fromkeys(LEVELS, 0)

    # The purge was reported once, as a curated entry of the API server.
    async def report():
        return await query_logs(db, LogFilter(sources=["api"], mode="curated", search="retention purged"),
                                Scope.admin())  # fmt: skip

    entries = await wait_for(report)
    assert len(entries) == 1
    assert entries[0].fields["purged"] == {"debug": 2, "info": 2, "warn": 2, "error": 2}
    assert entries[0].message == "retention purged 8 entries (debug 2, info 2, warn 2, error 2)"


async def test_a_missing_settings_row_is_an_error_and_nothing_is_deleted(server, db):
    await settled(server)
    await db.execute("DELETE FROM activity_log_settings")
    rows, _ = around_cutoffs({"debug": 7, "info": 30, "warn": 30, "error": 90})
    await store(server, rows)
    with pytest.raises(ConfigurationError, match="activity_log_settings"):
        await RetentionJob(server.runtime.pool, None, 3600).run_once(now=NOW)
    assert await remaining_messages(db) == {r.message for r in rows}


async def test_background_job_runs_each_interval_and_stops_with_the_server(database_url, tmp_path, db):
    others = retention_tasks()
    server = await start_server(database_url, tmp_path, retention_interval_s=0.1)
    mine = retention_tasks() - others
    assert len(mine) == 1
    try:
        old = datetime.now(timezone.utc) - timedelta(days=8)
        await store(server, [row("old debug", level="debug", at=old), row("old error", level="error", at=old)])

        async def only_the_error_left():
            return await count_logs(db, LogFilter(sources=["worker"]), Scope.admin()) == 1

        assert await wait_for(only_the_error_left)
        # The settings are read at each cycle: shortening error retention applies without restart.
        await update_settings(db, {"retention_days_error": 7})

        async def none_left():
            return await count_logs(db, LogFilter(sources=["worker"]), Scope.admin()) == 0

        assert await wait_for(none_left)
        assert server.runtime.retention.cycles >= 2
    finally:
        await server.stop()
    assert all(task.done() for task in mine)  # cancelled and awaited, not left running


def retention_tasks() -> set[asyncio.Task]:
    return {t for t in asyncio.all_tasks() if t.get_name() == "activity-retention" and not t.done()}


async def test_one_cycle_at_a_time_across_processes(server, db):
    """Another process (here the test's own session) holding the retention lock makes a cycle
    skip, deleting nothing; once it is released the cycle runs."""
    await settled(server)
    retention = {"debug": 1, "info": 2, "warn": 3, "error": 7}
    await update_settings(db, {f"retention_days_{level}": days for level, days in retention.items()})
    rows, doomed = around_cutoffs(retention)
    await store(server, rows)
    job = RetentionJob(server.runtime.pool, None, 3600)
    assert await db.fetchval("SELECT pg_try_advisory_lock(7317003)")
    try:
        assert await job.run_once(now=NOW) is None and job.skipped == 1
        assert await remaining_messages(db) == {r.message for r in rows}
    finally:
        await db.execute("SELECT pg_advisory_unlock(7317003)")
    assert sum((await job.run_once(now=NOW)).values()) == len(doomed)
    assert await remaining_messages(db) == {r.message for r in rows} - doomed
