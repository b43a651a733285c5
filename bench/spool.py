"""What writing a request to the spool costs against committing it to PostgreSQL: the measurement
behind sending healthy traffic straight to the writer (collector/delivery.py, README "Delivery").

For 512-record requests of typical records (bench/fastpath.py, encoded by the fast path), in the
same run:
- commit: the writer's flush (request ids recorded, then one COPY, in one transaction, four
  requests a flush), CPU of this process plus the PostgreSQL backend, and wall time;
- spool: append of the same requests from 8 concurrent producers (group commit: one write and one
  fdatasync per group), wall time and CPU of this process, then reading them back.

    .venv/bin/python bench/spool.py [--runs 3] [--requests 400]

Prints each run and min/median/max; "spool/commit" is the ratio of CPU per record.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.databases import create_database, drop_database  # noqa: E402
from bench.fastpath import RECEIVED_NS, typical_request  # noqa: E402
from bench.ingest import cpu_seconds  # noqa: E402
from collector import copy_rows  # noqa: E402
from collector.db.connect import connect  # noqa: E402
from collector.db.migrate import apply as migrate  # noqa: E402
from collector.db.queries import q  # noqa: E402
from collector.delivery import new_request_id  # noqa: E402
from collector.spool import Spool  # noqa: E402
from collector.writer import copy_tuples  # noqa: E402

PRODUCERS = 8
REQUESTS_PER_FLUSH = 4
ids = iter(range(1, 10**15, 1024))  # a block of ids per request, across runs


def encoded_request() -> tuple[bytes, int]:
    native = copy_rows.native_module()
    data = typical_request()
    if native is not None:
        tuples, count, handed_back, _ = native.encode_request(data, RECEIVED_NS, 0, 10_000, 1 << 20)
        assert not handed_back
        return tuples, count
    tuples, count, _, _ = copy_rows.encode_request_reference(data, RECEIVED_NS, 0, 10_000, 1 << 20)
    return tuples, count


async def bench_commit(url: str, tuples: bytes, count: int, requests: int) -> tuple[float, float]:
    """CPU µs per record (client + backend) and records/s of committing as the writer does."""
    conn = await connect(url)
    try:
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        flushes = [[tuples] * REQUESTS_PER_FLUSH for _ in range(requests // REQUESTS_PER_FLUSH)]
        cpu0, backend0, wall0 = time.process_time(), cpu_seconds(backend), time.perf_counter()
        for parts in flushes:
            encoded = [copy_rows.assign_ids(part, [(next(ids), count)]) for part in parts]
            async with conn.transaction():
                await conn.fetch(q("claim_ingest_requests"), [new_request_id() for _ in parts])
                await copy_tuples(conn, encoded)
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0 + (cpu_seconds(backend) - backend0)
    finally:
        await conn.close()
    records = len(flushes) * REQUESTS_PER_FLUSH * count
    return cpu * 1e6 / records, records / wall


async def bench_spool(directory: Path, tuples: bytes, count: int, requests: int) -> tuple[float, float, float, float]:
    """CPU µs per record and records/s of appending; µs per record and records/s of reading back."""
    spool = Spool(directory, max_bytes=1 << 40, min_free_bytes=0)
    await asyncio.to_thread(spool.recover)
    await spool.start()
    try:
        async def produce(n: int) -> None:
            for _ in range(n):
                await spool.append(new_request_id(), count, tuples)

        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(produce(requests // PRODUCERS) for _ in range(PRODUCERS)))
        append_wall, append_cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        records = (requests // PRODUCERS) * PRODUCERS * count
        cpu0, wall0 = time.process_time(), time.perf_counter()
        read = 0
        while spool.readable():
            batch = spool.read(8 << 20)
            read += sum(r.count for r in batch)
            spool.consumed(batch)
        read_wall, read_cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        assert read == records
    finally:
        await spool.close()
    return append_cpu * 1e6 / records, records / append_wall, read_cpu * 1e6 / records, records / read_wall


def spread(values: list[float], unit: str, digits: int = 2) -> str:
    return (f"min {min(values):,.{digits}f} / median {statistics.median(values):,.{digits}f} / "
            f"max {max(values):,.{digits}f} {unit}")  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=400, help="512-record requests per measurement")
    parser.add_argument("--admin-url", default=os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    tuples, count = encoded_request()
    name = f"bench_spool_{os.getpid()}"
    url = await create_database(args.admin_url, name)
    results: dict[str, list[float]] = {k: [] for k in ("commit_us", "commit_rps", "append_us", "append_rps",
                                                         "read_us", "read_rps", "ratio")}  # fmt: skip
    try:
        conn = await connect(url)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        print(f"{args.requests} requests of {count} records ({len(tuples):,} bytes of COPY tuples each)")
        for run in range(1, args.runs + 1):
            commit_us, commit_rps = await bench_commit(url, tuples, count, args.requests)
            with tempfile.TemporaryDirectory(dir=os.environ.get("SPOOL_BENCH_DIR")) as directory:
                append_us, append_rps, read_us, read_rps = await bench_spool(Path(directory), tuples, count, args.requests)
            ratio = append_us / commit_us
            for key, value in zip(results, (commit_us, commit_rps, append_us, append_rps, read_us, read_rps, ratio)):
                results[key].append(value)
            print(f"run {run}: commit {commit_us:.2f} µs/record ({commit_rps:,.0f} records/s); spool append "
                  f"{append_us:.2f} µs/record ({append_rps:,.0f} records/s), read {read_us:.2f} µs/record "
                  f"({read_rps:,.0f} records/s); spool/commit {ratio:.2f}")  # fmt: skip
    finally:
        await drop_database(args.admin_url, name)
    print("commit (client + backend CPU):", spread(results["commit_us"], "µs/record"))
    print("commit rate:                  ", spread(results["commit_rps"], "records/s", 0))
    print("spool append CPU:             ", spread(results["append_us"], "µs/record"))
    print("spool append rate:            ", spread(results["append_rps"], "records/s", 0))
    print("spool read CPU:               ", spread(results["read_us"], "µs/record"))
    print("spool append / commit CPU:    ", spread(results["ratio"], ""))


if __name__ == "__main__":
    asyncio.run(main())
