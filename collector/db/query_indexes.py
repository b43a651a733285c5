"""The query indexes of the day partitions, by name: which exist for which day, and up to when
today's rows are covered (collector/partitions.py builds them; the repository's pages read
through them)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import asyncpg

from collector.contract import LEVELS
from collector.db.queries import q

# The query indexes of a day (index name suffix, template in queries.sql). A closed day gets them
# whole. Today's partitions get them partial, over the rows stamped before the last retention
# cycle (collector/partitions.py ``index_today``): ingest writes now-stamped rows, which fall
# outside, so it pays only the test of each index's predicate, not the upkeep that a whole index
# costs (measured per row of backend CPU, a GIN on the fields costs ingest about a quarter more,
# one on the message's words half as much again: docs/schema.md). Only the rows since that cycle
# are read without them.
QUERY_INDEXES = (
    ("fields_idx", "create_day_fields_index"),
    ("resource_idx", "create_day_resource_index"),
    ("words_idx", "create_day_words_index"),
    ("service_idx", "create_day_service_index"),
)
_PARTIAL_INDEX = re.compile(r"^(activity_logs_[a-z]+_([0-9]{8}))_([a-z]+)_to([0-9]{2})([0-9]{2})$")


def day_table(level: str, day: date) -> str:
    return f"activity_logs_{level}_{day:%Y%m%d}"


def partial_index_name(table: str, suffix: str, bound: datetime) -> str:
    """``activity_logs_info_20261129_fields_to1400``: a partial query index of today's table over
    the rows stamped before 14:00 UTC; the bound is read back from the name."""
    return f"{table}_{suffix.removesuffix('_idx')}_to{bound.astimezone(timezone.utc):%H%M}"


def partial_index_bound(index_name: str) -> tuple[str, str, datetime] | None:
    """(table, suffix, bound) of a partial query index's name."""
    match = _PARTIAL_INDEX.match(index_name)
    if match is None:
        return None
    table, day, kind, hour, minute = match.groups()
    start = datetime.strptime(day, "%Y%m%d").replace(tzinfo=timezone.utc)
    return table, f"{kind}_idx", start + timedelta(hours=int(hour), minutes=int(minute))


def indexed_before(records: list[asyncpg.Record], today: date) -> datetime | None:
    """The bound below which every one of today's tables has every query index valid: the
    earliest of their newest valid partial indexes; None while one lacks any."""
    newest: dict[tuple[str, str], datetime] = {}
    for record in records:
        parsed = partial_index_bound(record["index_name"])
        if parsed is None or not record["valid"]:
            continue
        table, suffix, bound = parsed
        if bound > newest.get((table, suffix), bound - timedelta(days=1)):
            newest[table, suffix] = bound
    wanted = [(day_table(level, today), suffix) for level in LEVELS for suffix, _ in QUERY_INDEXES]
    if any(key not in newest for key in wanted):
        return None
    return min(newest[key] for key in wanted)


def timestamp_literal(moment: datetime) -> str:
    """A SQL constant for an aware datetime (our own values only: never text from a client)."""
    if moment.tzinfo is None:
        raise ValueError("a timestamp constant needs a time zone")
    return f"'{moment.astimezone(timezone.utc).isoformat()}'::timestamptz"


async def today_indexed_before(conn: asyncpg.Connection, now: datetime) -> datetime | None:
    """Up to when the rows of the last days are covered by query indexes: the bound of today's
    partial indexes, or, before today has them, of yesterday's while its whole indexes are still
    to be built (they replace the partial ones, collector/partitions.py); None when neither is."""
    today = now.astimezone(timezone.utc).date()
    days = (today, today - timedelta(days=1))
    records = await conn.fetch(q("partial_query_indexes"), [day_table(level, day) for day in days for level in LEVELS])
    return indexed_before(records, days[0]) or indexed_before(records, days[1])
