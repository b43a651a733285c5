"""activity_logs partitioned by level and day (migration 0007, collector/partitions.py): the
migration converts a populated table and every read gives what it gave before; back-filled and
future timestamps are stored and get their days; retention and purges drop whole days (seen in
the catalog, the space returned) and count exactly, also when a reader holds a day."""

from __future__ import annotations

import re
import shutil
from datetime import date, datetime, timedelta, timezone

import asyncpg
import pytest

from api.retention import RetentionJob
from collector import partitions
from collector.db import migrate, query_indexes, repository
from collector.db.connect import connect, create_pool
from collector.db.queries import q
from collector.db.query_sql import query_condition
from collector.db.repository import LogFilter, Scope, count_logs, histogram, query_logs, update_settings
from collector.hub import LiveHub
from collector.model import LEVELS, ActivityRow
from collector.query import parse_query
from collector.writer import BatchWriter

pytestmark = pytest.mark.timeout(120)

NOW = datetime.now(timezone.utc).replace(microsecond=0)

# Ten days of entries, every level, source and category, with users, projects, jobs (one of a
# foreign project, one unknown), entities, traces and words to search for.
POPULATE = """
INSERT INTO projects (id, name) VALUES (9, 'mine'), (10, 'foreign');
INSERT INTO jobs (id, project_id, name) VALUES (5, 9, 'mine'), (6, 10, 'foreign');
INSERT INTO activity_logs (timestamp, level_id, source_id, message, category, entity_type, entity_id,
                           user_id, job_id, project_id, trace_id, admin_only, fields)
SELECT $1::timestamptz - g * interval '17 minutes 13 seconds',
       1 + g % 4, 1 + (g / 4) % 5,
       CASE WHEN g % 97 = 0 THEN 'rare OutOfMemory ' || g ELSE 'frame ' || g || ' done' END,
       CASE WHEN g % 3 = 0 THEN 'curated' ELSE 'verbose' END,
       CASE WHEN g % 11 = 0 THEN 'scene' END, CASE WHEN g % 11 = 0 THEN g % 3 END,
       CASE WHEN g % 7 = 0 THEN 2 WHEN g % 7 = 1 THEN 3 END,
       CASE WHEN g % 13 = 0 THEN 5 WHEN g % 13 = 1 THEN 6 WHEN g % 13 = 2 THEN 77 END,
       CASE WHEN g % 5 = 0 THEN 9 WHEN g % 5 = 1 THEN 10 END,
       CASE WHEN g % 50 < 3 THEN lpad(to_hex(g / 50), 32, '0') END,
       g % 41 = 0, jsonb_build_object('n', g)
FROM generate_series(0, $2) g
"""
ROWS = 836  # 10 days at one entry every 17 min 13 s

SCOPES = [Scope.admin(), Scope(is_admin=False, user_id=2, project_ids=[9]), Scope(is_admin=False, user_id=3)]


def filters(anchor_id: int) -> list[LogFilter]:
    return [
        LogFilter(), LogFilter(levels=["warn", "error"]), LogFilter(sources=["comfyui", "agent"]),
        LogFilter(mode="curated"), LogFilter(entity_type="scene", entity_id=1), LogFilter(job_id=5),
        LogFilter(user_id=2), LogFilter(project_id=10), LogFilter(trace_id=f"{3:032x}"),
        LogFilter(since=NOW - timedelta(days=6), until=NOW - timedelta(days=2, hours=5)),
        LogFilter(search="outofmemory"), LogFilter(before_id=anchor_id), LogFilter(after_id=anchor_id),
        LogFilter(newer_than_id=anchor_id), LogFilter(levels=["info"], since=NOW - timedelta(days=3), mode="verbose"),
    ]  # fmt: skip


async def reads(conn: asyncpg.Connection, anchor_id: int) -> list:
    """What every filter under every scope answers: pages both ways, counts and a histogram."""
    answers = []
    for scope in SCOPES:
        for log_filter in filters(anchor_id):
            newest = await query_logs(conn, log_filter, scope, limit=40)
            oldest = await query_logs(conn, log_filter, scope, limit=40, oldest_first=True)
            answers.append(([r.id for r in newest], [r.id for r in oldest], await count_logs(conn, log_filter, scope),
                            await histogram(conn, log_filter, scope, since=NOW - timedelta(days=11), until=NOW,
                                            buckets=30)))  # fmt: skip
    return answers


