"""Query latency of the console's reads on a large ``activity_logs``, and export throughput.

Fills N rows (default 10 million) by binary COPY into a fresh database with the real schema
(migrations applied, so the real indexes), runs VACUUM ANALYZE, then times, through the same
repository functions the REST handlers call, for each filter:

- page:   the first page (25 rows, newest first), as ``GET /api/v1/activity-logs`` reads it;
- count:  an exact count of the matching rows, and the capped one the API runs for ``meta.total``
          (exact up to 10,000);
- cursor: the next page by ``before_id`` (what infinite scroll asks for);

each the median of ``--repeat`` runs after one warm-up. Then the histogram (24 h, 60 buckets)
and export throughput (NDJSON, serialised as the handler does) over ``--export-rows`` rows.
Goal: < 50 ms per first page, so that the console's list answers as fast as a page can render.

    .venv/bin/python bench/query.py [--rows 10000000] [--database-url URL] [--keep]

Without ``--database-url`` (or ``DATABASE_URL``/``TEST_DATABASE_URL``) an embedded PostgreSQL is
started in a temporary directory. The bench database is dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collector import partitions  # noqa: E402
from collector.contract import LEVEL_IDS, SOURCE_IDS  # noqa: E402
from collector.db import migrate, query_indexes, repository  # noqa: E402
from collector.db.connect import POOL_SERVER_SETTINGS, connect, running_postgres, with_database  # noqa: E402
from collector.db.queries import q  # noqa: E402
from collector.contract import FACET_MAX_ROWS  # noqa: E402
from collector.db.repository import Facet, LogFilter, Scope  # noqa: E402
from collector.writer import COPY_COLUMNS  # noqa: E402

PROJECTS = 20
JOBS = 5000
USERS = 50
DAYS = 30
CHUNK = 50_000
WORDS = ("render", "frame", "scene", "upload", "queue", "worker", "gpu", "model", "cache", "retry", "timeout",
         "checkpoint", "sampler", "latent", "prompt", "batch", "vae", "lora", "node", "output")  # fmt: skip
RARE_WORD = "zanzibar"  # in about 1 row in 100,000
# Services, hosts (a resource attribute) and node ids (a record attribute): common values, and one
# rare value each, in about 1 row in 100,000, as for the rare word.
SERVICES = (("render-worker", 0.45), ("api-server", 0.25), ("comfyui-bridge", 0.15), ("gpu-agent", 0.10),
            ("pipeline-engine", 0.05))  # fmt: skip
RARE_SERVICE = "billing-cron"
HOSTS = 20
RARE_HOST = "gpu-node-spare"
NODE_IDS = 1000
RARE_NODE_ID = 424242
LEVELS = tuple((LEVEL_IDS[name], share) for name, share in (("debug", 0.40), ("info", 0.45), ("warn", 0.10), ("error", 0.05)))
SOURCES = tuple((SOURCE_IDS[name], share) for name, share in (
    ("api", 0.30), ("comfyui", 0.25), ("worker", 0.30), ("agent", 0.10), ("pipeline", 0.05)))


def _weighted(choices: tuple[tuple[int, float], ...], rng: random.Random, n: int) -> list[int]:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices], k=n)


def _rows(start_id: int, n: int, rng: random.Random, now: datetime, job_projects: list[int]) -> list[tuple]:
    """n rows shaped like a worker fleet's logs, spread evenly over the last DAYS days in id order."""
    span = DAYS * 86400
    levels, sources = _weighted(LEVELS, rng, n), _weighted(SOURCES, rng, n)
    services = rng.choices([name for name, _ in SERVICES], weights=[w for _, w in SERVICES], k=n)
    resources = [b'{"host.name": "gpu-node-%d"}' % k for k in range(HOSTS)]
    out = []
    for i in range(n):
        row_id = start_id + i
        timestamp = now - timedelta(seconds=span * (1 - row_id / TOTAL_ROWS[0]))
        words = rng.sample(WORDS, 4)
        if rng.random() < 0.00001:
            words[1] = RARE_WORD
        job_id = rng.randrange(1, JOBS + 1) if rng.random() < 0.7 else None
        # Entries of a job mostly carry its project too; some carry only the job (scoped through it).
        project_id = job_projects[job_id - 1] if job_id and rng.random() < 0.8 else (
            rng.randrange(1, PROJECTS + 1) if rng.random() < 0.2 else None)  # fmt: skip
        user_id = rng.randrange(1, USERS + 1) if rng.random() < 0.3 else None
        entity = rng.random() < 0.2
        trace = rng.random() < 0.5
        trace_id = f"{row_id // 10:032x}" if trace else None
        service = RARE_SERVICE if rng.random() < 0.00001 else services[i]
        resource = b'{"host.name": "%s"}' % RARE_HOST.encode() if rng.random() < 0.00001 else resources[row_id % HOSTS]
        node_id = RARE_NODE_ID if rng.random() < 0.00001 else row_id % NODE_IDS
        out.append((
            row_id, timestamp, levels[i], sources[i], " ".join(words) + f" #{row_id}",
            b'{"step": %d, "gpu": %d, "node_id": %d}' % (i % 50, i % 4, node_id),
            "curated" if rng.random() < 0.1 else "verbose",
            "scene" if entity else None, rng.randrange(1, 10_000) if entity else None,
            user_id, job_id, project_id, trace_id, f"{row_id:016x}" if trace else None, 1 if trace else None,
            9, "INFO", service, None, resource, "bench", None, False,
        ))  # fmt: skip
    return out


