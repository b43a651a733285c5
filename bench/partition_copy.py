"""What partitioning costs a bulk load: PostgreSQL's own binary COPY of the same rows into the
partitioned ``activity_logs`` (migration 0007: a partition per level and day) and into the table
before it (migrations up to 0006), alternately, in the same run.

The rows (a worker's shape, timestamps over the last day, every level) are generated once and
written by the server to a file in its binary COPY format; each load is ``COPY activity_logs FROM
'<file>' (FORMAT binary)`` into a freshly truncated table with its indexes, timed in the server.
Prints rows/s per layout and their ratio, per run and min/median/max. Needs a superuser on a
local server (COPY to and from a server-side file).

    .venv/bin/python bench/partition_copy.py [--rows 500000] [--runs 3] [--database-url URL]
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
from bench.retention import FILL  # noqa: E402
from collector import partitions  # noqa: E402
from collector.db import migrate  # noqa: E402
from collector.db.connect import connect  # noqa: E402
from collector.writer import COPY_COLUMNS  # noqa: E402

COLUMNS = ", ".join(COPY_COLUMNS)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
                        or "postgresql://postgres@127.0.0.1:5432/postgres")  # fmt: skip
    args = parser.parse_args()
    file = Path(tempfile.gettempdir()) / f"ac_bench_partition_copy_{os.getpid()}.bin"
    names = {True: f"ac_bench_parts_{os.getpid()}", False: f"ac_bench_plain_{os.getpid()}"}
    with tempfile.TemporaryDirectory() as tmp:
        before = Path(tmp)
        for source in migrate.discover():
            if source.version <= 6:
                shutil.copy(migrate.MIGRATIONS_DIR / f"{source.version:04d}_{source.name}.sql", before)
        conns = {}
        try:
            now = datetime.now(timezone.utc)
            for partitioned, name in names.items():
                conn = conns[partitioned] = await connect(await create_database(args.database_url, name))
                await migrate.apply(conn, migrate.MIGRATIONS_DIR if partitioned else before)
                if partitioned:
                    await partitions.create_days(conn, [(now - timedelta(days=n)).date() for n in range(2)])
            source = conns[False]
            await source.execute(FILL.replace("'10 days'", "'20 hours'"), now, args.rows)
            await source.execute(f"COPY (SELECT {COLUMNS} FROM activity_logs ORDER BY id) TO '{file}' (FORMAT binary)")
            ratios = []
            for run in range(1, args.runs + 1):
                rates = {}
                for partitioned in (True, False) if run % 2 else (False, True):
                    conn = conns[partitioned]
                    await conn.execute("TRUNCATE activity_logs")
                    await conn.execute("CHECKPOINT")
                    started = time.perf_counter()
                    await conn.execute(f"COPY activity_logs ({COLUMNS}) FROM '{file}' (FORMAT binary)")
                    rates[partitioned] = args.rows / (time.perf_counter() - started)
                ratios.append(rates[True] / rates[False])
                print(f"run {run}: partitioned {rates[True]:,.0f} rows/s, before {rates[False]:,.0f} rows/s, "
                      f"ratio {ratios[-1]:.2f}", flush=True)  # fmt: skip
            print(f"partitioned ÷ before: min {min(ratios):.2f}  median {statistics.median(ratios):.2f}  "
                  f"max {max(ratios):.2f}")  # fmt: skip
        finally:
            for conn in conns.values():
                await conn.close()
            for name in names.values():
                await drop_database(args.database_url, name)
            file.unlink(missing_ok=True)


if __name__ == "__main__":
    asyncio.run(main())
