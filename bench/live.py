"""Live-tail fan-out: N WebSocket subscribers while records are ingested at a fixed rate.

- A fresh database on the given PostgreSQL (default 127.0.0.1:5432), migrated, with an ingest
  token; the server runs as a separate process (``activity-console serve``) with a known JWT key.
- A generator process sends pre-encoded OTLP/HTTP protobuf requests at a fixed rate; the
  ``time_unix_nano`` of every record is patched in the bytes to the moment of sending (fixed64,
  so a byte replacement, no re-encoding), so the record's timestamp is its send time.
- Subscriber processes (the N clients split over ``--client-processes``) authenticate, subscribe
  with no filter but ``sources=["worker"]`` (the generator's source), count every entry, and record
  in a 1 ms histogram, for every entry of a frame, ``arrival - timestamp of the frame's oldest
  entry``: an upper bound of each entry's latency that costs the client per frame, not per entry.

Prints p50/p95/p99 latency and the share of entries delivered (entries received / (records
acknowledged × subscribers)). Goal: p95 < 250 ms. Runs for ``--seconds`` then stops by itself.

    .venv/bin/python bench/live.py [--subscribers 200] [--rate 5000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest  # noqa: E402
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue  # noqa: E402

from api.security import Principal, TokenSigner  # noqa: E402
from collector.auth import create_token  # noqa: E402
from collector.db import migrate  # noqa: E402
import server_process  # noqa: E402
from databases import create_database, drop_database  # noqa: E402
from server_process import free_port, wait_ready, wait_workers  # noqa: E402
from collector.db.connect import connect  # noqa: E402

RECORDS_PER_REQUEST = 50  # the default; --records-per-request 1 measures lone records
SENTINEL_NS = 0x0F1E2D3C4B5A6978  # a time_unix_nano no real record has; replaced on sending
ENTRIES_PREFIX = '{"type":"entries"'
TIMESTAMP = re.compile(r'"timestamp":"([^"]+)"')
JWT_SECRET = "bench-live-jwt-secret-0123456789abcdefghijklmnop"


# --- generator ---------------------------------------------------------------------------------


def encoded_request(variant: int, records: int) -> bytes:
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    for key, value in (("service.name", "bench-worker"), ("activity.source", "worker")):
        resource_logs.resource.attributes.append(KeyValue(key=key, value=AnyValue(string_value=value)))
    scope_logs = resource_logs.scope_logs.add()
    scope_logs.scope.name = "bench"
    for i in range(records):
        record = scope_logs.log_records.add()
        record.time_unix_nano = SENTINEL_NS
        record.severity_number = 9
        record.severity_text = "INFO"
        record.body.string_value = f"rendered frame {variant}.{i} of job 42 in 118 ms on gpu 1"
        for key, value in (("activity.job.id", AnyValue(int_value=42)), ("frame", AnyValue(int_value=i)),
                           ("stage", AnyValue(string_value="render"))):  # fmt: skip
            record.attributes.append(KeyValue(key=key, value=value))
    return request.SerializeToString()


def run_generator(url: str, token: str, rate: float, seconds: float, records: int,
                  result: "multiprocessing.Queue[tuple[int, int]]") -> None:  # fmt: skip
    asyncio.run(_generate(url, token, rate, seconds, records, result))


async def _generate(url: str, token: str, rate: float, seconds: float, records: int, result) -> None:
    templates = [encoded_request(v, records) for v in range(8)]
    sentinel = struct.pack("<Q", SENTINEL_NS)
    assert all(t.count(sentinel) == records for t in templates)
    interval = records / rate
    slots = int(seconds / interval)
    acknowledged = failed = 0
    headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {token}"}
    start = time.monotonic() + 0.2
    senders = 128  # concurrent requests (many services send at once); each waits for its commit

    async def sender(session: aiohttp.ClientSession, first: int) -> None:
        nonlocal acknowledged, failed
        for slot in range(first, slots, senders):
            delay = start + slot * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            body = templates[slot % len(templates)].replace(sentinel, struct.pack("<Q", time.time_ns()))
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status == 200:
                    acknowledged += records
                else:
                    failed += records

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=senders)) as session:
        await asyncio.gather(*(sender(session, k) for k in range(senders)))
    result.put((acknowledged, failed, time.monotonic() - start))


# --- subscribers -------------------------------------------------------------------------------


def run_subscribers(ws_url: str, token: str, count: int, ready, go, stop, result) -> None:
    asyncio.run(_subscribe(ws_url, token, count, ready, go, stop, result))


async def _subscribe(ws_url: str, token: str, count: int, ready, go, stop, result) -> None:
    histogram: Counter[int] = Counter()  # latency in ms → entries
    received = [0] * count
    lagged = [0] * count
    epoch_of: dict[str, float] = {}

    def epoch(ts: str) -> float:
        value = epoch_of.get(ts)
        if value is None:
            if len(epoch_of) > 100_000:
                epoch_of.clear()
            value = epoch_of[ts] = datetime.fromisoformat(ts).timestamp()
        return value

    async def client(session: aiohttp.ClientSession, index: int) -> None:
        async with session.ws_connect(ws_url, max_msg_size=64 * 1024 * 1024) as ws:
            await ws.send_json({"action": "auth", "token": token})
            await ws.send_json({"action": "subscribe", "sources": ["worker"]})
            assert orjson.loads((await ws.receive()).data)["type"] == "subscribed"
            ready.release()
            async for message in ws:
                arrival = time.time()
                text = message.data
                if text.startswith(ENTRIES_PREFIX):
                    # The client's cost must stay (nearly) per frame, not per entry: at the goal's
                    # load the subscribers share two cores with the server and receive a million
                    # entries a second. So every entry of a frame is given the latency of the
                    # frame's OLDEST entry, an upper bound on its own; the timestamps are RFC 3339
                    # UTC of one width, so the oldest is their minimum as strings (found in C).
                    stamps = TIMESTAMP.findall(text)
                    received[index] += len(stamps)
                    if stamps:
                        histogram[int((arrival - epoch(min(stamps))) * 1000)] += len(stamps)
                else:
                    frame = orjson.loads(text)
                    if frame["type"] == "lagged":
                        lagged[index] += frame["skipped"]

    async with aiohttp.ClientSession() as session:
        tasks = [asyncio.create_task(client(session, i), name=f"bench-subscriber-{i}") for i in range(count)]
        await asyncio.to_thread(stop.wait)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    result.put((dict(histogram), received, lagged))


def percentile(histogram: Counter[int], share: float) -> int:
    total = sum(histogram.values())
    seen = 0
    for latency in sorted(histogram):
        seen += histogram[latency]
        if seen >= share * total:
            return latency
    return -1


# --- orchestration -----------------------------------------------------------------------------


async def prepare_database(admin_url: str, name: str) -> tuple[str, str]:
    url = await create_database(admin_url, name)
    conn = await connect(url)
    try:
        await migrate.apply(conn)
        token, _ = await create_token(conn, "bench-live")
    finally:
        await conn.close()
    return url, token


def server_command(profile_path: str | None) -> list[str]:
    """``activity-console`` in a fresh interpreter, optionally under cProfile."""
    if profile_path:
        return [sys.executable, "-m", "cProfile", "-o", profile_path, "-m", "api.cli"]
    return [sys.executable, "-c", "import sys; from api.cli import main; sys.exit(main())"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--rate", type=float, default=5000, help="records per second")
    parser.add_argument("--records-per-request", type=int, default=RECORDS_PER_REQUEST,
                        help="records in each OTLP request (1 with a low --rate: a lone record's latency)")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1, help="serve --workers: the subscribers and the OTLP "
                        "requests spread over them (the kernel deals out the connections)")
    parser.add_argument("--profile-server", metavar="PATH", help="run the server under cProfile, stats to PATH")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()

    db_name = f"ac_bench_live_{os.getpid()}"
    database_url, ingest_token = asyncio.run(prepare_database(args.database_url, db_name))
    http_port, otlp_http_port, otlp_grpc_port = free_port(), free_port(), free_port()
    data_dir = tempfile.mkdtemp(prefix="ac-bench-live-")
    # All subscribers are one user here: lift the per-user limit on live tails (20 by default).
    env = {**os.environ, "ACTIVITY_JWT_SECRET": JWT_SECRET, "ACTIVITY_LOG_LEVEL": "WARNING",
           "ACTIVITY_LIVE_TAILS_PER_USER": str(args.subscribers + 10), "ACTIVITY_WORKERS": str(args.workers)}  # fmt: skip
    server = subprocess.Popen(
        [*server_command(args.profile_server), "serve",
         "--database-url", database_url, "--data-dir", data_dir, "--http-port", str(http_port),
         "--otlp-http-port", str(otlp_http_port), "--otlp-grpc-port", str(otlp_grpc_port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    context = multiprocessing.get_context("spawn")
    processes: list[multiprocessing.Process] = []
    try:
        wait_ready(server, http_port)
        wait_workers(http_port, args.workers)
        jwt_token, _ = TokenSigner(JWT_SECRET, 3600).issue(Principal(user_id=1, email="bench@localhost", role="admin"))
        ready, go, stop = context.Semaphore(0), context.Event(), context.Event()
        results = context.Queue()
        per_process = [args.subscribers // args.client_processes + (i < args.subscribers % args.client_processes)
                       for i in range(args.client_processes)]  # fmt: skip
        for count in per_process:
            process = context.Process(
                target=run_subscribers, name="bench-subscribers",
                args=(f"ws://127.0.0.1:{http_port}/ws/activity-logs", jwt_token, count, ready, go, stop, results),
            )  # fmt: skip
            process.start()
            processes.append(process)
        for _ in range(args.subscribers):
            if not ready.acquire(timeout=60):
                raise RuntimeError("subscribers did not connect")
        generated = context.Queue()
        generator = context.Process(
            target=run_generator, name="bench-generator",
            args=(f"http://127.0.0.1:{otlp_http_port}/v1/logs", ingest_token, args.rate, args.seconds, args.records_per_request, generated),
        )  # fmt: skip
        generator.start()
        processes.append(generator)
        acknowledged, failed, elapsed = generated.get(timeout=args.seconds + 120)
        time.sleep(3.0)  # let the last commits fan out
        stop.set()
        histogram: Counter[int] = Counter()
        received: list[int] = []
        lagged: list[int] = []
        for _ in per_process:
            part_histogram, part_received, part_lagged = results.get(timeout=60)
            histogram.update({int(k): v for k, v in part_histogram.items()})
            received += part_received
            lagged += part_lagged
    finally:
        server_process.stop(server, timeout=30)
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
        asyncio.run(drop_database(args.database_url, db_name))

    expected = acknowledged * args.subscribers
    print(f"subscribers {args.subscribers}, target rate {args.rate}/s, {args.seconds:.0f} s, "
          f"{args.records_per_request} records per OTLP/HTTP request, {args.workers} server process(es)")  # fmt: skip
    print(f"ingested: {acknowledged} records acknowledged ({acknowledged / elapsed:.0f}/s), {failed} refused")
    print(f"delivered: {sum(received)} of {expected} entries ({100 * sum(received) / max(expected, 1):.2f} %); "
          f"skipped (lagged) {sum(lagged)}; subscribers complete: {sum(r == acknowledged for r in received)}/{len(received)}")  # fmt: skip
    print(f"latency record timestamp → client: p50 {percentile(histogram, 0.5)} ms, "
          f"p95 {percentile(histogram, 0.95)} ms, p99 {percentile(histogram, 0.99)} ms, max {max(histogram, default=-1)} ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
