"""Where a writer flush's time goes, measured apart from the receivers: PostgreSQL's side of the
writer's flushes into the partitioned ``activity_logs``, and the writer alone.

Modes, each run in a fresh database, alternated run by run (this machine is noisy: compare the
ratios measured within a run):

- ``flush:<rows>``: a flush as a writer running one flush at a time ran it (before migration
  0012; processes of that version still do), back to back on one connection:
  ``activity_begin_flush`` (commit-order lock, ids, request ids), one binary COPY of ``<rows>``
  pre-encoded worker-shaped rows (requests of 512), COMMIT; each phase timed (wall) so that the
  share of COMMIT (the WAL flush the next COPY waits for) shows. 1,536 rows is what the server's
  flushes hold under six clients; 10,240 the limit's COPY.
- ``overlap:<rows>``: the same flushes on two connections in turn, each flush's COPY running while
  the previous one commits (commits in order), without the commit-order lock: the most that
  taking COMMIT off the critical path could give (not something to ship: the lock keeps ids
  committed in order across processes).
- ``parallel:<rows>``: two sessions loading at once, each its flushes back to back, in no order
  between them: the most that COPYs side by side could give (the commit-order lock forbids it).
- ``bookkeeping``: a flush's statements without rows, back to back on one connection set up as
  the ingest pool's: BEGIN, ``activity_reserve_flush``, ``activity_await_turn``, COMMIT. Its
  "rows" are flushes: the backend's µs per row it prints is its CPU per flush (migration 0013
  measured 1.2 ms before, 0.5 after).
- ``<mode>+today`` / ``<mode>+whole``: the mode with today's partitions carrying the four query
  indexes, partial as a retention cycle builds them (over rows stamped before the run: what
  ingest pays for them), or whole (what ingest would pay without the bound).
- ``writer`` / ``writer-nocat``: ``BatchWriter`` itself (with / without the key catalogue), fed
  the same pre-encoded requests by ``--submitters`` coroutines that each resubmit as soon as
  their request is committed; no receivers, no live subscribers.

Prints rows/s, the backend's CPU µs per row (its process's CPU time) and the COMMIT share, per
run, then min / median / max of each mode's rows/s over the first mode's, run by run.

    .venv/bin/python bench/writer_flush.py [--runs 3] [--seconds 6] [--modes flush:1536,flush:10240]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import struct
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from collector.copy_rows import RequestRecords, assign_ids, split_tuples  # noqa: E402
from collector import partitions  # noqa: E402
from collector.db import migrate  # noqa: E402
from collector.db.query_indexes import QUERY_INDEXES, day_table  # noqa: E402
from collector.db.connect import INGEST_POOL_SERVER_SETTINGS, connect, create_ingest_pool  # noqa: E402
from collector.db.queries import q  # noqa: E402
from collector.hub import LiveHub  # noqa: E402
from collector.id_blocks import IdBlocks, block_size, blocks_for  # noqa: E402
from collector.key_catalogue import KeyCatalogue  # noqa: E402
from collector.model import LEVELS  # noqa: E402
from collector.writer import BatchWriter, copy_tuples  # noqa: E402
from databases import create_database, drop_database  # noqa: E402
from ingest import LIMIT_REQUESTS_PER_COPY, encode_limit_rows  # noqa: E402
from otlp_load import RECORDS_PER_REQUEST, build_request  # noqa: E402

_ID = struct.Struct("!q")


@dataclass
class Result:
    rows: int
    seconds: float
    backend_cpu_s: float
    commit_s: float = 0.0
    flushes: int = 0
    in_flush_s: float = 0.0  # the writer's time inside its flushes (the rest: between them)

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def with_ordinals(parts: list[bytes]) -> bytes:
    """The tuples with ordinals 0, 1, … in place of their ids (what the fast path hands over)."""
    return b"".join(part[:6] + _ID.pack(i) + part[14:] for i, part in enumerate(parts))


def backend_cpu(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


async def fresh(admin_url: str, name: str, indexes: str | None, rows_from: datetime) -> str:
    """A new database with the schema; today's partitions with the query indexes ``indexes``
    (``today``: partial, bounded before ``rows_from``; ``whole``) or none."""
    url = await create_database(admin_url, name)
    conn = await connect(url)
    await migrate.apply(conn)
    if indexes == "today":
        built = await partitions.index_today(conn, rows_from - timedelta(minutes=1), min_rows=0)
        assert built == len(QUERY_INDEXES) * len(LEVELS), built
    elif indexes == "whole":
        for level in LEVELS:
            table = day_table(level, rows_from.astimezone(timezone.utc).date())
            for suffix, template in QUERY_INDEXES:
                await conn.execute(partitions._statement(template, index=f"{table}_{suffix}", table=table))
    await conn.close()
    return url


async def run_flush(url: str, requests: list[bytes], per_flush: int, seconds: float) -> Result:
    conn = await connect(url)
    size = await block_size(conn)
    pid = conn.get_server_pid()
    rows = RECORDS_PER_REQUEST * per_flush
    cpu0 = backend_cpu(pid)
    copied, elapsed, commit_s, flushes, turn = 0, 0.0, 0.0, 0, 0
    while elapsed < seconds:
        batch = [requests[(turn + i) % len(requests)] for i in range(per_flush)]
        turn += per_flush
        ids = [uuid.uuid4() for _ in batch]
        started = time.perf_counter()
        tr = conn.transaction()
        await tr.start()
        row = await conn.fetchrow(q("begin_flush"), blocks_for(rows, size), ids, "bench")
        blocks = IdBlocks(size, row["first_ids"])
        parts = [assign_ids(part, blocks.take(RECORDS_PER_REQUEST)) for part in batch]
        copied += await copy_tuples(conn, parts)
        before_commit = time.perf_counter()
        await tr.commit()
        ended = time.perf_counter()
        commit_s += ended - before_commit
        elapsed += ended - started
        flushes += 1
    cpu = backend_cpu(pid) - cpu0
    await conn.close()
    return Result(copied, elapsed, cpu, commit_s, flushes)


async def run_bookkeeping(url: str, seconds: float) -> Result:
    conn = await connect(url, server_settings=INGEST_POOL_SERVER_SETTINGS)
    pid = conn.get_server_pid()
    cpu0 = backend_cpu(pid)
    started = time.perf_counter()
    flushes = 0
    while time.perf_counter() - started < seconds:
        async with conn.transaction():
            row = await conn.fetchrow(q("reserve_flush"), 1, [uuid.uuid4()], "bench")
            await conn.fetchval(q("await_turn"), row["turn"])
        flushes += 1
    elapsed = time.perf_counter() - started
    cpu = backend_cpu(pid) - cpu0
    await conn.close()
    return Result(flushes, elapsed, cpu, 0.0, flushes)


NO_LOCK_IDS = """SELECT array_agg(nextval('activity_logs_id_seq') ORDER BY g) FROM generate_series(1, $1) g"""
RECORD_IDS = "INSERT INTO ingest_requests (id) SELECT unnest($1::uuid[]) ON CONFLICT DO NOTHING"


async def run_overlapped(url: str, requests: list[bytes], per_flush: int, seconds: float) -> Result:
    """The upper bound of overlapping a flush's COMMIT with the next flush's COPY: two
    connections in turn, flush N+1's ids, request ids and COPY running while flush N commits
    (commits still in order). Without the commit-order lock, which would make flush N+1 wait for
    N's commit before its ids: what the lock costs a single writer, not something to ship."""
    conns = [await connect(url), await connect(url)]
    size = await block_size(conns[0])
    rows = RECORDS_PER_REQUEST * per_flush
    pids = [conn.get_server_pid() for conn in conns]
    cpu0 = sum(backend_cpu(pid) for pid in pids)
    copied, flushes, turn = 0, 0, 0
    pending: asyncio.Task | None = None
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        conn = conns[flushes % 2]
        batch = [requests[(turn + i) % len(requests)] for i in range(per_flush)]
        turn += per_flush
        tr = conn.transaction()
        await tr.start()
        first_ids = await conn.fetchval(NO_LOCK_IDS, blocks_for(rows, size))
        await conn.execute(RECORD_IDS, [uuid.uuid4() for _ in batch])
        blocks = IdBlocks(size, first_ids)
        parts = [assign_ids(part, blocks.take(RECORDS_PER_REQUEST)) for part in batch]
        copied += await copy_tuples(conn, parts)
        if pending is not None:
            await pending
        pending = asyncio.ensure_future(tr.commit())
        flushes += 1
    await pending
    elapsed = time.perf_counter() - started
    cpu = sum(backend_cpu(pid) for pid in pids) - cpu0
    for conn in conns:
        await conn.close()
    return Result(copied, elapsed, cpu, 0.0, flushes)


