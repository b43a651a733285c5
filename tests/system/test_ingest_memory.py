"""What a flood of hostile OTLP requests within the limits costs the server:
its peak resident memory stays under 1 GiB, it keeps answering health checks and small honest
requests meanwhile, and it gives memory back once the flood is over. The server runs as its own
process so that its memory is measured alone (tests/support/hostile_load.py describes the requests)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from tests.support import hostile_load
from tests.support.otlp import request_with
from tests.support.serve_process import ServeProcess

GiB = 1024**3
FLOOD_SECONDS = 15


async def _probe_health(url: str, stop: asyncio.Event, failures: list[str]) -> int:
    answered = 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        while not stop.is_set():
            try:
                async with session.get(url + "/healthz") as response:
                    if response.status == 200:
                        answered += 1
                    else:
                        failures.append(f"healthz {response.status}")
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                failures.append(f"healthz {type(exc).__name__}")
            await asyncio.sleep(0.5)
    return answered


async def _honest_client(server: ServeProcess, stop: asyncio.Event) -> int:
    """Sends small requests the way an SDK does, retrying when told to; returns how many were stored."""
    stored = 0
    headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {server.ingest_token}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        while not stop.is_set():
            body = request_with([{"body": f"honest {stored}"}]).SerializeToString()
            async with session.post(server.otlp_http_url, data=body, headers=headers) as response:
                await response.read()
                assert response.status in (200, 503), response.status
                stored += response.status == 200
            await asyncio.sleep(0.5)
    return stored


@pytest.mark.timeout(240)
async def test_hostile_flood_stays_under_a_gigabyte_and_the_server_keeps_answering(database_url: str, tmp_path: Path):
    server = ServeProcess(database_url, tmp_path / "data")
    await server.start()
    try:
        stop, outcomes, failures = asyncio.Event(), hostile_load.Outcomes(), []
        flood = [asyncio.create_task(c) for c in hostile_load.senders(
            server.otlp_http_url, server.grpc_target, server.ingest_token, stop, outcomes)]  # fmt: skip
        health = asyncio.create_task(_probe_health(server.api_url, stop, failures))
        honest = asyncio.create_task(_honest_client(server, stop))
        await asyncio.sleep(FLOOD_SECONDS)
        stop.set()
        await asyncio.gather(*flood)
        answered, stored = await health, await honest
        peak = hostile_load.memory_of(server.pid)["VmHWM"]
        print(f"peak RSS {peak / 2**20:.0f} MiB; outcomes {outcomes.statuses}")

        assert peak < GiB, f"peak RSS {peak / 2**20:.0f} MiB"
        assert failures == [] and answered >= 3, (failures, answered)  # each probe answered within 10 s
        assert stored >= 1  # honest requests got through the flood
        statuses = outcomes.statuses
        # The bombs were refused before decoding, and not as retryable.
        assert statuses.get("bomb http 413", 0) >= 1 and statuses.get("bomb grpc RESOURCE_EXHAUSTED", 0) >= 1
        assert not any(name.startswith("bomb") and not name.endswith(("413", "RESOURCE_EXHAUSTED")) for name in statuses)
        # Hostile requests within the limits were served or told to retry, never failed otherwise.
        allowed = ("200", "OK", "503", "UNAVAILABLE", "413", "RESOURCE_EXHAUSTED")
        assert all(name.endswith(allowed) for name in statuses), statuses
        assert any(name.endswith((" 200", " OK")) and not name.startswith("bomb") for name in statuses), statuses

        # Once the writer has drained what was accepted, memory is handed back.
        async def settled() -> int:
            await asyncio.sleep(10)
            return hostile_load.memory_of(server.pid)["VmRSS"]

        after = await settled()
        print(f"RSS after the flood {after / 2**20:.0f} MiB")
        assert after < 512 * 2**20 and after < peak
    finally:
        await server.stop()
