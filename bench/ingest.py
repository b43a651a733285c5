"""Ingest throughput: records/s committed through the whole OTLP path, over each transport, next
to the limit PostgreSQL sets and a naive baseline, all measured in each run on the same PostgreSQL
(this machine is noisy: compare ratios, over several runs).

Each record is shaped like a worker's log line: a message, a severity, trace and span ids, the
activity attributes (category, job, project, user) and eight structured fields.

1. limit: PostgreSQL loading data itself. The rows are encoded once, before any measurement, in
          PostgreSQL's own binary COPY format (PostgreSQL writes them out with ``COPY … TO``):
          exactly what the writer sends, the same requests mapped as the server maps them, every
          column the writer copies. The measurement loads them again and again, each load one
          ``COPY activity_logs FROM STDIN (FORMAT binary)`` in its own transaction whose bytes
          are streamed as they are, but for the ids: each load gets fresh ones, given off the
          clock (``assign_ids``, as the writer gives its reserved ids), so that the limit pays
          neither a sequence call per row nor any per-row work in the client. One session, as
          the server has one writer, into the same table with the same indexes. A load is
          LIMIT_ROWS_PER_COPY rows, at least the writer's largest flush (``max_batch_rows``,
          10,000), so the limit never pays more commits per row than the server would. (psql's
          ``\copy`` of such a file measured a few per cent slower here: the faster loader is
          the limit.)
   limit, ids by nextval: the same loads without the id column, which the column's sequence
          fills, one ``nextval`` per row, as ``psql \\copy`` of a file without ids does (how the
          issue that set the goals measured the limit; ours is reported against both).
2. ours:  the server as ``activity-console serve`` runs it, in its own process, receiving
          pre-encoded requests of 512 records (the SDK's batch size) from separate client
          processes, over OTLP/HTTP and, measured separately, over OTLP/gRPC; counting records
          acknowledged (an acknowledgement means committed). Also over OTLP/gRPC with the writer
          running one flush at a time (ACTIVITY_WRITER_FLUSHES_IN_FLIGHT=1), the design before
          flushes ran side by side, with four at once (the default until two measured the same
          rows/s for less CPU), with the Python path, and as two worker processes.
3. naive: the straightforward design, a multi-row INSERT of 100 per transaction into a schema
          with foreign keys and ten indexes.
4. asyncpg (for information): the limit's rows and batch size, copied by asyncpg from Python
          tuples: what encoding rows in Python adds to a COPY.

For each path, the CPU it costs per committed record: the receiving side's (the server process
for ours; this process for the others: it streams the file for the limit, encodes the rows for
naive and asyncpg) and the PostgreSQL backends' that serve the measurement's database (sampled
from pg_stat_activity during the run, so that backends that come and go, autovacuum's among them,
count too; PostgreSQL's shared background processes, the WAL writer and checkpointer, are not
counted). Every measurement gets a fresh database.

Goals: ours ≥ 0.85 × limit over each transport, with ≤ 4 µs of receiver CPU per record. That
figure was set on a machine where PostgreSQL's backend spent 9.5 µs per row on its own COPY, and
CPU per record differs between the machines this runs on by a factor of two or more: the summary
also gives the receiver's CPU per record over the limit backend's per row in the same run, whose
goal is 4 / 9.5 ≈ 0.42.

    .venv/bin/python bench/ingest.py [--runs 3] [--seconds 8] [--clients 6] [--paths http,grpc,...]
                                     [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import asyncpg
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest  # noqa: E402

from collector.auth import create_token  # noqa: E402
from collector.db import migrate  # noqa: E402
from collector.db.connect import connect, running_postgres  # noqa: E402
from collector.mapping import map_request  # noqa: E402
from collector.copy_rows import COPY_COLUMNS, COPY_HEADER, COPY_TRAILER, asyncpg_records, assign_ids, split_tuples  # noqa: E402
from collector.writer import copy_tuples  # noqa: E402
from otlp_load import RECORDS_PER_REQUEST, build_request, run_clients, spawn_clients  # noqa: E402
from databases import create_database, drop_database  # noqa: E402
from server_process import free_port, stop, wait_ready, wait_workers  # noqa: E402

LIMIT_REQUESTS_PER_COPY = 20
LIMIT_ROWS_PER_COPY = LIMIT_REQUESTS_PER_COPY * RECORDS_PER_REQUEST  # 10,240
# Every column the writer copies but the id, which each load gives afresh (as the writer does).
LIMIT_COLUMNS = ", ".join(column for column in COPY_COLUMNS if column != "id")
BACKEND_POLL_S = 0.25

NAIVE_SCHEMA = """
CREATE TABLE users (id BIGSERIAL PRIMARY KEY, email TEXT);
CREATE TABLE projects (id BIGSERIAL PRIMARY KEY, name TEXT);
CREATE TABLE jobs (id BIGSERIAL PRIMARY KEY, name TEXT);
CREATE TABLE activity_log_levels (id SMALLSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE, label TEXT NOT NULL);
INSERT INTO activity_log_levels (name, label) VALUES ('debug','Debug'),('info','Info'),('warn','Warn'),('error','Error');
CREATE TABLE activity_log_sources (id SMALLSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE, label TEXT NOT NULL);
INSERT INTO activity_log_sources (name, label) VALUES ('api','API'),('comfyui','ComfyUI'),('worker','Worker'),('agent','Agent'),('pipeline','Pipeline');
CREATE TABLE activity_logs (
    id BIGSERIAL PRIMARY KEY, timestamp TIMESTAMPTZ NOT NULL DEFAULT now(),
    level_id SMALLINT NOT NULL REFERENCES activity_log_levels(id),
    source_id SMALLINT NOT NULL REFERENCES activity_log_sources(id),
    message TEXT NOT NULL, fields JSONB NOT NULL DEFAULT '{}'::jsonb, category TEXT NOT NULL DEFAULT 'verbose',
    entity_type TEXT, entity_id BIGINT,
    user_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    job_id BIGINT REFERENCES jobs(id) ON DELETE SET NULL,
    project_id BIGINT REFERENCES projects(id) ON DELETE SET NULL,
    trace_id TEXT, created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX ON activity_logs (timestamp DESC);
CREATE INDEX ON activity_logs (level_id);
CREATE INDEX ON activity_logs (source_id);
CREATE INDEX ON activity_logs (entity_type, entity_id) WHERE entity_type IS NOT NULL;
CREATE INDEX ON activity_logs (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX ON activity_logs (job_id) WHERE job_id IS NOT NULL;
CREATE INDEX ON activity_logs (project_id) WHERE project_id IS NOT NULL;
CREATE INDEX ON activity_logs (trace_id) WHERE trace_id IS NOT NULL;
CREATE INDEX ON activity_logs (category);
CREATE INDEX ON activity_logs USING GIN (fields);
INSERT INTO users (email) SELECT 'u' || g FROM generate_series(1, 20) g;
INSERT INTO projects (name) SELECT 'p' || g FROM generate_series(1, 20) g;
INSERT INTO jobs (name) SELECT 'j' || g FROM generate_series(1, 1000) g;
"""


@dataclass(frozen=True)
class MeasuredPath:
    key: str
    label: str


# The receiver's CPU goal, 4 µs per record, was set on a machine where PostgreSQL's backend spent
# 9.5 µs per row on its own COPY (psql's, ids by nextval: more than the limit's, which are given):
# as a share of the backend's CPU in the same run, it holds on a slower or faster machine alike.
GOAL_RECEIVER_US, GOAL_BACKEND_US = 4.0, 9.5
RECEIVER_GOAL_SHARE = GOAL_RECEIVER_US / GOAL_BACKEND_US

PATHS = (
    MeasuredPath("limit", "limit   COPY FROM STDIN, pre-encoded file"),
    MeasuredPath("sequence", "limit   the same, ids by nextval per row"),
    MeasuredPath("http", "ours    OTLP/HTTP → writer → COPY → ack"),
    MeasuredPath("grpc", "ours    OTLP/gRPC → writer → COPY → ack"),
    MeasuredPath("serial", "ours    OTLP/gRPC, one flush at a time"),
    MeasuredPath("grpc4", "ours    OTLP/gRPC, four flushes at once"),
    MeasuredPath("python", "ours    the same, Python path (NATIVE=off)"),
    MeasuredPath("workers", "ours    OTLP/gRPC, serve --workers 2"),
    MeasuredPath("naive", "naive   multi-row INSERT of 100, indexed"),
    MeasuredPath("asyncpg", "info    asyncpg COPY of Python tuples"),
)
PATHS_BY_KEY = {path.key: path for path in PATHS}


@dataclass(frozen=True)
class Measurement:
    rows_per_s: float
    committed: int  # rows stored by the measurement, the denominator of the CPU costs
    receiver_cpu_s: float
    backend_cpu_s: float | None  # None when the backends' processes are not on this machine
    machine: MachineShare
    clients_cpu_s: float | None = None  # the OTLP client processes' (ours only)

    def receiver_us_per_row(self) -> float:
        return self.receiver_cpu_s * 1e6 / self.committed

    def clients_us_per_row(self) -> float | None:
        return None if self.clients_cpu_s is None else self.clients_cpu_s * 1e6 / self.committed

    def backend_us_per_row(self) -> float | None:
        return None if self.backend_cpu_s is None else self.backend_cpu_s * 1e6 / self.committed


# --- CPU accounting ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MachineShare:
    """How the whole machine's CPUs were spent over one measurement, as fractions of all of them:
    busy (any process, PostgreSQL's shared ones and other work on the machine included) and
    stolen by the hypervisor. Tells a path held back by its own work (busy near 1) from one
    waiting on something else (idle CPU), and a noisy run (steal)."""

    busy: float
    steal: float

    @staticmethod
    def between(start: Any, end: Any) -> MachineShare:
        deltas = {field: getattr(end, field) - getattr(start, field) for field in end._fields}
        total = sum(deltas.values()) or 1.0
        idle = deltas.get("idle", 0.0) + deltas.get("iowait", 0.0)
        # guest time is already counted in user on Linux
        total -= deltas.get("guest", 0.0) + deltas.get("guest_nice", 0.0)
        steal = deltas.get("steal", 0.0)
        return MachineShare(busy=(total - idle - steal) / total, steal=steal / total)


def cpu_seconds(pid: int) -> float | None:
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return times.user + times.system


def tree_cpu_seconds(pid: int) -> float | None:
    """A process's CPU and its children's (serve --workers: the supervisor and its workers)."""
    try:
        processes = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return None
    return sum(s for p in processes if (s := cpu_seconds(p.pid)) is not None)


class CpuMeter:
    """CPU seconds (user + system) over one measurement of the receiving process and of the
    PostgreSQL backends serving the measurement's database. The backends are listed from
    pg_stat_activity every BACKEND_POLL_S while ``watching``, and sampled each time, so that one
    that exits before the end still counts up to its last sample; one that starts during the
    measurement counts from zero. ``start`` and ``stop`` only read /proc, so a client thread may
    call them at the exact moment the load starts or ends."""

    def __init__(self, monitor: asyncpg.Connection, database: str, receiver_pid: int, backends_visible: bool):
        self._monitor = monitor
        self._database = database
        self._receiver_pid = receiver_pid
        self._backends_visible = backends_visible
        self._backend_pids: set[int] = set()
        self._backend_start: dict[int, float] = {}
        self._backend_last: dict[int, float] = {}
        self._receiver_start = 0.0
        self._measuring = False
        self.receiver_cpu_s = 0.0
        self.backend_cpu_s: float | None = None
        self._machine_start: Any = None
        self.machine = MachineShare(0.0, 0.0)

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[CpuMeter]:
        await self.refresh()
        poller = asyncio.create_task(self._poll())
        try:
            yield self
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller

    async def refresh(self) -> None:
        """List the database's backends anew (call once its connections are open, before ``start``)."""
        if not self._backends_visible:
            return
        pids = await self._monitor.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", self._database)
        self._backend_pids.update(row["pid"] for row in pids)
        if self._measuring:
            self._sample_backends()

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(BACKEND_POLL_S)
            await self.refresh()

    def _sample_backends(self) -> None:
        for pid in list(self._backend_pids):
            seconds = cpu_seconds(pid)
            if seconds is not None:
                self._backend_last[pid] = seconds

    def start(self) -> None:
        self._receiver_start = tree_cpu_seconds(self._receiver_pid) or 0.0
        self._backend_start = {pid: s for pid in list(self._backend_pids) if (s := cpu_seconds(pid)) is not None}
        self._backend_last = dict(self._backend_start)
        self._machine_start = psutil.cpu_times()
        self._measuring = True

    def stop(self) -> None:
        self.machine = MachineShare.between(self._machine_start, psutil.cpu_times())
        self._sample_backends()
        self._measuring = False
        self.receiver_cpu_s = (tree_cpu_seconds(self._receiver_pid) or 0.0) - self._receiver_start
        if self._backends_visible:
            self.backend_cpu_s = sum(last - self._backend_start.get(pid, 0.0) for pid, last in self._backend_last.items())


async def backends_visible(monitor: asyncpg.Connection) -> bool:
    """Whether PostgreSQL's backends are processes of this machine whose CPU can be read."""
    pid = await monitor.fetchval("SELECT pg_backend_pid()")
    try:
        return psutil.Process(pid).name().startswith("postgres")
    except psutil.Error:
        return False


# --- ours: the server in its own process, clients in theirs -----------------------------------


@contextlib.contextmanager
def server_process(database_url: str, data_dir: str, native: bool = True, workers: int = 1,
                   flushes_in_flight: int | None = None):  # fmt: skip
    """``activity-console serve`` in a fresh interpreter, as an operator runs it; yields the
    process and its OTLP ports ({"http": port, "grpc": port}). Stopped with SIGTERM, which lets
    the writer commit what was acknowledged."""
    http_port, otlp_http_port, otlp_grpc_port = free_port(), free_port(), free_port()
    # The clients hold up to clients × 512 rows in flight; the queue bound must not refuse them.
    env = {**os.environ, "ACTIVITY_LOG_LEVEL": "WARNING", "ACTIVITY_BOOTSTRAP": "false",
           "ACTIVITY_MAX_PENDING_ROWS": "200000", "ACTIVITY_NATIVE": "on" if native else "off",
           "ACTIVITY_WORKERS": str(workers)}  # fmt: skip
    if flushes_in_flight is not None:
        env["ACTIVITY_WRITER_FLUSHES_IN_FLIGHT"] = str(flushes_in_flight)
    server = subprocess.Popen(
        [sys.executable, "-c", "import sys; from api.cli import main; sys.exit(main())", "serve",
         "--database-url", database_url, "--data-dir", data_dir, "--http-port", str(http_port),
         "--otlp-http-port", str(otlp_http_port), "--otlp-grpc-port", str(otlp_grpc_port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_ready(server, http_port)
        wait_workers(http_port, workers)
        yield server, {"http": otlp_http_port, "grpc": otlp_grpc_port}
    finally:
        stop(server)


async def bench_ours(admin_url: str, monitor: asyncpg.Connection, visible: bool, transport: str,
                     seconds: float, clients: int, native: bool = True, workers: int = 1,
                     flushes_in_flight: int | None = None) -> Measurement:  # fmt: skip
    url, database = await fresh_database(admin_url, f"bench_{transport}")
    conn = await connect(url)
    await migrate.apply(conn)
    token, _ = await create_token(conn, "bench")
    await conn.close()
    with tempfile.TemporaryDirectory(prefix="bench-server-") as data_dir:
        with server_process(url, data_dir, native, workers, flushes_in_flight) as (server, ports):
            meter = CpuMeter(monitor, database, server.pid, visible)
            async with meter.watching():
                clients_running = spawn_clients(clients, ports[transport], token, seconds, transport)
                outcomes = await asyncio.to_thread(run_clients, clients_running, meter.start)
                meter.stop()
    acked = sum(o[0] for o in outcomes)
    refused = sum(o[1] for o in outcomes)
    elapsed = max(o[2] for o in outcomes)
    stored = await count_rows(url)
    await drop_database(admin_url, database)
    assert stored >= acked, f"acknowledged {acked} but only {stored} stored"
    if refused:
        print(f"  ({transport}: {refused} requests refused with a retryable status)")
    clients_cpu = sum(o[3] for o in outcomes)
    return Measurement(acked / elapsed, stored, meter.receiver_cpu_s, meter.backend_cpu_s, meter.machine, clients_cpu)


# --- the limit: PostgreSQL loading a pre-encoded binary COPY file ------------------------------


@dataclass(frozen=True)
class LimitRows:
    # LIMIT_ROWS_PER_COPY rows in PostgreSQL's binary COPY format (COPY_COLUMNS), as PostgreSQL
    # wrote them, ids 0, 1, … (each load gives them fresh ids, as the writer does)
    copy_file: Path
    records: list[tuple]  # the same rows as Python tuples in COPY_COLUMNS order but the id (for asyncpg)

    def tuples(self) -> bytes:
        data = self.copy_file.read_bytes()
        (extension,) = struct.unpack_from("!i", data, len(COPY_HEADER) - 4)
        start = len(COPY_HEADER) + extension
        assert data[: len(COPY_HEADER) - 4] == COPY_HEADER[:-4] and data[-2:] == COPY_TRAILER
        return data[start:-2]


async def encode_limit_rows(admin_url: str, requests: list[ExportLogsServiceRequest], copy_file: Path) -> LimitRows:
    """Map the requests as the server does, store them once as its writer does, and let
    PostgreSQL write them out in its binary COPY format: the limit then measures loading, not
    encoding."""
    url, database = await fresh_database(admin_url, "bench_encode")
    conn = await connect(url)
    try:
        await migrate.apply(conn)
        received = datetime.now(timezone.utc)
        rows = [row for request in requests for row in map_request(request, received).rows]
        records = asyncpg_records(rows, range(1, len(rows) + 1))
        await conn.copy_records_to_table("activity_logs", records=records, columns=COPY_COLUMNS)
        await conn.copy_from_query(f"SELECT id - 1, {LIMIT_COLUMNS} FROM activity_logs ORDER BY id",
                                   output=str(copy_file), format="binary")  # fmt: skip
    finally:
        await conn.close()
        await drop_database(admin_url, database)
    return LimitRows(copy_file, [record[1:] for record in records])


async def _copies_back_to_back(admin_url: str, monitor: asyncpg.Connection, visible: bool, seconds: float,
                               name: str, prepare: Callable[[int], Any],
                               copy_once: Callable[[asyncpg.Connection, Any], Awaitable[int]]) -> Measurement:  # fmt: skip
    """COPYs into a fresh, migrated database one after another for ``seconds`` of COPY time (each
    its own transaction), metered: ``prepare(first_id)`` gives the next load its ids, off the
    clock, and ``copy_once(conn, prepared)`` runs it and returns the rows it copied."""
    url, database = await fresh_database(admin_url, name)
    conn = await connect(url)
    await migrate.apply(conn)
    meter = CpuMeter(monitor, database, os.getpid(), visible)
    async with meter.watching():
        copied, elapsed = 0, 0.0
        meter.start()
        while elapsed < seconds:
            prepared = prepare(copied + 1)
            started = time.perf_counter()
            copied += await copy_once(conn, prepared)
            elapsed += time.perf_counter() - started
        meter.stop()
    await conn.close()
    stored = await count_rows(url)
    await drop_database(admin_url, database)
    assert stored == copied, f"{copied} rows copied but {stored} are stored"
    return Measurement(copied / elapsed, stored, meter.receiver_cpu_s, meter.backend_cpu_s, meter.machine)


async def bench_limit(admin_url: str, monitor: asyncpg.Connection, visible: bool, seconds: float,
                      limit_rows: LimitRows) -> Measurement:  # fmt: skip
    """Load the pre-encoded rows back to back, each load one COPY FROM STDIN of PostgreSQL's own
    encoding, streamed as it is but for the ids (fresh for each load, given off the clock)."""
    tuples = limit_rows.tuples()
    count = len(limit_rows.records)

    def prepare(first_id: int) -> bytes:
        return assign_ids(tuples, [(first_id, count)])

    async def copy_once(conn: asyncpg.Connection, prepared: bytes) -> int:
        return await copy_tuples(conn, [prepared])

    return await _copies_back_to_back(admin_url, monitor, visible, seconds, "bench_limit", prepare, copy_once)


async def bench_limit_sequence(admin_url: str, monitor: asyncpg.Connection, visible: bool, seconds: float,
                               limit_rows: LimitRows) -> Measurement:  # fmt: skip
    """The same rows without their ids, which the column's sequence gives, one ``nextval`` per
    row: what ``psql \\copy`` of a file without ids does (the issue's definition of the limit)."""
    without_ids = b"".join(struct.pack("!h", len(COPY_COLUMNS) - 1) + part[14:]
                           for part in split_tuples(limit_rows.tuples()))  # fmt: skip
    columns = [column for column in COPY_COLUMNS if column != "id"]

    async def copy_once(conn: asyncpg.Connection, prepared: bytes) -> int:
        return await copy_tuples(conn, [prepared], columns)

    return await _copies_back_to_back(admin_url, monitor, visible, seconds, "bench_limit",
                                      lambda first_id: without_ids, copy_once)  # fmt: skip


async def bench_asyncpg_copy(admin_url: str, monitor: asyncpg.Connection, visible: bool, seconds: float,
                             limit_rows: LimitRows) -> Measurement:  # fmt: skip
    """The limit's rows and batch size, but encoded by asyncpg from Python tuples on every COPY."""
    def prepare(first_id: int) -> list[tuple]:
        return [(row_id, *record) for row_id, record in enumerate(limit_rows.records, start=first_id)]

    async def copy_records(conn: asyncpg.Connection, records: list[tuple]) -> int:
        await conn.copy_records_to_table("activity_logs", records=records, columns=COPY_COLUMNS)
        return len(records)

    return await _copies_back_to_back(admin_url, monitor, visible, seconds, "bench_asyncpg", prepare, copy_records)


# --- naive baseline ---------------------------------------------------------------------------


async def bench_naive_insert(admin_url: str, monitor: asyncpg.Connection, visible: bool, seconds: float,
                             requests: list[ExportLogsServiceRequest]) -> Measurement:  # fmt: skip
    """The straightforward design: multi-row INSERT of 100 rows into its schema (foreign keys, ten indexes)."""
    url, database = await fresh_database(admin_url, "bench_naive")
    conn = await connect(url)
    await conn.execute(NAIVE_SCHEMA)
    level_ids = {r["name"]: r["id"] for r in await conn.fetch("SELECT id, name FROM activity_log_levels")}
    source_ids = {r["name"]: r["id"] for r in await conn.fetch("SELECT id, name FROM activity_log_sources")}
    received = datetime.now(timezone.utc)
    rows = [row for request in requests for row in map_request(request, received).rows]
    per_row = 12
    placeholders = ",".join(
        "(" + ",".join(f"${i * per_row + j + 1}" for j in range(per_row)) + ")" for i in range(100)
    )
    sql = (
        "INSERT INTO activity_logs (timestamp, level_id, source_id, message, fields, category, entity_type, "
        f"entity_id, user_id, job_id, project_id, trace_id) VALUES {placeholders}"
    )
    statement = await conn.prepare(sql)
    chunks = []
    for start in range(0, len(rows) - 99, 100):
        args = []
        for row in rows[start : start + 100]:
            args += [row.timestamp, level_ids[row.level], source_ids[row.source], row.message,
                     json.dumps(row.fields).encode(), row.category, row.entity_type, row.entity_id,
                     row.user_id, row.job_id, row.project_id, row.trace_id]  # fmt: skip
        chunks.append(args)
    meter = CpuMeter(monitor, database, os.getpid(), visible)
    async with meter.watching():
        inserted = 0
        meter.start()
        started = time.perf_counter()
        i = 0
        while time.perf_counter() - started < seconds:
            await statement.fetch(*chunks[i % len(chunks)])  # each its own transaction, a flush of 100 rows
            inserted += 100
            i += 1
        elapsed = time.perf_counter() - started
        meter.stop()
    await conn.close()
    stored = await count_rows(url)
    await drop_database(admin_url, database)
    return Measurement(inserted / elapsed, stored, meter.receiver_cpu_s, meter.backend_cpu_s, meter.machine)


# --- plumbing ---------------------------------------------------------------------------------


def database_name(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}"


async def fresh_database(admin_url: str, prefix: str) -> tuple[str, str]:
    """A new empty database; (its URL, its name)."""
    name = database_name(prefix)
    return await create_database(admin_url, name), name


async def count_rows(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SELECT count(*) FROM activity_logs")
    finally:
        await conn.close()


async def drop_databases(admin_url: str) -> None:
    for prefix in ("bench_encode", "bench_limit", "bench_http", "bench_grpc", "bench_naive", "bench_asyncpg"):
        await drop_database(admin_url, database_name(prefix))


def fmt_us(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs of every measurement (ratios: min/median/max)")
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each measurement")
    parser.add_argument("--clients", type=int, default=6, help="client processes per transport")
    parser.add_argument("--paths", default=",".join(p.key for p in PATHS),
                        help="comma-separated paths to measure (limit is always measured): "
                             + ", ".join(p.key for p in PATHS) + "; default: all")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()

    rng = random.Random(42)
    requests = [build_request(rng) for _ in range(40)]
    reachable = await _reachable(args.database_url)
    if not reachable:
        print("(no PostgreSQL at --database-url: using an embedded one)")
    with tempfile.TemporaryDirectory(prefix="bench-pg-") as data_dir, \
            tempfile.TemporaryDirectory(prefix="bench-ingest-") as scratch_dir:  # fmt: skip
        async with running_postgres(args.database_url if reachable else None, Path(data_dir)) as admin_url:
            try:
                await bench(admin_url, args, requests, Path(scratch_dir))
            finally:
                await drop_databases(admin_url)


async def bench(admin_url: str, args: argparse.Namespace, requests: list[ExportLogsServiceRequest],
                scratch_dir: Path) -> None:  # fmt: skip
    limit_rows = await encode_limit_rows(admin_url, requests[:LIMIT_REQUESTS_PER_COPY], scratch_dir / "limit.pgcopy")
    monitor = await asyncpg.connect(admin_url)  # on the admin database: its own backend is never counted
    visible = await backends_visible(monitor)
    print(f"ingest benchmark: {args.runs} runs, {args.seconds:g} s per measurement, {args.clients} client "
          f"processes per transport, {RECORDS_PER_REQUEST} records/request; limit: {LIMIT_ROWS_PER_COPY:,} rows "
          f"per COPY ({limit_rows.copy_file.stat().st_size / LIMIT_ROWS_PER_COPY:.0f} bytes/row encoded)")  # fmt: skip
    if not visible:
        print("(PostgreSQL's backends are not processes of this machine: their CPU is not measured)")
    # One untimed load first: the first measurement of a fresh process otherwise starts cold.
    await bench_limit(admin_url, monitor, visible, 1.0, limit_rows)
    wanted = {"limit", *args.paths.split(",")}
    unknown = wanted - {p.key for p in PATHS}
    if unknown:
        raise SystemExit(f"unknown --paths: {', '.join(sorted(unknown))} (known: {', '.join(p.key for p in PATHS)})")
    paths = [p for p in PATHS if p.key in wanted]
    runs: list[dict[str, Measurement]] = []
    try:
        for run in range(1, args.runs + 1):
            measure: dict[str, Callable[[], Awaitable[Measurement]]] = {
                "limit": lambda: bench_limit(admin_url, monitor, visible, args.seconds, limit_rows),
                "sequence": lambda: bench_limit_sequence(admin_url, monitor, visible, args.seconds, limit_rows),
                "http": lambda: bench_ours(admin_url, monitor, visible, "http", args.seconds, args.clients),
                "grpc": lambda: bench_ours(admin_url, monitor, visible, "grpc", args.seconds, args.clients),
                "serial": lambda: bench_ours(admin_url, monitor, visible, "grpc", args.seconds, args.clients,
                                             flushes_in_flight=1),
                "grpc4": lambda: bench_ours(admin_url, monitor, visible, "grpc", args.seconds, args.clients,
                                            flushes_in_flight=4),
                "python": lambda: bench_ours(admin_url, monitor, visible, "grpc", args.seconds, args.clients, native=False),
                "workers": lambda: bench_ours(admin_url, monitor, visible, "grpc", args.seconds, args.clients, workers=2),
                "naive": lambda: bench_naive_insert(admin_url, monitor, visible, args.seconds, requests),
                "asyncpg": lambda: bench_asyncpg_copy(admin_url, monitor, visible, args.seconds, limit_rows),
            }
            results = {path.key: await measure[path.key]() for path in paths}
            runs.append(results)
            limit = results["limit"].rows_per_s
            print(f"run {run}/{args.runs}")
            print(f"  {'path':<42} {'rows/s':>9} {'÷ limit':>8} {'receiver µs/rec':>16} {'backend µs/rec':>15} "
                  f"{'clients µs/rec':>15} {'CPUs busy':>10} {'steal':>6}")  # fmt: skip
            for path in paths:
                result = results[path.key]
                print(f"  {path.label:<42} {result.rows_per_s:>9,.0f} {result.rows_per_s / limit:>8.2f} "
                      f"{fmt_us(result.receiver_us_per_row()):>16} {fmt_us(result.backend_us_per_row()):>15} "
                      f"{fmt_us(result.clients_us_per_row()):>15} {result.machine.busy:>10.0%} "
                      f"{result.machine.steal:>6.0%}")  # fmt: skip
            sys.stdout.flush()
    finally:
        await monitor.close()
    print("receiver µs/rec: the server process for ours; for the others this process, which streams the file "
          "(limit) or encodes the rows (naive, asyncpg); backend µs/rec: the PostgreSQL backends of the path's "
          "database; clients µs/rec: the OTLP client processes'; CPUs busy: the whole machine's CPUs, any "
          "process (PostgreSQL's WAL writer and other work on the machine included); steal: taken by the hypervisor")
    print(f"over {args.runs} runs: ratios min / median / max, the rest medians")
    print(f"  {'path':<42} {'÷ limit':>18} {'rows/s':>9} {'receiver µs/rec':>16} {'backend µs/rec':>15} "
          f"{'clients µs/rec':>15} {'CPUs busy':>10}")  # fmt: skip

    def median_of(values: list[float | None]) -> float | None:
        return None if None in values else statistics.median(values)

    for path in paths[1:]:
        measured = [results[path.key] for results in runs]
        ratios = [results[path.key].rows_per_s / results["limit"].rows_per_s for results in runs]
        rate = statistics.median(m.rows_per_s for m in measured)
        receiver = statistics.median(m.receiver_us_per_row() for m in measured)
        backend = median_of([m.backend_us_per_row() for m in measured])
        clients = median_of([m.clients_us_per_row() for m in measured])
        busy = statistics.median(m.machine.busy for m in measured)
        print(f"  {path.label:<42} {spread(ratios, '.2f'):>18} {rate:>9,.0f} {fmt_us(receiver):>16} "
              f"{fmt_us(backend):>15} {fmt_us(clients):>15} {busy:>10.0%}")  # fmt: skip
    limits = [results["limit"] for results in runs]
    limit_rate = statistics.median(m.rows_per_s for m in limits)
    limit_receiver = statistics.median(m.receiver_us_per_row() for m in limits)
    limit_backend = median_of([m.backend_us_per_row() for m in limits])
    limit_busy = statistics.median(m.machine.busy for m in limits)
    print(f"  {PATHS[0].label:<42} {'':>18} {limit_rate:>9,.0f} {fmt_us(limit_receiver):>16} "
          f"{fmt_us(limit_backend):>15} {'':>15} {limit_busy:>10.0%}")  # fmt: skip

    def compare(key: str, over: str, spec: str, text: str) -> None:
        if key in wanted and over in wanted:
            ratios = [results[key].rows_per_s / results[over].rows_per_s for results in runs]
            print(f"  {PATHS_BY_KEY[key].label:<42} {spread(ratios, spec):>18} {text}")

    for key in ("http", "grpc"):
        compare(key, "sequence", ".2f", "÷ limit with ids by nextval (psql \\copy)")
    for key in ("http", "grpc"):
        compare(key, "naive", ".1f", "× naive")
    compare("workers", "grpc", ".2f", "× --workers 1 (gRPC)")
    compare("grpc", "serial", ".2f", "× one flush at a time (gRPC)")
    # CPU per record differs from machine to machine by a factor of two or more here: the
    # receiver's is also given over PostgreSQL's own, the limit backend's, of the same run.
    if None not in (m.backend_cpu_s for m in limits):
        for path in paths[1:]:
            if path.key in ("naive", "asyncpg", "sequence"):
                continue
            shares = [results[path.key].receiver_us_per_row() / results["limit"].backend_us_per_row() for results in runs]
            print(f"  {path.label:<42} {spread(shares, '.2f'):>18} receiver µs/rec ÷ the limit's backend µs/row")
    print(f"goals: ours ≥ 0.85 × limit over each transport; receiver ≤ {GOAL_RECEIVER_US:g} µs/record, set where "
          f"PostgreSQL's backend took {GOAL_BACKEND_US} µs/row for its own COPY, so ≤ {RECEIVER_GOAL_SHARE:.2f} × the limit's "
          f"backend µs/row")


def spread(values: list[float], spec: str) -> str:
    return " / ".join(format(v, spec) for v in (min(values), statistics.median(values), max(values)))


async def _reachable(url: str) -> bool:
    try:
        await (await asyncpg.connect(url)).close()
    except (OSError, asyncpg.PostgresError):
        return False
    return True


if __name__ == "__main__":
    asyncio.run(main())