TOTAL_ROWS = [0]


async def fill(conn: asyncpg.Connection, rows: int, seed: int) -> float:
    rng = random.Random(seed)
    TOTAL_ROWS[0] = rows
    now = datetime.now(timezone.utc)
    await conn.execute(f"INSERT INTO projects (name) SELECT 'project ' || g FROM generate_series(1, {PROJECTS}) g")
    job_projects = [rng.randrange(1, PROJECTS + 1) for _ in range(JOBS)]
    await conn.executemany("INSERT INTO jobs (project_id) VALUES ($1)", [(p,) for p in job_projects])
    await conn.execute(f"INSERT INTO users (email, password_hash, role) SELECT 'u' || g || '@bench', 'x', "
                       f"'creator' FROM generate_series(1, {USERS}) g")  # fmt: skip
    # The creator of the scoped measurements: user 1, member of projects 1 and 2.
    await conn.execute("INSERT INTO project_members (project_id, user_id) VALUES (1, 1), (2, 1)")
    # The days the rows fall on get their partitions first, as a running server makes them ahead.
    today = now.date()
    await partitions.create_days(conn, [today - timedelta(days=n) for n in range(DAYS + 1)])
    started = time.perf_counter()
    done = 0
    while done < rows:
        n = min(CHUNK, rows - done)
        await conn.copy_records_to_table("activity_logs", records=_rows(done + 1, n, rng, now, job_projects),
                                          columns=COPY_COLUMNS)  # fmt: skip
        done += n
        if done % 1_000_000 == 0 or done == rows:
            print(f"  {done:>11,} rows  {done / (time.perf_counter() - started):>9,.0f} rows/s", flush=True)
    await conn.execute("SELECT setval('activity_logs_id_seq', $1)", rows)
    elapsed = time.perf_counter() - started
    print("  VACUUM ANALYZE…", flush=True)
    await conn.execute("VACUUM ANALYZE activity_logs")
    # The query indexes a running server's retention cycle gives every closed day.
    started_indexes = time.perf_counter()
    built = await partitions.index_closed_days(conn, now, budget_s=float("inf"))
    await conn.execute("ANALYZE activity_logs")
    print(f"  {built} closed-day query indexes built in {time.perf_counter() - started_indexes:.0f} s", flush=True)
    return elapsed


async def copy_yesterday_into_today(conn: asyncpg.Connection) -> None:
    """Today's rows replaced by a copy of yesterday's, restamped from midnight to a minute ago in
    their order: today then holds a whole day's rows up to now, as it does late in the day."""
    started = time.perf_counter()
    columns = ", ".join(column for column in COPY_COLUMNS if column not in ("id", "timestamp"))
    await conn.execute("DELETE FROM activity_logs WHERE timestamp >= date_trunc('day', now())")
    added = await conn.fetchval(f"""
        WITH day AS (SELECT date_trunc('day', now()) AS today),
        added AS (
            INSERT INTO activity_logs (timestamp, {columns})
            SELECT day.today + (l.timestamp - (day.today - interval '1 day'))
                       * (extract(epoch FROM now() - day.today - interval '1 minute') / 86400), {columns}
            FROM activity_logs l, day
            WHERE l.timestamp >= day.today - interval '1 day' AND l.timestamp < day.today
            ORDER BY l.timestamp
            RETURNING 1)
        SELECT count(*) FROM added""")  # fmt: skip
    await conn.execute("VACUUM ANALYZE activity_logs")
    today = await conn.fetchval("SELECT count(*) FROM activity_logs WHERE timestamp >= date_trunc('day', now())")
    print(f"  late day: {added:,} rows of yesterday copied into today ({today:,} rows today) in "
          f"{time.perf_counter() - started:.0f} s", flush=True)


