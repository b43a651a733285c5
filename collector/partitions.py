"""The partitions of ``activity_logs``: one table per level and UTC day (migration 0007).

- Days are created ahead (``AHEAD_DAYS``) so that ingest finds its partition waiting; an entry
  that no day covers (back-filled, or stamped far ahead) lands in its level's default partition
  and is never refused. ``ensure_days`` then gives such a day a partition of its own, moving its
  rows, as long as the day is within the level's retention (older rows are deleted next anyway).
- A purge (retention, or an admin's) takes whole days that lie before its cutoff out of the tree
  and drops them: constant time whatever they hold, and the space goes back to the system at once.
  Only the day the cutoff falls in, and the default partition, are deleted row by row.
- Every change to the tree runs with a short ``lock_timeout``: it needs a lock on a level's table
  for a moment, and waiting behind a long read (an export) would queue ingest behind it. A change
  that times out is left for the next cycle; a day that could not be dropped is deleted row by
  row instead, so a purge never leaves expired rows behind.
"""

from __future__ import annotations

import logging
import re
from time import monotonic as time_now
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Mapping

import asyncpg

from collector.contract import LEVEL_IDS, LEVELS
from collector.db import repository
from collector.db.queries import q
from collector.db.query_indexes import (QUERY_INDEXES, day_table, indexed_before, partial_index_bound,
                                        partial_index_name, timestamp_literal)

log = logging.getLogger(__name__)

AHEAD_DAYS = 2  # days after today that get their partitions in advance
DDL_LOCK_TIMEOUT = "1s"
_DAY_TABLE = re.compile(r"^activity_logs_([a-z]+)_[0-9]{8}$")


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=timezone.utc)


def utc_day(moment: datetime) -> date:
    return moment.astimezone(timezone.utc).date()


async def _change_tree(conn: asyncpg.Connection, query: str, *args: object) -> object:
    """One change to the partition tree (a named query's value), in its own transaction under
    ``DDL_LOCK_TIMEOUT``; ``asyncpg.LockNotAvailableError`` when the lock it needs is held."""
    async with conn.transaction():
        await conn.execute(q("set_lock_timeout"), DDL_LOCK_TIMEOUT)
        return await conn.fetchval(q(query), *args)


@dataclass(frozen=True)
class CreatedDay:
    level: str
    day: date
    moved: int  # rows moved out of the level's default partition


async def ensure_days(conn: asyncpg.Connection, now: datetime, retention_days: Mapping[str, int]) -> list[CreatedDay]:
    """Creates every level's partitions from yesterday to ``AHEAD_DAYS`` after today, and one for
    each day within the level's retention that has rows in its default partition. Returns what
    it created; a day it could not lock for is left for the next call."""
    today = utc_day(now)
    wanted: set[tuple[str, date]] = set()
    for level in LEVELS:
        wanted.update((level, today + timedelta(days=offset)) for offset in range(-1, AHEAD_DAYS + 1))
        low = day_start(today - timedelta(days=retention_days[level]))
        high = day_start(today + timedelta(days=AHEAD_DAYS + 1))
        wanted.update((level, r["day"]) for r in await conn.fetch(q("default_partition_days"), level, low, high))
    existing = {(r["level"], r["day"]) for r in await conn.fetch(q("list_day_partitions"))}
    created = []
    for level, day in sorted(wanted - existing, key=lambda key: (LEVEL_IDS[key[0]], key[1])):
        try:
            moved = await _change_tree(conn, "create_day_partition", level, day)
        except asyncpg.LockNotAvailableError:
            log.info("partition %s %s: its table is busy; trying again next cycle", level, day)
            continue
        if moved is not None:
            created.append(CreatedDay(level, day, moved))
    if created:
        log.debug("created partitions: %s", created)
    return created


async def create_days(conn: asyncpg.Connection, days: list[date]) -> None:
    """Every level's partitions for these days (back-filling tools and benchmarks that load rows
    of past days use it first, so that the rows go straight to their days)."""
    for level in LEVELS:
        for day in days:
            await conn.fetchval(q("create_day_partition"), level, day)


async def _drop_detached(conn: asyncpg.Connection, name: str) -> int | None:
    """The rows a detached day table held, once dropped; None when a reader still holds it (the
    next cycle's ``drop_leftover_days`` takes it)."""
    try:
        return await _change_tree(conn, "drop_detached_day", name)  # type: ignore[return-value]
    except asyncpg.LockNotAvailableError:
        log.info("partition %s: detached, but a reader still holds it; dropping it next cycle", name)
        return None