async def run_parallel(url: str, requests: list[bytes], per_flush: int, seconds: float) -> Result:
    """Two sessions loading at once, each its own flushes back to back (ids, request ids, COPY,
    COMMIT), with no order between them at all: the most that COPYs running side by side could
    give on this machine. Commits in id order would need a different commit-order scheme than one
    lock held from a flush's ids to its commit (docs/replicas.md)."""
    conns = [await connect(url), await connect(url)]
    size = await block_size(conns[0])
    rows = RECORDS_PER_REQUEST * per_flush
    pids = [conn.get_server_pid() for conn in conns]
    cpu0 = sum(backend_cpu(pid) for pid in pids)
    started = time.perf_counter()
    counts = [0, 0]

    async def load(k: int) -> None:
        conn, turn = conns[k], k * per_flush
        while time.perf_counter() - started < seconds:
            batch = [requests[(turn + i) % len(requests)] for i in range(per_flush)]
            turn += 2 * per_flush
            async with conn.transaction():
                first_ids = await conn.fetchval(NO_LOCK_IDS, blocks_for(rows, size))
                await conn.execute(RECORD_IDS, [uuid.uuid4() for _ in batch])
                blocks = IdBlocks(size, first_ids)
                parts = [assign_ids(part, blocks.take(RECORDS_PER_REQUEST)) for part in batch]
                counts[k] += await copy_tuples(conn, parts)

    await asyncio.gather(load(0), load(1))
    elapsed = time.perf_counter() - started
    cpu = sum(backend_cpu(pid) for pid in pids) - cpu0
    for conn in conns:
        await conn.close()
    copied = sum(counts)
    return Result(copied, elapsed, cpu, 0.0, copied // rows)


async def run_writer(url: str, requests: list[bytes], submitters: int, seconds: float, catalogue: bool) -> Result:
    pool = await create_ingest_pool(url, min_size=1, max_size=2)
    writer = BatchWriter(pool, LiveHub(), catalogue=KeyCatalogue() if catalogue else None,
                         max_pending_rows=1_000_000)  # fmt: skip
    await writer.start()
    pids = []
    async with pool.acquire() as conn:
        pids.append(conn.get_server_pid())
    cpu0 = {pid: backend_cpu(pid) for pid in pids}
    done = 0
    deadline = time.perf_counter() + seconds

    async def submitter(k: int) -> None:
        nonlocal done
        turn = k
        while time.perf_counter() < deadline:
            records = RequestRecords([], requests[turn % len(requests)], RECORDS_PER_REQUEST)
            result = await writer.submit(records, payload_bytes=len(records.tuples), request_id=uuid.uuid4())
            done += result.accepted
            turn += submitters

    started = time.perf_counter()
    await asyncio.gather(*(submitter(k) for k in range(submitters)))
    elapsed = time.perf_counter() - started
    flushes = writer.stats.flushes
    in_flush = writer.stats.flush_seconds
    cpu = sum(backend_cpu(pid) - cpu0[pid] for pid in pids)
    await writer.close()
    await pool.close()
    return Result(done, elapsed, cpu, 0.0, flushes, in_flush)


def where_time_went(result: Result) -> str:
    if result.commit_s:
        return f"commit {result.commit_s / result.seconds:5.1%} ({result.commit_s / result.flushes * 1000:.2f} ms each)"
    if result.in_flush_s:
        return (f"in flushes {result.in_flush_s / result.seconds:5.1%} "
                f"({result.in_flush_s / result.flushes * 1000:.2f} ms each)")
    return ""


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--modes", default="flush:1536,flush:10240")
    parser.add_argument("--submitters", type=int, default=3)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
                        or "postgresql://postgres@127.0.0.1:5432/postgres")  # fmt: skip
    args = parser.parse_args()
    modes = args.modes.split(",")
    rng = random.Random(42)
    rows_from = datetime.now(timezone.utc)
    otlp = [build_request(rng) for _ in range(LIMIT_REQUESTS_PER_COPY)]
    with tempfile.TemporaryDirectory() as scratch:
        limit = await encode_limit_rows(args.database_url, otlp, Path(scratch) / "rows.pgcopy")
        parts = split_tuples(limit.tuples())
    requests = [with_ordinals(parts[i:i + RECORDS_PER_REQUEST]) for i in range(0, len(parts), RECORDS_PER_REQUEST)]
    name = f"bench_writer_flush_{os.getpid()}"
    table: dict[str, list[Result]] = {mode: [] for mode in modes}
    try:
        for run in range(1, args.runs + 1):
            order = modes if run % 2 else list(reversed(modes))
            for mode in order:
                kind, _, indexes = mode.partition("+")
                url = await fresh(args.database_url, name, indexes or None, rows_from)
                per_flush = int(kind.split(":")[1]) // RECORDS_PER_REQUEST if ":" in kind else 0
                if mode.startswith("parallel:"):
                    result = await run_parallel(url, requests, per_flush, args.seconds)
                elif mode.startswith("overlap:"):
                    result = await run_overlapped(url, requests, per_flush, args.seconds)
                elif mode == "bookkeeping":
                    result = await run_bookkeeping(url, args.seconds)
                elif mode.startswith("flush:"):
                    result = await run_flush(url, requests, per_flush, args.seconds)
                else:
                    result = await run_writer(url, requests, args.submitters, args.seconds, kind == "writer")
                await drop_database(args.database_url, name)
                table[mode].append(result)
                print(f"run {run} {mode:<12} {result.rate:>9,.0f} rows/s  "
                      f"backend {result.backend_cpu_s * 1e6 / result.rows:5.2f} µs/row  "
                      f"{result.rows / result.flushes:7,.0f} rows/flush  {where_time_went(result)}", flush=True)
    finally:
        await drop_database(args.database_url, name)
    base = modes[0]
    for mode in modes[1:]:
        ratios = [b.rate / a.rate for a, b in zip(table[base], table[mode])]
        print(f"{mode} ÷ {base}: rows/s min {min(ratios):.3f}  median {statistics.median(ratios):.3f}  "
              f"max {max(ratios):.3f}")
    for mode in modes:
        cpu = [r.backend_cpu_s * 1e6 / r.rows for r in table[mode]]
        print(f"{mode}: backend µs/row min {min(cpu):.2f} median {statistics.median(cpu):.2f} max {max(cpu):.2f}")


if __name__ == "__main__":
    asyncio.run(main())