async def today_indexes(conn: asyncpg.Connection, mode: str) -> None:
    """Today's partial query indexes as a retention cycle builds them now (timed), or none."""
    for record in await conn.fetch(q("partial_query_indexes"), None):
        await conn.execute(f'DROP INDEX "{record["index_name"]}"')
    if mode == "drop":
        print("  today's partial query indexes: none")
        return
    today_rows = await conn.fetchval("SELECT count(*) FROM activity_logs WHERE timestamp >= date_trunc('day', now())")
    started = time.perf_counter()
    built = await partitions.index_today(conn, datetime.now(timezone.utc))
    elapsed = time.perf_counter() - started
    await conn.execute("ANALYZE activity_logs")
    bound = await query_indexes.today_indexed_before(conn, datetime.now(timezone.utc))
    print(f"  today's partial query indexes: {built} over {today_rows:,} rows built in {elapsed:.1f} s, "
          + (f"rows before {bound:%H:%M} UTC covered" if bound else "none complete"), flush=True)


async def samples_ms(action: Callable[[], Awaitable[Any]], repeat: int) -> list[float]:
    """Milliseconds of ``repeat`` runs after one warm-up."""
    await action()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await action()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def timed(action: Callable[[], Awaitable[Any]], repeat: int) -> float:
    """Median milliseconds of ``repeat`` runs after one warm-up."""
    return statistics.median(await samples_ms(action, repeat))


