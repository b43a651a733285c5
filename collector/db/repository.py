"""Reading and maintaining ``activity_logs`` and its settings.

Fixed statements live in ``queries.sql``; this module only assembles the WHERE clause of the
filtered reads, always with bound parameters, from a ``LogFilter`` and a ``Scope``.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, AsyncIterator, Sequence

import asyncpg

from collector import preview
from collector.contract import LEVEL_IDS, SOURCE_IDS, LogFilterFields, LogQuery
from collector.db.queries import q
from collector.db.query_indexes import timestamp_literal, today_indexed_before
from collector.db.query_sql import query_condition
from collector.errors import ConfigurationError
from collector.mapping import NAME_CHARS
from collector.model import ActivityRow
from collector.query import parse_query

_OTHER_COLUMNS = """
    l.category, l.entity_type, l.entity_id, l.user_id, l.job_id, l.project_id, l.trace_id, l.span_id,
    l.trace_flags, l.severity_number, l.severity_text, l.service_name, l.event_name, l.scope_name,
    l.scope_version, l.admin_only
"""
# Names cut as ingest cuts them (collector.mapping.NAME_CHARS), for entries stored before it did.
_VIEW_OTHER_COLUMNS = f"""
    l.category, left(l.entity_type, {NAME_CHARS}) AS entity_type, l.entity_id, l.user_id, l.job_id, l.project_id,
    l.trace_id, l.span_id, l.trace_flags, l.severity_number, left(l.severity_text, {NAME_CHARS}) AS severity_text,
    left(l.service_name, {NAME_CHARS}) AS service_name, left(l.event_name, {NAME_CHARS}) AS event_name,
    left(l.scope_name, {NAME_CHARS}) AS scope_name, left(l.scope_version, {NAME_CHARS}) AS scope_version, l.admin_only
"""
# Entries as stored: exports and GET /activity-logs/{id}.
SELECT_COLUMNS = f"""
    l.id, l.timestamp, lv.name AS level, src.name AS source, l.message, l.fields, l.resource, {_OTHER_COLUMNS}
"""
# Entries as list views show them, shortened in the database so that a page never carries (or
# makes this process hold) more than about 130 KiB per entry, however large the stored one:
# collector/preview.py has the rule and its Python twin for the live tail.
_BIG_MAP = f"octet_length({{column}}::text) > {preview.MAP_BYTES}"
VIEW_COLUMNS = f"""
    l.id, l.timestamp, lv.name AS level, src.name AS source,
    left(l.message, {preview.MESSAGE_CHARS}) AS message, char_length(l.message) AS message_length,
    CASE WHEN {_BIG_MAP.format(column="l.fields")} THEN activity_json_preview(l.fields) ELSE l.fields END AS fields,
    CASE WHEN {_BIG_MAP.format(column="l.resource")} THEN activity_json_preview(l.resource) ELSE l.resource END
        AS resource,
    (char_length(l.message) > {preview.MESSAGE_CHARS} OR {_BIG_MAP.format(column="l.fields")}
        OR {_BIG_MAP.format(column="l.resource")}) AS truncated,
    {_VIEW_OTHER_COLUMNS}
"""
FROM = """
    FROM activity_logs l
    JOIN activity_log_levels lv ON lv.id = l.level_id
    JOIN activity_log_sources src ON src.id = l.source_id
