"""Retention's cost: purging the older half of 10 days of entries, at N and at 10×N rows.

For each size, a fresh database with the real schema gets N entries spread evenly over the last
10 days (every level; the days' partitions made first, as a running server makes them ahead),
then VACUUM ANALYZE; the purge removes, for every level, what is older than 5 days, through the
function retention and the admin purge call (``collector.partitions.purge_older_than``), in two
timed steps: the whole days before the cutoff's own day, then the rest of that day (row by row
whatever the layout; a retention cycle running hourly meets only an hour of it). The
baseline is the schema before partitioning (migrations up to 0006) purged row by row in chunks,
as retention did before (``repository.delete_older_than``), measured in the same run.

Prints, per run, the seconds each purge took, the ratio of the large purge's time to the small
one's, for the whole days (goal ≤ 2: the cost must not grow with the rows) and in all, and the size of the log table with its
indexes after the purge as a share of before (goal ≤ 60 %), then min/median/max over the runs.

    .venv/bin/python bench/retention.py [--rows 60000] [--runs 3] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.databases import create_database, drop_database  # noqa: E402
from collector import partitions  # noqa: E402
from collector.db import migrate, repository  # noqa: E402
from collector.db.connect import connect, running_postgres  # noqa: E402
from collector.model import LEVELS  # noqa: E402

DAYS = 10
FILL = """
INSERT INTO activity_logs (timestamp, level_id, source_id, message, category, job_id, project_id, trace_id,
                           span_id, severity_number, service_name, fields, resource, scope_name)
SELECT $1::timestamptz - (g::float8 / $2) * interval '{days} days', 1 + g % 4, 1 + g % 5,
       'render frame ' || g || ' of scene ' || (g % 977) || ' done in ' || (g % 1000) || ' ms',
       CASE WHEN g % 10 = 0 THEN 'curated' ELSE 'verbose' END, g % 300, g % 20,
       lpad(to_hex(g / 10), 32, '0'), lpad(to_hex(g), 16, '0'), 9, 'render-worker',
       jsonb_build_object('step', g % 50, 'gpu', g % 4), '{{"host.name": "gpu-node-7"}}'::jsonb, 'bench'
FROM generate_series(1, $2) g
""".format(days=DAYS)
TREE_BYTES = """
SELECT coalesce(sum(pg_total_relation_size(relid)), pg_total_relation_size('activity_logs'))
FROM pg_partition_tree('activity_logs')
"""


async def one(admin_url: str, rows: int, partitioned: bool, migrations: Path) -> tuple[float, float, int, float]:
    """(seconds the purge took, size after ÷ size before, entries purged, seconds of its first
    step: the whole days before the cutoff's own day)."""
    name = f"ac_bench_retention_{os.getpid()}"
    url = await create_database(admin_url, name)
    try:
        conn = await connect(url)
        try:
            await migrate.apply(conn, migrate.MIGRATIONS_DIR if partitioned else migrations)
            now = datetime.now(timezone.utc)
            if partitioned:
                await partitions.create_days(conn, [(now - timedelta(days=n)).date() for n in range(DAYS + 1)])
            await conn.execute(FILL, now, rows)
            await conn.execute("VACUUM ANALYZE activity_logs")
            before = await conn.fetchval(TREE_BYTES)
            cutoff = now - timedelta(days=DAYS / 2)
            purged = 0
            steps = []
            for step_cutoff in (partitions.day_start(partitions.utc_day(cutoff)), cutoff):
                started = time.perf_counter()
                for level in LEVELS:
                    if partitioned:
                        purged += (await partitions.purge_older_than(conn, level, step_cutoff)).rows
                    else:
                        purged += await repository.delete_older_than(conn, level, step_cutoff)
                steps.append(time.perf_counter() - started)
            return sum(steps), float(await conn.fetchval(TREE_BYTES) / before), purged, steps[0]
        finally:
            await conn.close()
    finally:
        await drop_database(admin_url, name)


def spread(values: list[float], unit: str = "") -> str:
    return f"min {min(values):.3g}{unit}  median {statistics.median(values):.3g}{unit}  max {max(values):.3g}{unit}"


async def bench(admin_url: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="ac-bench-retention-") as tmp:
        before_partitions = Path(tmp)
        for source in migrate.discover():
            if source.version <= 6:
                shutil.copy(migrate.MIGRATIONS_DIR / f"{source.version:04d}_{source.name}.sql", before_partitions)
        results: dict[str, dict[str, list[float]]] = {}
        for run in range(1, args.runs + 1):
            for label, partitioned in (("partitions", True), ("row by row", False)):
                small = await one(admin_url, args.rows, partitioned, before_partitions)
                large = await one(admin_url, args.rows * 10, partitioned, before_partitions)
                assert abs(small[2] - args.rows / 2) < args.rows * 0.02, small  # the older half, give or take a day's edge
                r = results.setdefault(label, {"small": [], "large": [], "ratio": [], "days ratio": [], "size": []})
                r["small"].append(small[0])
                r["large"].append(large[0])
                r["ratio"].append(large[0] / small[0])
                r["days ratio"].append(large[3] / small[3])
                r["size"].append(large[1] * 100)
                print(f"run {run} {label:>10}: {args.rows:,} rows {small[0]:.3f} s, {args.rows * 10:,} rows "
                      f"{large[0]:.3f} s (×{large[0] / small[0]:.2f}; whole days ×{large[3] / small[3]:.2f}); "
                      f"size after {large[1]:.0%} of before ({small[1]:.0%} at {args.rows:,})", flush=True)  # fmt: skip
        print()
        for label, r in results.items():
            print(f"{label}:")
            print(f"  purge {args.rows:,} rows:        {spread(r['small'], ' s')}")
            print(f"  purge {args.rows * 10:,} rows:       {spread(r['large'], ' s')}")
            print(f"  time ratio ×10 rows, whole days (goal ≤ 2): {spread(r['days ratio'])}")
            print(f"  time ratio ×10 rows, with the cutoff's own day: {spread(r['ratio'])}")
            print(f"  size after purge, % of before (goal ≤ 60): {spread(r['size'], ' %')}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=60_000, help="the small size; the large one is ten times it")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or os.environ.get("TEST_DATABASE_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ac-bench-retention-pg-") as data_dir:  # for an embedded server only
        async with running_postgres(args.database_url, Path(data_dir)) as admin_url:
            await bench(admin_url, args)


if __name__ == "__main__":
    asyncio.run(main())