async def measure(conn: asyncpg.Connection, rows: int, repeat: int, export_rows: int, *, only: str | None = None,
                  pages_only: bool = False) -> None:
    now = datetime.now(timezone.utc)
    admin, creator = Scope.admin(), Scope(is_admin=False, user_id=1, project_ids=[1, 2])
    some_trace = f"{(rows // 2) // 10:032x}"
    all_cases: list[tuple[str, LogFilter, Scope]] = [
        ("no filter", LogFilter(), admin),
        ("level=error", LogFilter(levels=["error"]), admin),
        ("level=warn,error", LogFilter(levels=["warn", "error"]), admin),
        ("source=pipeline", LogFilter(sources=["pipeline"]), admin),
        ("mode=curated", LogFilter(mode="curated"), admin),
        ("level=error&source=agent&curated", LogFilter(levels=["error"], sources=["agent"], mode="curated"), admin),
        ("entity=scene:42", LogFilter(entity_type="scene", entity_id=42), admin),
        ("job_id=77", LogFilter(job_id=77), admin),
        ("user_id=7", LogFilter(user_id=7), admin),
        ("project_id=3", LogFilter(project_id=3), admin),
        ("trace_id", LogFilter(trace_id=some_trace), admin),
        ("last hour", LogFilter(since=now - timedelta(hours=1)), admin),
        ("a day a week ago", LogFilter(since=now - timedelta(days=8), until=now - timedelta(days=7)), admin),
        ("search common word", LogFilter(search="checkpoint"), admin),
        ("search rare word", LogFilter(search=RARE_WORD), admin),
        (f"q service:{SERVICES[1][0]}", LogFilter(q=f"service:{SERVICES[1][0]}"), admin),
        (f"q service:{RARE_SERVICE} (rare)", LogFilter(q=f"service:{RARE_SERVICE}"), admin),
        ("q resource.host.name:gpu-node-3", LogFilter(q="resource.host.name:gpu-node-3"), admin),
        (f"q resource.host.name:{RARE_HOST} (rare)", LogFilter(q=f"resource.host.name:{RARE_HOST}"), admin),
        ("q node_id:17", LogFilter(q="node_id:17"), admin),
        (f"q node_id:{RARE_NODE_ID} (rare)", LogFilter(q=f"node_id:{RARE_NODE_ID}"), admin),
        ("q checkpoint (common word)", LogFilter(q="checkpoint"), admin),
        (f"q {RARE_WORD} (rare word)", LogFilter(q=RARE_WORD), admin),
        ("q gpu:1 level>=warn -source:agent", LogFilter(q="gpu:1 level>=warn -source:agent"), admin),
        ("creator: no filter", LogFilter(), creator),
        ("creator: level=error", LogFilter(levels=["error"]), creator),
        ("creator: search rare", LogFilter(search=RARE_WORD), creator),
        (f"creator: q {RARE_WORD}", LogFilter(q=RARE_WORD), creator),
        (f"creator: q node_id:{RARE_NODE_ID}", LogFilter(q=f"node_id:{RARE_NODE_ID}"), creator),
    ]
    cases = [case for case in all_cases if only is None or re.search(only, case[0])]
    if pages_only:
        print(f"\nfirst page (25 rows), min / median / max of {repeat} ms after a warm-up, {rows:,} rows")
        for name, log_filter, scope in cases:
            samples = await samples_ms(lambda: repository.query_logs(conn, log_filter, scope, limit=25), repeat)
            print(f"{name:<44} {min(samples):>8.1f} {statistics.median(samples):>8.1f} {max(samples):>8.1f}", flush=True)
        return
    print(f"\nfirst page (25 rows) and its total, median of {repeat} ms, {rows:,} rows")
    header = f"{'filter':<44} {'page':>9} {'count':>10} {'count≤10k':>10} {'cursor':>9} {'total':>11}"
    print(header)
    print("-" * len(header))
    for name, log_filter, scope in cases:
        page_rows: list = []

        async def page() -> None:
            page_rows[:] = await repository.query_logs(conn, log_filter, scope, limit=25)

        page_ms = await timed(page, repeat)
        total = await repository.count_logs(conn, log_filter, scope)
        count_ms = await timed(lambda: repository.count_logs(conn, log_filter, scope), min(repeat, 3))
        # What the API runs for meta.total (api.logs.COUNT_CAP).
        capped_ms = await timed(lambda: repository.count_logs(conn, log_filter, scope, cap=10_001), repeat)
        cursor_ms = float("nan")
        if page_rows:
            after = LogFilter(**{**vars(log_filter), "before_id": page_rows[-1].id})
            cursor_ms = await timed(lambda: repository.query_logs(conn, after, scope, limit=25), repeat)
        print(f"{name:<44} {page_ms:>9.1f} {count_ms:>10.1f} {capped_ms:>10.1f} {cursor_ms:>9.1f} {total:>11,}", flush=True)

    for label, scope in (("admin", admin), ("creator", creator)):
        ms = await timed(lambda: repository.histogram(conn, LogFilter(), scope, since=now - timedelta(hours=24),
                                                        until=now, buckets=60), repeat)  # fmt: skip
        print(f"{'histogram 24 h / 60 buckets, ' + label:<36} {ms:>9.1f}")

    # History opened on all time: the histogram covers the range the table shows (its bounds,
    # then 60 buckets over them), as GET /activity-logs/histogram does without from/to.
    for label, scope in (("admin", admin), ("creator", creator)):
        async def all_time() -> None:
            oldest, newest = await repository.time_bounds(conn, LogFilter(), scope)
            if oldest is not None:
                await repository.histogram(conn, LogFilter(), scope, since=oldest, until=now, buckets=60)

        ms = await timed(all_time, min(repeat, 3))
        print(f"{'histogram all time / 60 buckets, ' + label:<36} {ms:>9.1f}")

    # Facets over the last hour, as the console asks for them beside the results.
    facet_sets = {"level, source, service": [Facet("level"), Facet("source"), Facet("service")],
                  "+ gpu, node_id, resource.host.name": [Facet("level"), Facet("source"), Facet("service"),
                                                         Facet("gpu", "field", "gpu"), Facet("node_id", "field", "node_id"),
                                                         Facet("resource.host.name", "resource", "host.name")]}  # fmt: skip
    for label, wanted in facet_sets.items():
        for who, scope in (("admin", admin), ("creator", creator)):
            last_hour = LogFilter(since=now - timedelta(hours=1), until=now)
            ms = await timed(lambda: repository.facets(conn, last_hour, scope, wanted, top=10,
                                                       max_rows=FACET_MAX_ROWS), repeat)  # fmt: skip
            print(f"{'facets 1 h: ' + label + ', ' + who:<58} {ms:>9.1f}")
    ms = await timed(lambda: repository.list_log_keys(conn, admin, prefix=None, limit=100), repeat)
    print(f"{'key catalogue: 100 keys':<58} {ms:>9.1f}")

    # Export: the handler's loop (server-side cursor, one JSON line per entry), without HTTP.
    started = time.perf_counter()
    exported = size = 0
    async with contextlib.aclosing(repository.iter_logs(conn, LogFilter(), admin)) as entries:
        async for entry in entries:
            size += len(entry.json()) + 1
            exported += 1
            if exported >= export_rows:
                break
    elapsed = time.perf_counter() - started
    print(f"\nexport NDJSON: {exported:,} rows in {elapsed:.1f} s = {exported / elapsed:,.0f} rows/s, "
          f"{size / elapsed / 1e6:.1f} MB/s")  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--export-rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reuse", metavar="DATABASE", help="measure an existing bench database (from --keep); no fill")
    parser.add_argument("--jit", choices=["on", "off"], default="on",
                        help="PostgreSQL JIT for the measuring connection (the server's default is on)")
    parser.add_argument("--cases", metavar="REGEX", help="only the filters whose name matches")
    parser.add_argument("--pages-only", action="store_true",
                        help="time first pages only, min/median/max (no counts, histograms, facets, export)")
    parser.add_argument("--late-day", action="store_true",
                        help="first replace today's rows by yesterday's, spread over the part of today that has "
                             "passed, so that today holds a whole day's rows, as late in the day (changes the "
                             "database: use with --keep or --reuse)")
    parser.add_argument("--today-indexes", choices=["build", "drop"], default="build",
                        help="build today's partial query indexes as a retention cycle does (the default), or "
                             "drop them to measure without")
    parser.add_argument("--search-index", action="store_true",
                        help="build the optional trigram search index (activity-console search-index enable) first")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ac-bench-query-") as data_dir:  # for an embedded server only
        async with running_postgres(args.database_url, Path(data_dir)) as admin_url:
            await bench(admin_url, args)