"""

SETTINGS_FIELDS = (
    "retention_days_debug", "retention_days_info", "retention_days_warn", "retention_days_error",
    "batch_size", "flush_interval_ms",
)  # fmt: skip


@dataclass
class LogFilter:
    """What a read selects; ``where_clause`` turns it into SQL. Clients describe one with the
    contract's ``LogFilterFields`` (``filter_from_fields``); the cursors are the API's own."""

    levels: Sequence[str] | None = None  # Level values
    sources: Sequence[str] | None = None  # Source values
    mode: str | None = None  # a Category value
    entity_type: str | None = None
    entity_id: int | None = None
    job_id: int | None = None
    user_id: int | None = None
    project_id: int | None = None
    trace_id: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    search: str | None = None  # case-insensitive substring of the message
    q: str | None = None  # a query (collector.query), parsed and checked by filter_from_fields
    before_id: int | None = None  # keyset: entries older than this one in (timestamp, id) order
    after_id: int | None = None  # entries committed after this id (live-tail resume)
    through_id: int | None = None  # entries with ids up to this one (a flush's range, with after_id)
    newer_than_id: int | None = None  # keyset: entries newer than this one in (timestamp, id) order


# The contract's filter fields (since/until: the REST time range), each a LogFilter field too.
_FILTER_FIELD_NAMES = frozenset(LogQuery.model_fields)


def filter_from_fields(fields: LogFilterFields, base: LogFilter | None = None, *, only_set: bool = False) -> LogFilter:
    """The filter a validated query string or live-tail message describes: its filter fields
    replace those of ``base`` (all of them, or with ``only_set`` those the client gave)."""
    values = fields.model_dump(include=_FILTER_FIELD_NAMES, exclude_unset=only_set)
    if values.get("q"):
        parse_query(values["q"])  # a QueryError (ValueError) names the position and what was expected
    return dataclasses.replace(base or LogFilter(), **values)


@dataclass
class Scope:
    """Who is reading. Admins see everything; a creator sees entries that are
    theirs, or of one of their projects, or system entries (neither user nor project). An entry
    carrying only a job id follows the job's project when the job is known. Entries marked
    ``admin_only`` (the server's own operational records) are never in a creator's scope."""

    is_admin: bool
    user_id: int | None = None
    project_ids: list[int] = field(default_factory=list)

    @classmethod
    def admin(cls) -> "Scope":
        return cls(is_admin=True)


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def where_clause(log_filter: LogFilter, scope: Scope, params: list[Any]) -> str:
    """The SQL condition for a filter and a scope; appends the bound values to ``params``."""

    def bind(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    conditions: list[str] = []
    f = log_filter
    # By id when the names are known: a condition on the joined lookup table's name hides the
    # selectivity from the planner, which then misjudges combined filters (bench/query.py:
    # level+source+mode first page 120 ms by name, 7 ms by id, on 1M rows).
    for names, ids, column, lookup in ((f.levels, LEVEL_IDS, "l.level_id", "lv.name"),
                                       (f.sources, SOURCE_IDS, "l.source_id", "src.name")):  # fmt: skip
        if not names:
            continue
        if all(name in ids for name in names):
            conditions.append(f"{column} = ANY({bind([ids[name] for name in names])}::smallint[])")
        else:
            conditions.append(f"{lookup} = ANY({bind(list(names))}::text[])")
    if f.mode:
        conditions.append(f"l.category = {bind(f.mode)}")
    for column in ("entity_type", "entity_id", "job_id", "user_id", "project_id", "trace_id"):
        value = getattr(f, column)
        if value is not None:
            conditions.append(f"l.{column} = {bind(value)}")
    if f.since is not None:
        conditions.append(f"l.timestamp >= {bind(f.since)}")
    if f.until is not None:
        conditions.append(f"l.timestamp < {bind(f.until)}")
    if f.search:
        conditions.append(f"l.message ILIKE {bind('%' + escape_like(f.search) + '%')}")
    if f.q:
        query = parse_query(f.q)
        if query is not None:
            conditions.append(query_condition(query, bind))
    if f.before_id is not None:
        ref = bind(f.before_id)
        conditions.append(f"(l.timestamp, l.id) < (SELECT b.timestamp, b.id FROM activity_logs b WHERE b.id = {ref})")
    if f.after_id is not None:
        conditions.append(f"l.id > {bind(f.after_id)}")
    if f.through_id is not None:
        conditions.append(f"l.id <= {bind(f.through_id)}")
    if f.newer_than_id is not None:
        ref = bind(f.newer_than_id)
        conditions.append(f"(l.timestamp, l.id) > (SELECT b.timestamp, b.id FROM activity_logs b WHERE b.id = {ref})")
    if not scope.is_admin:
        me, projects = bind(scope.user_id), bind(list(scope.project_ids))
        conditions.append(
            f"""NOT l.admin_only AND (l.user_id = {me} OR l.project_id = ANY({projects}::bigint[])
                OR (l.user_id IS NULL AND l.project_id IS NULL AND (l.job_id IS NULL OR NOT EXISTS (
                    SELECT 1 FROM jobs j WHERE j.id = l.job_id AND j.project_id IS NOT NULL
                    AND NOT j.project_id = ANY({projects}::bigint[])))))"""
        )
    return " AND ".join(conditions) or "TRUE"


def row_from_record(record: asyncpg.Record) -> ActivityRow:
    return ActivityRow(**dict(record))


def _order(log_filter: LogFilter, oldest_first: bool) -> str:
    if log_filter.after_id is not None:
        return "l.id ASC"
    return "l.timestamp ASC, l.id ASC" if oldest_first else "l.timestamp DESC, l.id DESC"


# With the optional trigram index (``activity-console search-index enable``), a search first walks
# the timestamp index for this long, which fills a page at once for any common word, then lets
# the index find the matches of a rare one instead of walking the whole table.
SEARCH_WALK_TIMEOUT_MS = 40
# How long a page with a query walks the timestamp index before the closed days' indexes are
# asked instead (bench/query.py: a value in one row in a thousand fills its page in about 70 ms).
QUERY_WALK_TIMEOUT_MS = 100
# How long a query's matches are looked for through the indexes, when nothing yet says whether
# they are few, before the walk (bench/query.py: a day's rare matches take 3–10 ms).
QUERY_GUESS_TIMEOUT_MS = 25


# A newest-first page without a recent lower time bound is first looked for in this last stretch
# of time: PostgreSQL then plans and opens only the partitions of the last day or two (a page
# over every partition took 8 ms to plan and start on ten million rows, 1.9 ms sliced).
RECENT_WINDOW = timedelta(days=1)
# Where a query's page cuts the time before the recent window: 2, then 4, then 8 more days, then
# the rest (bench/query.py: a value in one row in 100,000 fills its page within about a week).
QUERY_OLDER_STRETCHES = (timedelta(days=2), timedelta(days=6), timedelta(days=14))
# A query's first stretch, read without today's query indexes, reaches at least this far back:
# what it finds tells how common the query's matches are, and so how to look for them in the
# stretches after it (``_expected``).
QUERY_TAIL = timedelta(minutes=5)


def _recent_window_start(log_filter: LogFilter, oldest_first: bool, now: datetime) -> datetime | None:
    if oldest_first or log_filter.after_id is not None or log_filter.newer_than_id is not None:
        return None
    start = now - RECENT_WINDOW
    if log_filter.since is not None and log_filter.since >= start:
        return None  # already narrow
    if log_filter.until is not None and log_filter.until <= start:
        return None  # nothing in the window
    return start


async def _query_indexed_before(conn: asyncpg.Connection, log_filter: LogFilter) -> datetime | None:
    """For a read with a query (in id order: none), the bound of today's partial query indexes
    when it falls inside the read's time range."""
    if not log_filter.q or log_filter.after_id is not None:
        return None
    indexed = await today_indexed_before(conn, datetime.now(timezone.utc))
    if indexed is None or (log_filter.since is not None and indexed <= log_filter.since):
        return None
    if log_filter.until is not None and indexed >= log_filter.until:
        return None
    return indexed


def _expected(found: int, read: timedelta, stretch: _Stretch, now: datetime) -> float:
    """How many of a query's matches a stretch should hold, going by the ``found`` in the
    stretches read before it (over ``read``). Many (four times what the page still needs): it is
    walked newest first, which finds them soonest. Fewer: they are found through the indexes and
    sorted. PostgreSQL's own guess of a value's rarity comes from a sample of the rows and flips
    from one ANALYZE to the next for a value in one row in 100,000 (bench/query.py)."""
    if read <= timedelta(0):
        return 0.0
    length = stretch.length(now)
    return found * ((read if length is None else length) / read)


@dataclass(frozen=True)
class _Stretch:
    """A stretch of a page's time range, read on its own: [since, until); ``indexed_before`` when
    its rows of today are all covered by today's partial query indexes."""

    since: datetime | None
    until: datetime | None
    indexed_before: datetime | None = None

    def length(self, now: datetime) -> timedelta | None:
        """Its length, an open end counted to ``now``; None when it has no start."""
        return None if self.since is None else (self.until or now) - self.since


def _stretches(log_filter: LogFilter, cuts: list[datetime], indexed: datetime | None) -> list[_Stretch]:
    """The time range of a newest-first page cut at ``cuts`` (those inside it), newest stretch
    first; those that end by ``indexed``, the bound of today's query indexes, are marked."""
    inside = {cut for cut in cuts if (log_filter.since is None or cut > log_filter.since)
              and (log_filter.until is None or cut < log_filter.until)}  # fmt: skip
    edges = [log_filter.until, *sorted(inside, reverse=True), log_filter.since]
    return [_Stretch(since, until, indexed if indexed is not None and until is not None and until <= indexed else None)
            for until, since in zip(edges, edges[1:])]  # fmt: skip


async def query_logs(
    conn: asyncpg.Connection, log_filter: LogFilter, scope: Scope, *, limit: int = 25, offset: int = 0,
    oldest_first: bool = False, shortened: bool = True,
) -> list[ActivityRow]:
    """Newest first in (timestamp, id) order (oldest first with ``oldest_first``); with
    ``after_id``, oldest first in id (commit) order. Large entries come ``shortened`` for display
    (``VIEW_COLUMNS``) unless told otherwise.

    A newest-first page is read in stretches of its time range, newest first:
    every entry of a stretch is older than every entry of the ones before it, so the page is the
    first ``offset + limit`` entries of the stretches in turn. A page with an offset that the
    first stretch does not fill is read over the whole range instead."""
    now = datetime.now(timezone.utc)
    cuts: list[datetime] = []
    recent_start = _recent_window_start(log_filter, oldest_first, now)
    if recent_start is not None:
        cuts.append(recent_start)
    indexed = None
    if not oldest_first and log_filter.newer_than_id is None:
        # A query's rare terms are looked for through indexes: today's up to their bound (the
        # rows since are read without), and the older days' in growing stretches, as planning
        # a query over every day's indexes costs about a quarter of a millisecond per partition.
        indexed = await _query_indexed_before(conn, log_filter)
        if indexed is not None:
            cuts.append(min(indexed, now - QUERY_TAIL))
        if log_filter.q and recent_start is not None:
            cuts += [recent_start - older for older in QUERY_OLDER_STRETCHES]
    stretches = _stretches(log_filter, cuts, indexed)
    if len(stretches) > 1 and limit > 0:
        rows: list[ActivityRow] = []
        read = timedelta(0)
        number = 0
        while number < len(stretches):
            if number > 0 and offset > 0:
                break
            stretch, number = stretches[number], number + 1
            walk, first_ms = True, QUERY_WALK_TIMEOUT_MS
            if number > 1 and log_filter.q and log_filter.before_id is None:
                needed = limit - len(rows)
                # Matches too few to fill the page there, as a day's reading tells: read it with
                # the stretches after it, in one query rather than one for each.
                while (number < len(stretches) and read >= RECENT_WINDOW
                       and _expected(len(rows), read, stretch, now) < needed):
                    stretch, number = dataclasses.replace(stretch, since=stretches[number].since), number + 1
                walk = _expected(len(rows), read, stretch, now) >= 4 * needed
                # Few matches in the last minutes may be a lull in ingest rather than a rare
                # value: then the indexes get a short try before the walk.
                first_ms = QUERY_WALK_TIMEOUT_MS if walk or read >= RECENT_WINDOW else QUERY_GUESS_TIMEOUT_MS
            part = dataclasses.replace(log_filter, since=stretch.since, until=stretch.until)
            rows += await _query_page(conn, part, scope, limit=limit - len(rows), offset=offset, oldest_first=False,
                                      shortened=shortened, indexed_before=stretch.indexed_before, walk=walk,
                                      first_ms=first_ms)  # fmt: skip
            if len(rows) == limit:
                return rows
            read += stretch.length(now) or timedelta(0)
        if offset == 0:
            return rows
    return await _query_page(conn, log_filter, scope, limit=limit, offset=offset, oldest_first=oldest_first,
                             shortened=shortened)  # fmt: skip


async def _query_page(
    conn: asyncpg.Connection, log_filter: LogFilter, scope: Scope, *, limit: int, offset: int, oldest_first: bool,
    shortened: bool, indexed_before: datetime | None = None, walk: bool = True, first_ms: int = QUERY_WALK_TIMEOUT_MS,
) -> list[ActivityRow]:
    params: list[Any] = []
    where = where_clause(log_filter, scope, params)
    if indexed_before is not None:
        # The planner uses today's partial indexes once it proves the page's rows lie under
        # their bound: from a constant in any plan, from a parameter only in a plan made for its
        # value, which PostgreSQL may stop making for a prepared statement after its fifth run.
        where += f" AND l.timestamp < {timestamp_literal(indexed_before)}"
    order = _order(log_filter, oldest_first)
    columns = VIEW_COLUMNS if shortened else SELECT_COLUMNS
    limits = f"LIMIT ${len(params) + 1} OFFSET ${len(params) + 2}"
    tail = f"ORDER BY {order} {limits}"
    sql = f"SELECT {columns} {FROM} WHERE {where} {tail}"
    if log_filter.q and log_filter.after_id is None:
        # A query's terms may be rare. PostgreSQL cannot know how rare, and when it guesses
        # common it walks the timestamp index, expecting a page soon: quick for common values, a
        # walk over every row for a rare one (17 s on ten million rows). So the matches are
        # either walked for briefly (``walk``), or found through the indexes and sorted (an
        # order by an expression no index holds makes the planner start from them), the one
        # route taken at once and the other if the first runs past ``first_ms``.
        unindexed = order.replace("l.timestamp", "(l.timestamp + interval '0 s')")
        sorted_matches = f"SELECT {columns} {FROM} WHERE {where} ORDER BY {unindexed} {limits}"
        first, then = (sql, sorted_matches) if walk else (sorted_matches, sql)
        try:
            async with conn.transaction(readonly=True):
                await conn.execute(f"SET LOCAL statement_timeout = {int(first_ms)}")
                return [row_from_record(r) for r in await conn.fetch(first, *params, limit, offset)]
        except asyncpg.QueryCanceledError:
            pass
        return [row_from_record(r) for r in await conn.fetch(then, *params, limit, offset)]
    if not (log_filter.search and len(log_filter.search) >= 3 and await search_index_exists(conn)):
        return [row_from_record(r) for r in await conn.fetch(sql, *params, limit, offset)]
    try:
        async with conn.transaction(readonly=True):
            await conn.execute(f"SET LOCAL statement_timeout = {SEARCH_WALK_TIMEOUT_MS}")
            return [row_from_record(r) for r in await conn.fetch(sql, *params, limit, offset)]
    except asyncpg.QueryCanceledError:
        pass
    # A rare word: the trigram index finds its matches (materialised, so that the planner starts
    # from them), which are then filtered, scoped and ordered like any page.
    search = params.index("%" + escape_like(log_filter.search) + "%") + 1
    matched = f"""
        WITH matches AS MATERIALIZED (SELECT m.id FROM activity_logs m WHERE m.message ILIKE ${search})
        SELECT {columns} FROM matches
        JOIN activity_logs l ON l.id = matches.id
        JOIN activity_log_levels lv ON lv.id = l.level_id
        JOIN activity_log_sources src ON src.id = l.source_id
        WHERE {where} {tail}"""
    return [row_from_record(r) for r in await conn.fetch(matched, *params, limit, offset)]


async def search_index_exists(conn: asyncpg.Connection) -> bool:
    return await conn.fetchval(q("search_index_exists"))


async def count_logs(
    conn: asyncpg.Connection, log_filter: LogFilter, scope: Scope, *, cap: int | None = None,
    timeout_ms: int | None = None,
) -> int | None:
    """How many entries match; with ``cap``, counting stops there (the result is at most ``cap``),
    which bounds the cost of a total over millions of rows. With ``timeout_ms``, a count that
    would take longer (a rare combination or text search that no index serves) gives up and
    returns None rather than holding the page back."""
    params: list[Any] = []
    where = where_clause(log_filter, scope, params)
    parts = [where]
    indexed = await _query_indexed_before(conn, log_filter)
    if indexed is not None:
        # Apart, either side of today's partial indexes' bound, so that those serve the rows
        # before it (see _query_page).
        bound = timestamp_literal(indexed)
        parts = [f"{where} AND l.timestamp >= {bound}", f"{where} AND l.timestamp < {bound}"]
    if cap is None:
        sql = "SELECT " + " + ".join(f"(SELECT count(*) {FROM} WHERE {part})" for part in parts)
    else:
        params.append(cap)
        limit = f"${len(params)}"
        counts = " + ".join(f"(SELECT count(*) FROM (SELECT 1 {FROM} WHERE {part} LIMIT {limit}) capped)"
                            for part in parts)  # fmt: skip
        sql = f"SELECT least({counts}, {limit})"
    if timeout_ms is None:
        return await conn.fetchval(sql, *params)
    try:
        async with conn.transaction(readonly=True):
            await conn.execute(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
            return await conn.fetchval(sql, *params)
    except asyncpg.QueryCanceledError:
        return None


async def estimate_logs(conn: asyncpg.Connection, log_filter: LogFilter, scope: Scope) -> int:
    """The planner's guess of how many entries match (reads no rows: milliseconds on any table),
    for when an exact count would take too long. Rough: off by a factor for rare combinations."""
    params: list[Any] = []
    where = where_clause(log_filter, scope, params)
    plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) SELECT 1 {FROM} WHERE {where}", *params)
    document = json.loads(plan) if isinstance(plan, str) else plan
    return max(0, int(document[0]["Plan"]["Plan Rows"]))


async def get_log(
    conn: asyncpg.Connection, log_id: int, scope: Scope, *, shortened: bool = False
) -> ActivityRow | None:
    """One entry by id, whole unless ``shortened``; None when it does not exist or is outside ``scope``."""
    params: list[Any] = []
    where = where_clause(LogFilter(), scope, params)
    columns = VIEW_COLUMNS if shortened else SELECT_COLUMNS
    sql = f"SELECT {columns} {FROM} WHERE l.id = ${len(params) + 1} AND {where}"
    record = await conn.fetchrow(sql, *params, log_id)
    return row_from_record(record) if record is not None else None


async def context_logs(
    conn: asyncpg.Connection, anchor_id: int, log_filter: LogFilter, scope: Scope, *, before: int, after: int
) -> tuple[list[ActivityRow], list[ActivityRow]]:
    """Up to ``before`` entries just older and ``after`` just newer than the anchor, both oldest
    first, among those matching the filter and scope."""
    older: list[ActivityRow] = []
    newer: list[ActivityRow] = []
    base = {k: v for k, v in vars(log_filter).items() if k not in ("before_id", "after_id", "newer_than_id")}
    if before:
        older = await query_logs(conn, LogFilter(**base, before_id=anchor_id), scope, limit=before)
        older.reverse()
    if after:
        newer = await query_logs(conn, LogFilter(**base, newer_than_id=anchor_id), scope, limit=after, oldest_first=True)
    return older, newer


async def iter_logs(
    conn: asyncpg.Connection, log_filter: LogFilter, scope: Scope, *, prefetch: int = 1000
) -> AsyncIterator[ActivityRow]:
    """Every matching entry, oldest first, read through a server-side cursor ``prefetch`` rows at
    a time inside one read-only transaction: constant memory for any result size. Close the
    generator (``contextlib.aclosing``) when stopping early, so the transaction ends at once."""
    params: list[Any] = []
    where = where_clause(log_filter, scope, params)
    sql = f"SELECT {SELECT_COLUMNS} {FROM} WHERE {where} ORDER BY {_order(log_filter, True)}"
    async with conn.transaction(readonly=True):
        async for record in conn.cursor(sql, *params, prefetch=prefetch):
            yield row_from_record(record)


async def histogram(
    conn: asyncpg.Connection, log_filter: LogFilter, scope: Scope, *, since: datetime, until: datetime, buckets: int
) -> list[tuple[int, str, int]]:
    """(bucket index 0..buckets-1, level, count) for the entries in [since, until), the range cut
    into ``buckets`` equal parts. Buckets and levels without entries are absent."""
    ranged = LogFilter(**{**vars(log_filter), "since": since, "until": until})
    params: list[Any] = []
    where = where_clause(ranged, scope, params)
    start, end, count = (f"${len(params) + i}" for i in (1, 2, 3))
    sql = f"""
        SELECT width_bucket(extract(epoch FROM l.timestamp)::float8, {start}::float8, {end}::float8, {count}::int) - 1
                   AS bucket,
               lv.name AS level, count(*) AS entries
        {FROM} WHERE {where} GROUP BY 1, 2 ORDER BY 1, 2"""
    rows = await conn.fetch(sql, *params, since.timestamp(), until.timestamp(), buckets)
    return [(r["bucket"], r["level"], r["entries"]) for r in rows if 0 <= r["bucket"] < buckets]


async def time_bounds(
    conn: asyncpg.Connection, log_filter: LogFilter, scope: Scope
) -> tuple[datetime | None, datetime | None]:
    """The timestamps of the oldest and the newest entry matching the filter and scope (both
    ``None`` when none matches): the range an open-ended history view actually shows. Each end is
    its own ``ORDER BY … LIMIT 1`` so the planner can walk the timestamp index from that end."""
    params: list[Any] = []
    where = where_clause(log_filter, scope, params)
    sql = f"""
        SELECT (SELECT l.timestamp {FROM} WHERE {where} ORDER BY l.timestamp ASC LIMIT 1) AS oldest,
               (SELECT l.timestamp {FROM} WHERE {where} ORDER BY l.timestamp DESC LIMIT 1) AS newest"""
    row = await conn.fetchrow(sql, *params)
    return (row["oldest"], row["newest"]) if row is not None else (None, None)


async def delete_older_than(conn: asyncpg.Connection, level: str, cutoff: datetime, *, chunk: int = 10_000) -> int:
    """Delete a level's entries older than ``cutoff`` row by row, in chunks, each its own short
    transaction, so that retention never holds locks long enough to stall ingest. Purges drop
    whole days first (``collector.partitions.purge_older_than``) and leave this the rest."""
    total = 0
    while True:
        deleted = await conn.fetchval(q("delete_activity_logs_chunk"), LEVEL_IDS[level], cutoff, chunk)
        total += deleted
        if deleted < chunk:
            return total


async def prune_ingest_requests(conn: asyncpg.Connection, floor: uuid.UUID, *, chunk: int = 10_000) -> int:
    """Forget the ids of requests accepted before ``floor`` (collector/delivery.py), in chunks."""
    total = 0
    while True:
        deleted = await conn.fetchval(q("prune_ingest_requests"), floor, chunk)
        total += deleted
        if deleted < chunk:
            return total


async def get_settings(conn: asyncpg.Connection) -> dict[str, Any]:
    """The settings row (the migrations create it, with the defaults)."""
    row = await conn.fetchrow(q("get_settings"))
    if row is None:
        raise _settings_row_missing()
    return dict(row)


async def update_settings(conn: asyncpg.Connection, changes: dict[str, int]) -> dict[str, Any]:
    """Partial update of the singleton; unknown keys are a programming error."""
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
    values = [changes.get(name) for name in SETTINGS_FIELDS]
    row = await conn.fetchrow(q("update_settings"), *values)
    if row is None:
        raise _settings_row_missing()
    return dict(row)


def _settings_row_missing() -> ConfigurationError:
    # Its defaults are declared once, in the migration that creates it: no copy of them here.
    return ConfigurationError("the activity_log_settings row is missing (the migrations create it); "
                              "restore the defaults with: INSERT INTO activity_log_settings (id) VALUES (1)")  # fmt: skip


async def list_log_keys(conn: asyncpg.Connection, scope: Scope, *, prefix: str | None, limit: int) -> list[asyncpg.Record]:
    """The key catalogue's keys ``scope`` may see (``collector.key_catalogue`` buckets), most
    recently seen first."""
    return await conn.fetch(q("list_log_keys"), scope.is_admin, list(scope.project_ids), prefix, limit)


async def expire_log_keys(conn: asyncpg.Connection, before: datetime) -> int:
    status = await conn.execute(q("expire_log_keys"), before)
    return int(status.split()[-1])


# --- facets ------------------------------------------------------------------------------------

# What a built-in facet counts, over the matched rows ``m`` (as jsonb, so that values keep their
# type). Attribute facets read ``m.fields -> key`` or ``m.resource -> key``, the key bound.
_FACET_COLUMNS = {
    "level": "to_jsonb(m.level)", "source": "to_jsonb(m.source)", "service": "to_jsonb(m.service_name)",
    "category": "to_jsonb(m.category)", "project": "to_jsonb(m.project_id)", "user": "to_jsonb(m.user_id)",
    "job": "to_jsonb(m.job_id)", "entity": "to_jsonb(m.entity_type)",
}  # fmt: skip
# Only scalars are counted, and strings up to this many characters: a facet lists values to click.
FACET_VALUE_CHARS = 200


@dataclass(frozen=True)
class Facet:
    """A facet: a built-in name (``_FACET_COLUMNS``), or an attribute of the record
    (``where="field"``) or of the resource (``where="resource"``) by its key."""

    name: str
    where: str = "builtin"
    key: str = ""


@dataclass
class FacetTally:
    counts: dict[str, list[tuple[str, int]]]  # by facet: its top values (JSON text) with their counts
    distinct: dict[str, int]  # by facet: how many distinct values were counted
    rows: int  # entries counted


async def facets(
    conn: asyncpg.Connection, log_filter: LogFilter, scope: Scope, wanted: Sequence[Facet], *, top: int, max_rows: int
) -> FacetTally:
    """The ``top`` values of each facet with their counts (most frequent first, then by value)
    and the number of its distinct values, over the newest ``max_rows`` entries that match, and
    how many entries were counted (``max_rows`` when the match holds more: the counts are then
    those of the newest). One pass over the matched rows, whatever the number of facets."""
    params: list[Any] = []
    where = where_clause(log_filter, scope, params)

    def bind(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    expressions = []
    for facet in wanted:
        if facet.where == "builtin":
            expressions.append(_FACET_COLUMNS[facet.name])
        else:
            column = "m.fields" if facet.where == "field" else "m.resource"
            expressions.append(f"{column} -> {bind(facet.key)}::text")
    values = ", ".join(f"({index}, {expression})" for index, expression in enumerate(expressions))
    limit, top_ = bind(max_rows), bind(top)
    sql = f"""
        WITH matched AS (
            SELECT lv.name AS level, src.name AS source, l.service_name, l.category, l.project_id, l.user_id,
                   l.job_id, l.entity_type, l.fields, l.resource
            {FROM} WHERE {where} ORDER BY l.timestamp DESC LIMIT {limit}
        ), counted AS (
            SELECT x.facet, x.value, count(*) AS n
            FROM matched m, LATERAL (VALUES {values}) AS x(facet, value)
            WHERE jsonb_typeof(x.value) IN ('number', 'boolean')
               OR (jsonb_typeof(x.value) = 'string' AND char_length(x.value #>> '{{}}') <= {FACET_VALUE_CHARS})
            GROUP BY 1, 2
        ), ranked AS (
            SELECT facet, value, n, row_number() OVER (PARTITION BY facet ORDER BY n DESC, value) AS rank,
                   count(*) OVER (PARTITION BY facet) AS distinct_values
            FROM counted
        )
        SELECT facet, value::text AS value, n, distinct_values FROM ranked WHERE rank <= {top_}
        UNION ALL SELECT -1, NULL, (SELECT count(*) FROM matched), NULL
        ORDER BY 1, 3 DESC, 2"""
    tally = FacetTally({facet.name: [] for facet in wanted}, dict.fromkeys((facet.name for facet in wanted), 0), 0)
    for record in await conn.fetch(sql, *params):
        if record["facet"] < 0:
            tally.rows = record["n"]
        else:
            name = wanted[record["facet"]].name
            tally.counts[name].append((record["value"], record["n"]))
            tally.distinct[name] = record["distinct_values"]
    return tally
