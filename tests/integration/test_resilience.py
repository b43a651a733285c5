"""Database outages, a full queue and shutdown: accepted records are stored exactly once, and
what cannot be stored now is refused with errors the OTel SDK retries."""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp
import grpc
import pytest
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc

import sdk_shim
from collector.db.repository import LogFilter, Scope, query_logs
from collector.errors import Overloaded, StoreUnavailable
from collector.model import ActivityRow
from tests.support.server import start_server, wait_for
from tests.support.otlp import request_with
from tests.support.tcp_proxy import CuttableProxy

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
async def proxied_server(database_url, tmp_path):
    proxy = await CuttableProxy(database_url).start()
    running = await start_server(proxy.dsn, tmp_path)
    try:
        yield running, proxy
    finally:
        proxy.restore()
        await running.stop()
        await proxy.stop()


async def message_counts(db, prefix: str) -> Counter:
    rows = await query_logs(db, LogFilter(search=prefix), Scope.admin(), limit=10_000)
    return Counter(row.message for row in rows)


async def direct_export_during_outage(server) -> None:
    """While the database is away both transports answer with retryable errors and a delay."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.runtime.otlp_grpc_port}") as channel:
        stub = logs_service_pb2_grpc.LogsServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.Export(
                request_with([{"body": "probe"}]), metadata=(("authorization", f"Bearer {server.token}"),), timeout=10
            )
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    retry_info = RetryInfo.FromString(dict(error.value.trailing_metadata())["google.rpc.retryinfo-bin"])
    assert retry_info.retry_delay.seconds >= 1
    async with aiohttp.ClientSession() as session:
        async with session.post(
            server.otlp_http_url,
            data=request_with([{"body": "probe"}]).SerializeToString(),
            headers={"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {server.token}"},
        ) as response:
            assert response.status == 503
            assert int(response.headers["Retry-After"]) >= 1


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
async def test_database_outage_then_every_record_stored_exactly_once(proxied_server, db, protocol):
    server, proxy = proxied_server
    server.configure_sdk("outage-test", "worker", protocol, bridge_logging=False, schedule_delay_millis=50)
    try:
        for i in range(5):
            sdk_shim.curated("info", f"outage-{protocol} before {i}").emit()
        assert await asyncio.to_thread(sdk_shim.force_flush, 10_000)
        assert len(await message_counts(db, f"outage-{protocol} before")) == 5

        proxy.cut()
        # The writer notices the outage on its next flush; until then a probe request may still
        # be queued, so wait until the writer has declared the database unavailable.
        flushing = asyncio.create_task(asyncio.to_thread(_emit_and_flush, protocol))
        assert await wait_for(lambda: not server.runtime.writer.available, timeout=15)
        await direct_export_during_outage(server)
        await asyncio.sleep(1.0)  # let the SDK hit the outage and schedule retries
        proxy.restore()
        assert await flushing, "the SDK gave up instead of retrying"
    finally:
        await asyncio.to_thread(sdk_shim.shutdown)

    counts = await message_counts(db, f"outage-{protocol}")
    expected = {f"outage-{protocol} before {i}" for i in range(5)} | {f"outage-{protocol} during {i}" for i in range(20)}
    assert set(counts) == expected
    assert all(n == 1 for n in counts.values()), counts


def _emit_and_flush(protocol: str) -> bool:
    for i in range(20):
        sdk_shim.curated("warn", f"outage-{protocol} during {i}").emit()
    return sdk_shim.force_flush(30_000)


async def test_shutdown_commits_everything_buffered(database_url, tmp_path, db):
    """Records queued in the writer when the server stops are committed before it exits."""
    server = await start_server(database_url, tmp_path, flush_interval_ms=60_000)
    writer = server.runtime.writer
    await set_writer_settings(db, writer, batch_size=10_000, flush_interval_ms=60_000)
    waiting = [
        asyncio.create_task(writer.submit([_row(f"buffered {i}-{j}") for j in range(10)])) for i in range(30)
    ]
    await asyncio.sleep(0.2)
    assert writer.queued_rows == 300  # nothing flushed yet: the interval is a minute
    await server.stop()
    results = await asyncio.gather(*waiting)
    assert sum(r.accepted for r in results) == 300
    rows = await query_logs(db, LogFilter(search="buffered"), Scope.admin(), limit=1000)
    assert len(rows) == 300 and len({r.message for r in rows}) == 300


async def test_full_queue_refuses_with_a_retryable_error(database_url, tmp_path, db):
    server = await start_server(database_url, tmp_path, flush_interval_ms=60_000, max_pending_rows=100)
    try:
        writer = server.runtime.writer
        await set_writer_settings(db, writer, batch_size=10_000, flush_interval_ms=60_000)
        first = asyncio.create_task(writer.submit([_row(f"fits {i}") for i in range(80)]))
        await asyncio.sleep(0.05)
        with pytest.raises(Overloaded) as refused:
            await writer.submit([_row(f"too many {i}") for i in range(30)])
        assert refused.value.retry_after > 0
        async with aiohttp.ClientSession() as session:
            async with session.post(
                server.otlp_http_url,
                data=request_with([{"body": f"http {i}"} for i in range(30)]).SerializeToString(),
                headers={"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {server.token}"},
            ) as response:
                assert response.status == 503 and "full" in (await response.read()).decode(errors="replace")
    finally:
        await server.stop()
    assert (await first).accepted == 80
    assert len(await query_logs(db, LogFilter(search="too many"), Scope.admin())) == 0


@pytest.mark.timeout(30)  # the interval is a minute: only a flush at batch_size finishes in time
async def test_flush_at_batch_size_without_waiting_for_the_interval(database_url, tmp_path, db):
    server = await start_server(database_url, tmp_path, flush_interval_ms=60_000)
    try:
        writer = server.runtime.writer
        await set_writer_settings(db, writer, batch_size=50, flush_interval_ms=60_000)
        small = asyncio.create_task(writer.submit([_row(f"small {i}") for i in range(10)]))
        await asyncio.sleep(0.3)
        assert not small.done()  # 10 < batch_size: waits for the (one minute) interval
        result = await writer.submit([_row(f"large {i}") for i in range(45)])  # 55 ≥ 50: flush now
        assert result.accepted == 45 and (await small).accepted == 10
        assert len(await query_logs(db, LogFilter(), Scope.admin(), limit=100)) == 55
    finally:
        await server.stop()


async def set_writer_settings(db, writer, *, batch_size: int, flush_interval_ms: int) -> None:
    """Change activity_log_settings and wait until the running writer has re-read them."""
    await db.execute(
        "UPDATE activity_log_settings SET batch_size = $1, flush_interval_ms = $2", batch_size, flush_interval_ms
    )
    assert await wait_for(
        lambda: writer.batch_size == batch_size and writer.flush_interval == flush_interval_ms / 1000
    ), "the writer did not pick up the changed settings"


def _row(message: str) -> ActivityRow:
    from datetime import datetime, timezone

    return ActivityRow(timestamp=datetime.now(timezone.utc), level="info", source="api", message=message)


async def test_a_dead_writer_loop_refuses_ingest_instead_of_hanging(database_url, tmp_path, monkeypatch):
    server = await start_server(database_url, tmp_path, flush_interval_ms=60_000)
    try:
        writer = server.runtime.writer
        waiting = asyncio.create_task(writer.submit([_row("queued before the crash")]))
        await asyncio.sleep(0.05)

        def crash() -> list:
            raise RuntimeError("simulated bug outside the flush")

        monkeypatch.setattr(writer, "_take", crash)
        writer.apply_settings(batch_size=1, flush_interval_ms=10)  # wakes the loop, which crashes
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(waiting, 10)
        assert not writer.available
        with pytest.raises(StoreUnavailable):
            await writer.submit([_row("after the crash")])
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{server.api_url}/readyz") as response:
                assert response.status == 503
    finally:
        monkeypatch.undo()
        await server.stop()