async def bench(admin_url: str, args: argparse.Namespace) -> None:
    name = args.reuse or f"ac_bench_query_{os.getpid()}"
    admin = await asyncpg.connect(admin_url)
    try:
        if not args.reuse:
            await admin.execute(f"CREATE DATABASE {name}")
        conn = await connect(with_database(admin_url, name), server_settings={**POOL_SERVER_SETTINGS, "jit": args.jit})
        try:
            if args.reuse:
                args.rows = await conn.fetchval("SELECT count(*) FROM activity_logs")
            else:
                await migrate.apply(conn)
                print(f"filling {args.rows:,} rows by COPY into {name}…", flush=True)
                fill_s = await fill(conn, args.rows, args.seed)
                print(f"  filled in {fill_s:.0f} s ({args.rows / fill_s:,.0f} rows/s)")
            if args.search_index and not await conn.fetchval(q("search_index_exists")):
                started = time.perf_counter()
                await conn.execute(q("create_search_extension"))
                await partitions.build_search_index(conn)
                print(f"  search index built in {time.perf_counter() - started:.0f} s")
            if args.late_day:
                await copy_yesterday_into_today(conn)
                args.rows = await conn.fetchval("SELECT count(*) FROM activity_logs")
            await today_indexes(conn, args.today_indexes)
            print(f"  JIT {args.jit}; search index {'on' if await conn.fetchval(q('search_index_exists')) else 'off'}")
            size = await conn.fetchval("SELECT pg_size_pretty(sum(pg_total_relation_size(relid))) "
                                       "FROM pg_partition_tree('activity_logs')")  # fmt: skip
            print(f"  table with indexes: {size}")
            await measure(conn, args.rows, args.repeat, min(args.export_rows, args.rows), only=args.cases,
                          pages_only=args.pages_only)  # fmt: skip
        finally:
            await conn.close()
    finally:
        if not args.keep and not args.reuse:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()

if __name__ == "__main__":
    asyncio.run(main())