async def drop_leftover_days(conn: asyncpg.Connection) -> Counter[str]:
    """Drops the day tables a purge detached but did not drop (it was interrupted, or a reader
    held them); the rows they held, by level."""
    dropped: Counter[str] = Counter()
    for record in await conn.fetch(q("list_detached_day_tables")):
        match = _DAY_TABLE.match(record["name"])
        if match is None or match.group(1) not in LEVEL_IDS:
            continue
        rows = await _drop_detached(conn, record["name"])
        if rows is not None:
            dropped[match.group(1)] += rows
    return dropped


@dataclass
class Purged:
    rows: int = 0  # entries gone, counted exactly
    days_dropped: int = 0  # whole day partitions among them


async def purge_older_than(conn: asyncpg.Connection, level: str, cutoff: datetime, *, chunk: int = 10_000) -> Purged:
    """Removes a level's entries older than ``cutoff``: whole days when they lie before it, the
    rest (the cutoff's own day, the default partition, days that could not be detached) in
    bounded DELETEs."""
    purged = Purged()
    for record in await conn.fetch(q("list_day_partitions")):
        if record["level"] != level or day_start(record["day"] + timedelta(days=1)) > cutoff:
            continue
        try:
            name = await _change_tree(conn, "detach_day_partition", level, record["day"])
        except asyncpg.LockNotAvailableError:
            log.info("partition %s %s: its table is busy; deleting its rows instead", level, record["day"])
            continue
        if name is None:  # another process took it meanwhile
            continue
        rows = await _drop_detached(conn, name)
        purged.days_dropped += 1
        purged.rows += rows or 0
    purged.rows += await repository.delete_older_than(conn, level, cutoff, chunk=chunk)
    return purged


_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def _statement(name: str, *, before: datetime | None = None, **identifiers: str) -> str:
    """A named DDL template with its table and index names filled in, quoted; only names of the
    shape this schema gives its tables are accepted. ``before`` fills a ``{where}`` with a
    partial index's bound, written as a constant (the planner proves a query's use of the index
    from it), else leaves it empty."""
    for value in identifiers.values():
        if not _IDENTIFIER.match(value):
            raise ValueError(f"not a name of this schema: {value!r}")
    fill = {key: f'"{value}"' for key, value in identifiers.items()}
    fill["where"] = "" if before is None else f'WHERE "timestamp" < {timestamp_literal(before)}'
    return q(name).format(**fill)


async def build_search_index(conn: asyncpg.Connection) -> int:
    """Builds the optional trigram index on the message over the partition tree, each day's part
    ``CONCURRENTLY`` (PostgreSQL cannot build a partitioned index that way in one go), and attaches
    the parts. The index serves queries once every part is attached. Returns the parts built.
    Partitions created meanwhile get their part when attached (they copy their parent's indexes);
    a round that finds the index still incomplete goes over the tree again."""
    built = 0
    for _ in range(5):
        tables = await conn.fetch(q("search_index_tables"))
        if tables[0]["index_valid"]:
            return built
        for table in tables:
            names = {"index": table["index_name"], "table": table["table_name"]}
            if table["partitioned"]:
                await conn.execute(_statement("create_partitioned_search_index", **names))
            elif not table["index_valid"]:
                await conn.execute(_statement("drop_index_concurrently", index=names["index"]))
                await conn.execute(_statement("create_partition_search_index", **names))
                built += 1
            if table["parent_index_name"]:
                await conn.execute(_statement("attach_search_index", parent_index=table["parent_index_name"],
                                              index=names["index"]))  # fmt: skip
    raise RuntimeError("the search index is still incomplete after five rounds over the partitions")


# A build waits for transactions older than it to end (CONCURRENTLY); one that waits longer
# than this is given up and tried again next cycle (its invalid leftover dropped first).
INDEX_BUILD_LOCK_TIMEOUT = "30s"
# Today's partial indexes are built again (with a later bound) once their bound is this old.
TODAY_INDEX_MIN_AGE = timedelta(minutes=30)
# ... and only once today holds this many rows before the new bound: fewer are read in a few
# milliseconds without them (bench/query.py: 0.15–0.45 µs per row scanned).
TODAY_INDEX_MIN_ROWS = 20_000