async def test_the_migration_converts_a_populated_table_and_every_read_agrees(empty_database, tmp_path):
    for source in migrate.discover():
        if source.version < 7:
            shutil.copy(migrate.MIGRATIONS_DIR / f"{source.version:04d}_{source.name}.sql", tmp_path)
    conn = await connect(empty_database)
    try:
        assert [m.version for m in await migrate.apply(conn, tmp_path)] == [1, 2, 3, 4, 5, 6]
        *setup, populate = POPULATE.split(";")
        await conn.execute(";".join(setup))
        await conn.execute(populate, NOW, ROWS - 1)
        anchor_id = await conn.fetchval("SELECT id FROM activity_logs ORDER BY id OFFSET $1 LIMIT 1", ROWS // 2)
        stored_before = [dict(r) for r in await conn.fetch("SELECT * FROM activity_logs ORDER BY id")]
        answers_before = await reads(conn, anchor_id)
        assert not await conn.fetchval("SELECT relkind = 'p' FROM pg_class WHERE oid = 'activity_logs'::regclass")

        assert [m.version for m in await migrate.apply(conn)] == [m.version for m in migrate.discover() if m.version >= 7]

        assert await conn.fetchval("SELECT relkind = 'p' FROM pg_class WHERE oid = 'activity_logs'::regclass")
        assert [dict(r) for r in await conn.fetch("SELECT * FROM activity_logs ORDER BY id")] == stored_before
        assert await reads(conn, anchor_id) == answers_before
        # Every row sits in its level's partition for its UTC day; none was left in a default.
        placed = await conn.fetch("""
            SELECT DISTINCT l.tableoid::regclass::text AS part, lv.name AS level,
                   (l.timestamp AT TIME ZONE 'UTC')::date AS day
            FROM activity_logs l JOIN activity_log_levels lv ON lv.id = l.level_id""")
        assert len(placed) >= 40
        assert all(r["part"] == f"activity_logs_{r['level']}_{r['day']:%Y%m%d}" for r in placed)
        # The sequence moved with the table and goes on above every id.
        assert await conn.fetchval("SELECT nextval('activity_logs_id_seq')") > stored_before[-1]["id"]
        assert await conn.fetchval(
            "SELECT count(*) FROM pg_depend WHERE objid = 'activity_logs_id_seq'::regclass "
            "AND refobjid = 'activity_logs'::regclass AND deptype = 'a'") == 1  # fmt: skip
    finally:
        await conn.close()


def entry(message: str, level: str, at: datetime) -> ActivityRow:
    return ActivityRow(timestamp=at, level=level, source="worker", message=message)


async def partition_of(db, message: str) -> str:
    return await db.fetchval("SELECT tableoid::regclass::text FROM activity_logs WHERE message = $1", message)


async def test_back_filled_and_future_entries_are_stored_and_get_their_days(database_url, db):
    pool = await create_pool(database_url)
    writer = BatchWriter(pool, LiveHub(), flush_interval=0.01)
    await writer.start()
    try:
        old_info = entry("three weeks ago", "info", NOW - timedelta(days=21))
        old_debug = entry("debug three weeks ago", "debug", NOW - timedelta(days=21))
        far = entry("ten days ahead", "warn", NOW + timedelta(days=10))
        year_one = entry("from the year 1", "error", datetime(1, 1, 1, tzinfo=timezone.utc))
        result = await writer.submit([old_info, old_debug, far, year_one, entry("now", "error", NOW)])
        assert (result.accepted, result.rejected) == (5, 0)
        # Stored at once, in the defaults: no partition covered them.
        assert await partition_of(db, "three weeks ago") == "activity_logs_info_other"
        assert await partition_of(db, "ten days ahead") == "activity_logs_warn_other"
        assert await partition_of(db, "from the year 1") == "activity_logs_error_other"
        assert await partition_of(db, "now") == f"activity_logs_error_{NOW:%Y%m%d}"

        job = RetentionJob(pool, None, 3600)
        purged = await job.run_once(now=NOW)
    finally:
        await writer.close()
        await pool.close()
    # Within info's 30 days: a day of its own, the row moved. Past debug's 7 and error's 90 days:
    # deleted. Beyond the days made ahead: still in the default, until its day comes near.
    assert await partition_of(db, "three weeks ago") == f"activity_logs_info_{NOW - timedelta(days=21):%Y%m%d}"
    assert await partition_of(db, "debug three weeks ago") is None
    assert await partition_of(db, "from the year 1") is None
    assert await partition_of(db, "ten days ahead") == "activity_logs_warn_other"
    assert purged == {"debug": 1, "info": 0, "warn": 0, "error": 1}
    assert await count_logs(db, LogFilter(), Scope.admin()) == 3
    assert job.days_created >= 1


async def day_tables(db) -> set[str]:
    rows = await db.fetch("SELECT relname FROM pg_class WHERE relname ~ '^activity_logs_[a-z]+_[0-9]{8}$'")
    return {r["relname"] for r in rows}


async def tree_bytes(db) -> int:
    return await db.fetchval("SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('activity_logs')")


async def test_retention_drops_whole_days_counts_exactly_and_frees_the_space(database_url, db):
    # The days made ahead, as a running server makes them.
    await partitions.create_days(db, [(NOW - timedelta(days=n)).date() for n in range(11)])
    await db.execute(POPULATE.split(";")[-1].replace("17 minutes 13 seconds", "3 seconds") + " ",
                     NOW, 10 * 86400 // 3)  # fmt: skip
    retention = {"debug": 5, "info": 5, "warn": 5, "error": 7}
    await update_settings(db, {f"retention_days_{level}": days for level, days in retention.items()})
    expired = {
        level: await db.fetchval(
            "SELECT count(*) FROM activity_logs l JOIN activity_log_levels lv ON lv.id = l.level_id "
            "WHERE lv.name = $1 AND l.timestamp < $2", level, NOW - timedelta(days=days))
        for level, days in retention.items()
    }  # fmt: skip
    pool = await create_pool(database_url)
    try:
        job = RetentionJob(pool, None, 3600)
        job.index_budget_s = -1  # no closed-day index builds: their bytes would blur the space measured
        before, tables_before = await tree_bytes(db), await day_tables(db)
        sizes = {r["relname"]: r["bytes"] for r in await db.fetch(
            "SELECT relname, pg_total_relation_size(oid) AS bytes FROM pg_class WHERE relname = ANY($1)",
            list(tables_before))}  # fmt: skip
        purged = await job.run_once(now=NOW)
    finally:
        await pool.close()
    assert purged == expired and all(expired.values())
    gone = tables_before - await day_tables(db)
    cutoff_day = {level: (NOW - timedelta(days=days)).date() for level, days in retention.items()}
    assert gone == {name for name in tables_before
                    if date(*map(int, (name[-8:-4], name[-4:-2], name[-2:]))) < cutoff_day[name.split("_")[2]]}
    assert job.days_dropped == len(gone) >= 4 * 4  # fmt: skip
    # The dropped days' space is gone (give or take the days made ahead meanwhile), not merely
    # marked free: most of the table, as the cutoff's own day is only partly deleted.
    after = await tree_bytes(db)
    assert after <= before - sum(sizes[name] for name in gone) + 1024 * 1024
    assert after <= before * 7 / 10
    assert await count_logs(db, LogFilter(since=NOW - timedelta(days=4)), Scope.admin()) > 0


async def test_a_day_that_a_reader_holds_is_deleted_row_by_row(database_url, db):
    await db.execute(POPULATE.split(";")[-1], NOW, ROWS - 1)
    await partitions.ensure_days(db, NOW, dict.fromkeys(LEVELS, 30))
    held_day = (NOW - timedelta(days=8)).date()
    held = f"activity_logs_info_{held_day:%Y%m%d}"
    rows_held = await db.fetchval(f"SELECT count(*) FROM {held}")
    assert rows_held > 0
    reader = await connect(database_url)
    try:
        transaction = reader.transaction()
        await transaction.start()
        await reader.fetchval(f"SELECT count(*) FROM {held}")  # holds its lock until the end
        cutoff = NOW - timedelta(days=6)
        expected = await db.fetchval("SELECT count(*) FROM activity_logs WHERE level_id = 2 AND timestamp < $1", cutoff)
        result = await partitions.purge_older_than(db, "info", cutoff)
        assert result.rows == expected
        assert held in await day_tables(db)  # not dropped, but emptied
        assert await db.fetchval(f"SELECT count(*) FROM {held}") == 0
        await transaction.rollback()
    finally:
        await reader.close()
    assert await db.fetchval("SELECT count(*) FROM activity_logs WHERE level_id = 2 AND timestamp < $1", cutoff) == 0


async def page_of_the_whole_range(db, log_filter: LogFilter, scope: Scope, offset: int) -> list[ActivityRow]:
    """A newest-first page as query_logs reads it (in stretches), checked against the page one
    read over the whole range gives."""
    page = await query_logs(db, log_filter, scope, limit=25, offset=offset)
    whole = await repository._query_page(db, log_filter, scope, limit=25, offset=offset, oldest_first=False,
                                         shortened=True)  # fmt: skip
    assert [r.id for r in page] == [r.id for r in whole], (log_filter, scope, offset)
    return page


async def test_a_page_read_from_the_recent_window_is_the_page_of_the_whole_range(db):
    """query_logs reads newest-first pages from the last day first (fewer partitions to plan);
    whether the window fills the page or not, the page is the one the whole range gives."""
    *setup, populate = POPULATE.split(";")
    await db.execute(";".join(setup))
    await db.execute(populate, NOW + timedelta(hours=3), ROWS - 1)  # some entries stamped ahead
    anchor_id = await db.fetchval("SELECT id FROM activity_logs ORDER BY timestamp DESC OFFSET 30 LIMIT 1")
    checked = 0
    for scope in SCOPES:
        for log_filter in filters(anchor_id):
            for offset in (0, 40, 70, 200):
                checked += bool(await page_of_the_whole_range(db, log_filter, scope, offset))
    assert checked > 100


async def test_a_time_range_reads_only_its_days(db):
    """PostgreSQL prunes: a day's range, filtered or scoped, plans only that day's partitions (not
    even the defaults, as the day's partitions cover the range), a level filter only that level's."""
    await partitions.create_days(db, [(NOW - timedelta(days=n)).date() for n in range(11)])
    day = (NOW - timedelta(days=5)).date()
    since = partitions.day_start(day) + timedelta(hours=2)
    cases = [
        (LogFilter(since=since, until=since + timedelta(hours=3)), Scope.admin(), set(LEVELS)),
        (LogFilter(since=since, until=since + timedelta(hours=3), levels=["error"]), SCOPES[1], {"error"}),
        (LogFilter(since=since, until=since + timedelta(hours=3), search="frame", job_id=5), SCOPES[2], set(LEVELS)),
    ]
    for log_filter, scope, levels in cases:
        params: list = []
        where = repository.where_clause(log_filter, scope, params)
        plan = await db.fetchval(f"EXPLAIN (FORMAT JSON) SELECT l.id {repository.FROM} WHERE {where} "
                                 "ORDER BY l.timestamp DESC, l.id DESC LIMIT 25", *params)  # fmt: skip
        scanned = set(re.findall(r'"Relation Name": "(activity_logs_[a-z0-9_]+)"', plan))
        assert scanned == {f"activity_logs_{level}_{day:%Y%m%d}" for level in levels}, (log_filter, scanned)


async def test_timestamps_spread_over_years_cannot_make_tables_without_bound(database_url, db):
    """An attacker with an ingest token stamps entries on thousands of different days, past and
    future: they are stored, but partitions are made only for days within each level's retention
    (and the few ahead); the rest stays in the defaults or is deleted as expired."""
    pool = await create_pool(database_url)
    writer = BatchWriter(pool, LiveHub(), flush_interval=0.01)
    await writer.start()
    try:
        rows = [entry(f"day {n}", LEVELS[n % 4], NOW + timedelta(days=n, hours=n % 24)) for n in range(-3000, 3000, 3)]
        result = await writer.submit(rows)
        assert (result.accepted, result.rejected) == (len(rows), 0)
        await RetentionJob(pool, None, 3600).run_once(now=NOW)
    finally:
        await writer.close()
        await pool.close()
    retention = {"debug": 7, "info": 30, "warn": 30, "error": 90}  # the defaults
    tables = await day_tables(db)
    assert len(tables) <= sum(days + partitions.AHEAD_DAYS + 2 for days in retention.values())
    # What was not expired is kept, wherever it sits.
    kept = await count_logs(db, LogFilter(), Scope.admin())
    assert kept == sum(1 for r in rows if r.timestamp >= NOW - timedelta(days=retention[r.level]))


async def closed_day_indexes(db) -> dict[str, bool]:
    rows = await db.fetch("""SELECT c.relname, x.indisvalid FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
                             WHERE c.relname ~ '^activity_logs_[a-z]+_[0-9]{8}_(fields|resource|words|service)_idx$'""")
    return {r["relname"]: r["indisvalid"] for r in rows}


async def test_closed_days_get_the_query_indexes_and_today_none(db):
    """Past days' partitions get the fields, resource, words and service indexes (valid), today's
    and later ones none, so ingest into today pays no upkeep for them; a second call builds
    nothing; an invalid leftover (an interrupted build) is replaced; the budget stops new builds."""
    days = [(NOW + timedelta(days=n)).date() for n in range(-2, 2)]
    await partitions.create_days(db, days)
    await db.execute(POPULATE.split(";", 2)[2], NOW, 300)  # the entries, without the projects and jobs
    assert await partitions.index_closed_days(db, NOW, budget_s=0) == 0  # the budget spent before any build
    built = await partitions.index_closed_days(db, NOW)
    indexes = await closed_day_indexes(db)
    closed = [day for day in days if day < NOW.date()]
    expected = {f"activity_logs_{level}_{day:%Y%m%d}_{kind}_idx" for level in LEVELS for day in closed
                for kind in ("fields", "resource", "words", "service")}  # fmt: skip
    assert set(indexes) == expected and all(indexes.values())
    assert built == len(expected)
    assert await partitions.index_closed_days(db, NOW) == 0
    # What a CONCURRENTLY build interrupted leaves behind: an invalid index, dropped and rebuilt.
    victim = sorted(expected)[0]
    await db.execute(f"UPDATE pg_index SET indisvalid = false WHERE indexrelid = '{victim}'::regclass")
    assert await partitions.index_closed_days(db, NOW) == 1
    assert (await closed_day_indexes(db))[victim] is True
    # The indexes serve the query language's terms as it compiles them: a field, a resource
    # attribute, a word and the service, each read through its index on a closed day.
    day = closed[0]
    table = f"activity_logs_info_{day:%Y%m%d}"
    await db.execute(f"ANALYZE {table}")
    await db.execute("SET enable_seqscan = off")
    try:
        for text, index in (("n:7", "fields"), ("resource.host.name:h1", "resource"), ("OutOfMemory", "words"),
                            ("service:render-worker", "service")):  # fmt: skip
            params: list = []
            condition = query_condition(parse_query(text), lambda value: params.append(value) or f"${len(params)}")
            plan = await db.fetchval(f"EXPLAIN (FORMAT JSON) SELECT l.id FROM {table} l WHERE {condition}", *params)
            assert f"{table}_{index}_idx" in plan, (text, plan)
    finally:
        await db.execute("RESET enable_seqscan")


async def partial_indexes(db) -> dict[str, bool]:
    return {r["index_name"]: r["valid"] for r in await db.fetch(q("partial_query_indexes"), None)}


async def test_today_gets_partial_query_indexes_up_to_each_cycle(db):
    """Today's partitions get the four query indexes over the rows stamped before the cycle (to
    the minute), which ingest's now-stamped rows fall outside; a cycle within
    TODAY_INDEX_MIN_AGE builds nothing, a later one builds a new set and drops the old one; an
    incomplete set is not used and is built again; a closed day's set goes once the day's whole
    indexes are valid."""
    today = NOW.date()
    await partitions.create_days(db, [today - timedelta(days=1), today])
    await db.execute(POPULATE.split(";", 2)[2], NOW + timedelta(hours=3), 300)
    now = max(NOW, partitions.day_start(today) + timedelta(minutes=5))
    bound = now.replace(second=0)
    tables = [f"activity_logs_{level}_{today:%Y%m%d}" for level in LEVELS]
    expected = {f"{table}_{kind}_to{bound:%H%M}" for table in tables for kind in ("fields", "resource", "words", "service")}

    assert await query_indexes.today_indexed_before(db, now) is None
    # Not for a day of few rows: those are read in a few milliseconds without.
    assert await partitions.index_today(db, now) == 0 and not await partial_indexes(db)
    assert await partitions.index_today(db, now, min_rows=1) == 16
    assert await partial_indexes(db) == dict.fromkeys(expected, True)
    assert await query_indexes.today_indexed_before(db, now) == bound
    # Partial: the predicate is the bound, as a constant.
    definition = await db.fetchval("SELECT pg_get_indexdef($1::regclass)", sorted(expected)[0])
    assert "WHERE" in definition and "timestamp" in definition, definition
    covered = await db.fetchval(f"SELECT count(*) FROM {tables[1]} WHERE timestamp < $1", bound)
    later = await db.fetchval(f"SELECT count(*) FROM {tables[1]} WHERE timestamp >= $1", bound)
    assert covered and later  # rows on both sides of the bound

    assert await partitions.index_today(db, now + partitions.TODAY_INDEX_MIN_AGE - timedelta(minutes=1), min_rows=1) == 0
    # A set one index short is not used, and the next cycle builds a whole one again.
    victim = sorted(expected)[3]
    await db.execute(f"UPDATE pg_index SET indisvalid = false WHERE indexrelid = '{victim}'::regclass")
    assert await query_indexes.today_indexed_before(db, now) is None
    later_now = now + partitions.TODAY_INDEX_MIN_AGE
    later_bound = later_now.replace(second=0)
    if later_now.date() == today:
        assert await partitions.index_today(db, later_now, min_rows=1) == 16
        assert set(await partial_indexes(db)) == {name.replace(f"_to{bound:%H%M}", f"_to{later_bound:%H%M}")
                                                  for name in expected}  # fmt: skip
        assert await query_indexes.today_indexed_before(db, later_now) == later_bound

    # The day closes: its partial indexes stay until its whole ones are valid, then go.
    tomorrow = partitions.day_start(today + timedelta(days=1)) + timedelta(hours=1)
    await partitions.create_days(db, [today + timedelta(days=1)])
    await partitions.index_today(db, tomorrow, min_rows=10**9)  # the new day: too few rows for its own
    assert {name for name in await partial_indexes(db) if name.startswith(tuple(tables))}
    # Meanwhile reads use them, as the new day has none.
    assert await query_indexes.today_indexed_before(db, tomorrow) == (later_bound if later_now.date() == today else None)
    assert await partitions.index_closed_days(db, tomorrow) > 0
    await partitions.index_today(db, tomorrow, min_rows=1)
    assert not {name for name in await partial_indexes(db) if name.startswith(tuple(tables))}


async def test_a_query_page_reads_today_through_its_partial_indexes_and_agrees(db):
    """With today's partial indexes, a query's page is read in stretches cut at their bound; the
    stretch before it is planned on today's partitions through those indexes (the bound is a
    constant in the SQL), and every page, at every offset, is the one the whole range gives, as
    is every count."""
    *setup, populate = POPULATE.split(";")
    await db.execute(";".join(setup))
    await partitions.create_days(db, [(NOW - timedelta(days=n)).date() for n in range(-1, 11)])
    await db.execute(populate, NOW + timedelta(hours=3), ROWS - 1)
    now = datetime.now(timezone.utc)
    assert await partitions.index_today(db, now, min_rows=1) == 16
    await partitions.index_closed_days(db, now)
    await db.execute("ANALYZE activity_logs")
    bound = await query_indexes.today_indexed_before(db, now)
    checked = 0
    for scope in SCOPES:
        for text in ("n:7", "n>=300", "OutOfMemory", "-n:1 level>=warn", "frame OR n:3", "service:*", "n:*"):
            log_filter = LogFilter(q=text)
            for offset in (0, 10, 40, 200):
                checked += len(await page_of_the_whole_range(db, log_filter, scope, offset))
            # Counts too are read either side of the bound, and agree with one count over all.
            params: list = []
            total = await db.fetchval(f"SELECT count(*) {repository.FROM} "
                                      f"WHERE {repository.where_clause(log_filter, scope, params)}", *params)  # fmt: skip
            assert await count_logs(db, log_filter, scope) == total, (text, scope)
            assert await count_logs(db, log_filter, scope, cap=5) == min(total, 5), (text, scope)
    assert checked > 500
    # The stretch before the bound: today's partitions are read through their partial indexes.
    stretch = LogFilter(q="n:7", since=partitions.day_start(now.date()), until=bound)
    params: list = []
    where = repository.where_clause(stretch, Scope.admin(), params)
    where += f" AND l.timestamp < {query_indexes.timestamp_literal(bound)}"
    await db.execute("SET enable_seqscan = off")
    try:
        plan = await db.fetchval(f"EXPLAIN (FORMAT JSON) SELECT l.id {repository.FROM} WHERE {where}", *params)
    finally:
        await db.execute("RESET enable_seqscan")
    assert re.search(rf'"Index Name": "activity_logs_[a-z]+_{now:%Y%m%d}_[a-z]+_to{bound:%H%M}"', plan), plan
