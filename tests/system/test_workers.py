"""``activity-console serve --workers 2``: two server processes share the ports; a live tail on
either gets what both ingest; a worker killed with SIGKILL under load is started again, the other
keeps serving, and every acknowledged record is stored."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import psutil
import pytest

from tests.support.live import receive_json
from tests.support.otlp import request_with
from tests.support.serve_process import REPO_ROOT

pytestmark = pytest.mark.timeout(180)


class Workers:
    def __init__(self, database_url: str, data_dir: Path):
        self.data_dir = data_dir
        env = {k: v for k, v in os.environ.items() if not k.startswith("ACTIVITY_")}
        env.update(DATABASE_URL=database_url, ACTIVITY_LOG_LEVEL="WARNING", ACTIVITY_ADMIN_PASSWORD="a-long-first-passphrase")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--workers", "2", "--data-dir", str(data_dir),
             "--http-port", "0", "--otlp-grpc-port", "0", "--otlp-http-port", "0"],
            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        banner = ""
        deadline = time.monotonic() + 90
        while "Workers:" not in banner or "(OTLP/HTTP exporters" not in banner:
            line = self.process.stdout.readline()
            assert line and time.monotonic() < deadline, f"no banner: {banner!r}"
            banner += line
        self.banner = banner
        self.api_url = re.search(r"Console:\s+(http://\S+)/", banner)[1].replace("localhost", "127.0.0.1")
        self.otlp_http_url = re.search(r"OTLP/HTTP:\s+(http://\S+)", banner)[1].replace("localhost", "127.0.0.1")
        self.token = (data_dir / "ingest-token.txt").read_text().strip()

    def workers(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(60)


async def _send(session: aiohttp.ClientSession, server: Workers, message: str, records: int = 20) -> int:
    """One OTLP request on a new connection (so that the kernel may give it to either worker)."""
    body = request_with([{"body": f"{message}.{i}"} for i in range(records)]).SerializeToString()
    try:
        async with session.post(server.otlp_http_url, data=body, headers={
            "Content-Type": "application/x-protobuf", "Authorization": f"Bearer {server.token}",
            "Connection": "close"}) as response:  # fmt: skip
            return response.status
    except aiohttp.ClientError:
        return 0  # (a worker killed with the connection open): the sender retries


async def _send_until_acknowledged(session, server, message: str) -> None:
    while await _send(session, server, message) != 200:
        await asyncio.sleep(0.05)


async def _login(session: aiohttp.ClientSession, server: Workers) -> str:
    async with session.post(f"{server.api_url}/api/v1/auth/login",
                            json={"email": "admin@localhost", "password": "a-long-first-passphrase"}) as response:  # fmt: skip
        assert response.status == 200, await response.text()
        return (await response.json())["token"]


async def _stored_by_worker(session: aiohttp.ClientSession, server: Workers) -> dict[str, float]:
    """Each worker's count of stored OTLP/HTTP records, from /metrics scraped on new connections
    until both have answered."""
    counts: dict[str, float] = {}
    for _ in range(200):
        async with session.get(f"{server.api_url}/metrics", headers={"Connection": "close"}) as response:
            text = await response.text()
        index = re.search(r'^activity_worker\{index="(\d+)"\} 1', text, re.M)[1]
        stored = re.search(r'^activity_ingest_records_total\{outcome="stored",protocol="http"\} ([0-9.e+]+)', text, re.M)
        counts[index] = float(stored[1]) if stored else 0.0
        if len(counts) == 2:
            break
    return counts


async def test_two_workers_share_the_ports_and_one_live_tail(database_url, tmp_path, db):
    server = await asyncio.to_thread(Workers, database_url, tmp_path / "data")
    try:
        assert len(server.workers()) == 2
        async with aiohttp.ClientSession() as session:
            token = await _login(session, server)
            ws = await session.ws_connect(server.api_url.replace("http", "ws") + "/ws/activity-logs")
            await ws.send_json({"action": "auth", "token": token})
            await ws.send_json({"action": "subscribe", "search": "shared "})
            assert (await receive_json(ws))["type"] == "subscribed"
            for start in range(0, 200, 20):
                await asyncio.gather(*(_send_until_acknowledged(session, server, f"shared {n}") for n in range(start, start + 20)))
            received: set[str] = set()
            while len(received) < 200 * 20:
                try:
                    frame = await receive_json(ws, timeout=20)
                except TimeoutError:
                    raise AssertionError(f"live tail got {len(received)} of 4000; missing e.g. {sorted({f'shared {n}.{i}' for n in range(200) for i in range(20)} - received)[:5]}")
                assert frame["type"] == "entries", frame
                received.update(e["message"] for e in frame["entries"])
            await ws.close()
            stored_by_worker = await _stored_by_worker(session, server)
    finally:
        await asyncio.to_thread(server.stop)
    # Both workers took requests, and the live tail on one of them got them all.
    assert len(stored_by_worker) == 2 and all(stored_by_worker.values()), stored_by_worker
    assert sum(stored_by_worker.values()) == 4000
    assert received == {f"shared {n}.{i}" for n in range(200) for i in range(20)}
    assert await db.fetchval("SELECT count(*) FROM activity_logs WHERE message LIKE 'shared %'") == 4000


async def test_a_worker_killed_under_load_is_restarted_and_nothing_acknowledged_is_lost(database_url, tmp_path, db):
    server = await asyncio.to_thread(Workers, database_url, tmp_path / "data")
    acknowledged: list[str] = []
    stop = asyncio.Event()
    try:
        victim, survivor = server.workers()

        async def sender(n: int) -> None:
            i = 0
            async with aiohttp.ClientSession() as session:
                while not stop.is_set():
                    message = f"killed-load {n}-{i}"
                    if await _send(session, server, message) == 200:
                        acknowledged.append(message)
                    i += 1

        senders = [asyncio.create_task(sender(n)) for n in range(4)]
        await asyncio.sleep(2)
        victim.kill()  # SIGKILL
        killed_at = len(acknowledged)
        await asyncio.sleep(3)
        assert len(acknowledged) > killed_at + 20, "the other worker stopped serving"
        assert survivor.is_running()
        deadline = time.monotonic() + 30
        while len(server.workers()) < 2 or victim.pid in {w.pid for w in server.workers()}:
            assert time.monotonic() < deadline, "the supervisor did not start the killed worker again"
            await asyncio.sleep(0.2)
        await asyncio.sleep(2)
        stop.set()
        await asyncio.gather(*senders)
    finally:
        stop.set()
        await asyncio.to_thread(server.stop)
    stored = {r["message"] for r in await db.fetch("SELECT DISTINCT message FROM activity_logs WHERE message LIKE 'killed-load %'")}
    missing = {f"{m}.{i}" for m in acknowledged for i in range(20)} - stored
    assert not missing, f"{len(missing)} acknowledged records were not stored"
