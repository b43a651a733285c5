"""Ingest throughput: records/s committed through the whole OTLP path, next to two baselines
measured in the same run on the same PostgreSQL (this machine is noisy: compare ratios).

Each record is shaped like a worker's log line: a message, a severity, trace and span ids, the
activity attributes (category, job, project, user) and eight structured fields.

1. limit: a bare asyncpg binary COPY of the same rows into the same schema;
2. ours:  pre-encoded OTLP/HTTP protobuf requests (512 records, the SDK's batch size) sent from
          separate client processes to the running server, counting records acknowledged
          (an acknowledgement means committed);
3. naive: the straightforward design, a multi-row INSERT of 100 per transaction into a schema
          with foreign keys and ten indexes.

Goals: ours ≥ 0.6 × limit (the writer costs little over COPY itself) and ≥ 4 × naive (the
schema and the batching earn their complexity).

    .venv/bin/python bench/ingest.py [--seconds 10] [--clients 6] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest  # noqa: E402

from api.runner import running_server  # noqa: E402
from api.settings import Settings  # noqa: E402
from collector.auth import create_token  # noqa: E402
from collector.db import migrate  # noqa: E402
from collector.db.connect import connect, running_postgres  # noqa: E402
from collector.mapping import map_request  # noqa: E402
from collector.writer import COPY_COLUMNS, copy_records  # noqa: E402
from otlp_load import RECORDS_PER_REQUEST, build_request, run_clients, spawn_clients  # noqa: E402

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

# --- client processes -------------------------------------------------------------------------


async def bench_ours(admin_url: str, seconds: float, clients: int) -> float:
    url = await fresh_database(admin_url, "bench_ours")
    conn = await connect(url)
    await migrate.apply(conn)
    token, _ = await create_token(conn, "bench")
    await conn.close()
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(database_url=url, data_dir=Path(data_dir), http_port=0, otlp_grpc_port=0,
                            otlp_http_port=0, bootstrap=False, max_pending_rows=200_000)  # fmt: skip
        async with running_server(settings) as server:  # as `activity-console serve` runs it
            clients_running = spawn_clients(clients, server.runtime.otlp_http_port, token, seconds)
            outcomes = await asyncio.to_thread(run_clients, clients_running)
    acked = sum(o[0] for o in outcomes)
    refused = sum(o[1] for o in outcomes)
    elapsed = max(o[2] for o in outcomes)
    stored = await count_rows(url)
    assert stored >= acked, f"acknowledged {acked} but only {stored} stored"
    if refused:
        print(f"  (ours: {refused} requests refused with a retryable status)")
    return acked / elapsed


# --- baselines --------------------------------------------------------------------------------


async def bench_copy_limit(admin_url: str, seconds: float, requests: list[ExportLogsServiceRequest]) -> float:
    """Bare binary COPY of the same rows into the same schema, rows prepared beforehand."""
    url = await fresh_database(admin_url, "bench_copy")
    conn = await connect(url)
    await migrate.apply(conn)
    level_ids = {r["name"]: r["id"] for r in await conn.fetch("SELECT id, name FROM activity_log_levels")}
    source_ids = {r["name"]: r["id"] for r in await conn.fetch("SELECT id, name FROM activity_log_sources")}
    batches = []
    next_id = 1
    received = datetime.now(timezone.utc)
    for request in requests:
        rows = map_request(request, received).rows
        batches.append(copy_records(rows, list(range(next_id, next_id + len(rows))), level_ids, source_ids))
        next_id += len(rows)
    # Ids must stay unique across repeated batches: COPY without the id column, as a bare client would.
    columns = COPY_COLUMNS[1:]
    batches = [[record[1:] for record in batch] for batch in batches]
    copied = 0
    started = time.perf_counter()
    i = 0
    while time.perf_counter() - started < seconds:
        async with conn.transaction():
            # Ten 512-row COPYs per transaction (~5,000 rows), at least what our writer commits
            # per flush under this load, so the limit is not handicapped by commit overhead.
            for batch in batches[i % len(batches) : i % len(batches) + 10]:
                await conn.copy_records_to_table("activity_logs", records=batch, columns=columns)
                copied += len(batch)
        i += 10
    elapsed = time.perf_counter() - started
    await conn.close()
    return copied / elapsed


async def bench_naive_insert(admin_url: str, seconds: float, requests: list[ExportLogsServiceRequest]) -> float:
    """The straightforward design: multi-row INSERT of 100 rows into its schema (foreign keys, ten indexes)."""
    url = await fresh_database(admin_url, "bench_naive")
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
    inserted = 0
    started = time.perf_counter()
    i = 0
    while time.perf_counter() - started < seconds:
        await statement.fetch(*chunks[i % len(chunks)])  # each its own transaction, a flush of 100 rows
        inserted += 100
        i += 1
    elapsed = time.perf_counter() - started
    await conn.close()
    return inserted / elapsed


# --- plumbing ---------------------------------------------------------------------------------


async def fresh_database(admin_url: str, prefix: str) -> str:
    name = f"{prefix}_{os.getpid()}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await admin.execute(f"CREATE DATABASE {name}")
    await admin.close()
    return urlunsplit(urlsplit(admin_url)._replace(path="/" + name))


async def count_rows(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SELECT count(*) FROM activity_logs")
    finally:
        await conn.close()


async def drop_databases(admin_url: str) -> None:
    admin = await asyncpg.connect(admin_url)
    for prefix in ("bench_ours", "bench_copy", "bench_naive"):
        await admin.execute(f"DROP DATABASE IF EXISTS {prefix}_{os.getpid()} WITH (FORCE)")
    await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each measurement")
    parser.add_argument("--clients", type=int, default=6, help="client processes sending OTLP/HTTP")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()

    rng = random.Random(42)
    requests = [build_request(rng) for _ in range(40)]
    reachable = await _reachable(args.database_url)
    if not reachable:
        print("(no PostgreSQL at --database-url: using an embedded one)")
    with tempfile.TemporaryDirectory(prefix="bench-pg-") as data_dir:
        async with running_postgres(args.database_url if reachable else None, Path(data_dir)) as admin_url:
            try:
                await bench(admin_url, args, requests)
            finally:
                await drop_databases(admin_url)


async def bench(admin_url: str, args: argparse.Namespace, requests: list[ExportLogsServiceRequest]) -> None:
    print(f"ingest benchmark: {args.seconds:.0f} s each, {args.clients} client processes, "
          f"{RECORDS_PER_REQUEST} records/request")  # fmt: skip
    limit = await bench_copy_limit(admin_url, args.seconds, requests)
    print(f"  limit  bare binary COPY, same rows and schema   {limit:>9,.0f} records/s")
    ours = await bench_ours(admin_url, args.seconds, args.clients)
    print(f"  ours   OTLP/HTTP → map → writer → COPY → ack     {ours:>9,.0f} records/s")
    naive = await bench_naive_insert(admin_url, args.seconds, requests)
    print(f"  naive  multi-row INSERT of 100, indexed schema  {naive:>9,.0f} records/s")
    print(f"ratios: ours/limit = {ours / limit:.2f} (goal ≥ 0.6)   ours/naive = {ours / naive:.1f}× (goal ≥ 4)")

async def _reachable(url: str) -> bool:
    try:
        await (await asyncpg.connect(url)).close()
    except (OSError, asyncpg.PostgresError):
        return False
    return True


if __name__ == "__main__":
    asyncio.run(main())