async def _closed_days_lacking_indexes(conn: asyncpg.Connection, today: date) -> list[asyncpg.Record]:
    """The tables of days before ``today`` that lack a valid query index, with their indexes'
    names and validity (``QUERY_INDEXES``' order), newest day first."""
    return await conn.fetch(q("closed_days_missing_query_indexes"), today,
                            [f"activity_logs_{level}" for level in LEVELS],
                            [suffix for suffix, _ in QUERY_INDEXES])  # fmt: skip


async def index_closed_days(conn: asyncpg.Connection, now: datetime, *, budget_s: float = 600.0) -> int:
    """Builds the query indexes closed days lack (``QUERY_INDEXES``), newest day first, each
    ``CONCURRENTLY``, starting no build after ``budget_s``; returns how many were built. A build
    that fails (a lock wait timed out, the server restarted) leaves an invalid index, which the
    next call drops and builds again."""
    started = time_now()
    rows = await _closed_days_lacking_indexes(conn, utc_day(now))
    built = 0
    await conn.execute(q("set_session_lock_timeout"), INDEX_BUILD_LOCK_TIMEOUT)
    try:
        for row in rows:
            for (_, template), index, valid in zip(QUERY_INDEXES, row["index_names"], row["index_valid"]):
                if valid:
                    continue
                if time_now() - started > budget_s:
                    return built
                await conn.execute(_statement("drop_index_concurrently", index=index))
                await conn.execute(_statement(template, index=index, table=row["table_name"]))
                built += 1
    finally:
        await conn.execute(q("reset_lock_timeout"))
    return built


async def index_today(conn: asyncpg.Connection, now: datetime, *, min_rows: int = TODAY_INDEX_MIN_ROWS) -> int:
    """Gives today's partitions the query indexes over the rows stamped before ``now`` (to the
    minute), each ``CONCURRENTLY``, once they hold ``min_rows``, then drops the partial indexes
    this set replaces: those of today with another bound, and those of closed days, whose whole
    indexes (``index_closed_days``) serve instead once valid. Returns how many were built.

    Each set reads the day so far, so hourly cycles build about 11.5 days' worth of indexes a day
    (bench/query.py: the set over a day of 400,000 rows took 7 s, so 80 s a day at that volume).
    A set left incomplete (a lock wait timed out) is not used, and the next cycle builds it
    again; the earlier set serves meanwhile."""
    today = utc_day(now)
    bound = now.astimezone(timezone.utc).replace(second=0, microsecond=0)
    tables = [day_table(level, today) for level in LEVELS]
    current = indexed_before(await conn.fetch(q("partial_query_indexes"), tables), today)
    built = 0
    await conn.execute(q("set_session_lock_timeout"), INDEX_BUILD_LOCK_TIMEOUT)
    try:
        due = bound > day_start(today) and (current is None or bound - current >= TODAY_INDEX_MIN_AGE)
        if due and await conn.fetchval(q("count_rows_between"), day_start(today), bound, min_rows) >= min_rows:
            for table in tables:
                for suffix, template in QUERY_INDEXES:
                    index = partial_index_name(table, suffix, bound)
                    await conn.execute(_statement("drop_index_concurrently", index=index))
                    await conn.execute(_statement(template, index=index, table=table, before=bound))
                    built += 1
            current = bound
        # A drop waits for the reads that may use the index to end.
        for index in await _replaced_partial_indexes(conn, today, current):
            await conn.execute(_statement("drop_index_concurrently", index=index))
    except asyncpg.LockNotAvailableError:
        log.info("today's query indexes: a build or drop waited too long for older transactions; trying again "
                 "next cycle")
    finally:
        await conn.execute(q("reset_lock_timeout"))
    return built


async def _replaced_partial_indexes(conn: asyncpg.Connection, today: date, current: datetime | None) -> list[str]:
    """Partial query indexes no longer needed: today's other than the set bounded at
    ``current``, and a closed day's once its whole indexes are valid."""
    tables = {day_table(level, today) for level in LEVELS}
    closed_days_lacking = {r["table_name"] for r in await _closed_days_lacking_indexes(conn, today)}
    replaced = []
    for record in await conn.fetch(q("partial_query_indexes"), None):
        parsed = partial_index_bound(record["index_name"])
        if parsed is None:
            continue
        table, _, index_bound = parsed
        if table in tables and index_bound != current or table not in tables and table not in closed_days_lacking:
            replaced.append(record["index_name"])
    return replaced
