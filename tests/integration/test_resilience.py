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
async def proxied_server(database_url, tmp_path, request):
    """A server whose database connection a test can cut; ``indirect`` parameters are settings."""
    proxy = await CuttableProxy(database_url).start()
    running = await start_server(proxy.dsn, tmp_path, **getattr(request, "param", {}))
    try:
        yield running, proxy
    finally:
        proxy.restore()
        await running.stop()
        await proxy.stop()


async def message_counts(db, prefix: str) -> Counter:
    rows = await query_logs(db, LogFilter(search=prefix), Scope.admin(), limit=10_000)
    return Counter(row.message for row in rows)


async def spooled_export_during_outage(server, message: str) -> None:
    """While the database is away both transports acknowledge what they spool."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.runtime.otlp_grpc_port}") as channel:
        stub = logs_service_pb2_grpc.LogsServiceStub(channel)
        response = await stub.Export(request_with([{"body": f"{message} grpc"}]),
                                     metadata=(("authorization", f"Bearer {server.token}"),), timeout=10)  # fmt: skip
    assert not response.HasField("partial_success")
    async with aiohttp.ClientSession() as session:
        async with session.post(
            server.otlp_http_url,
            data=request_with([{"body": f"{message} http"}]).SerializeToString(),
            headers={"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {server.token}"},
        ) as response:
            assert response.status == 200, await response.text()
        async with session.get(f"{server.api_url}/readyz") as response:
            ready = await response.json()
        # The API cannot serve queries without its database; ingest carries on, and says how.
        assert response.status == 503 and ready["ingest"]["state"] == "spooling", ready
        assert ready["ingest"]["spooled_records"] >= 2 and "PostgreSQL unavailable for" in ready["ingest"]["message"]
        async with session.get(f"{server.api_url}/api/v1/ingest/status") as response:  # no token: the console's banner
            assert response.status == 200 and (await response.json())["state"] == "spooling"


async def direct_export_during_outage(server) -> None:
    """Without a spool, while the database is away both transports answer with retryable errors
    and a delay."""
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


@pytest.mark.parametrize("proxied_server", [{}, {"spool_max_bytes": 0}], ids=["spool", "no-spool"], indirect=True)
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
async def test_database_outage_then_every_record_stored_exactly_once(proxied_server, db, protocol):
    server, proxy = proxied_server
    spool = server.runtime.delivery.spool is not None
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
        if spool:
            await spooled_export_during_outage(server, f"outage-{protocol} direct")
        else:
            await direct_export_during_outage(server)
        await asyncio.sleep(1.0)  # let the SDK hit the outage and schedule retries
        proxy.restore()
        assert await flushing, "the SDK gave up instead of retrying"
        # Spooled records are committed by the replayer once the database answers.
        assert await wait_for(lambda: not server.runtime.delivery.spooling, timeout=15)
    finally:
        await asyncio.to_thread(sdk_shim.shutdown)

    counts = await message_counts(db, f"outage-{protocol}")
    expected = {f"outage-{protocol} before {i}" for i in range(5)} | {f"outage-{protocol} during {i}" for i in range(20)}
    if spool:
        expected |= {f"outage-{protocol} direct grpc", f"outage-{protocol} direct http"}
    assert set(counts) == expected
    assert all(n == 1 for n in counts.values()), counts


@pytest.mark.timeout(120)
@pytest.mark.parametrize("proxied_server", [{"spool_max_bytes": 0}], ids=["no-spool"], indirect=True)
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
async def test_an_exporter_with_a_longer_timeout_rides_out_a_longer_outage(proxied_server, db, protocol):
    """Where ingest refuses (no spool here; with one, when it is full), the exporters wait exactly
    the advertised delay, at most six times within their timeout: a constant 1 s made them give up
    about 6 s into any outage. The delay now grows with the outage, so an exporter given a 60 s
    timeout rides out 12 s of it."""
    server, proxy = proxied_server
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        exporter = OTLPLogExporter(endpoint=server.grpc_endpoint, insecure=True, timeout=60,
                                   headers={"authorization": f"Bearer {server.token}"})  # fmt: skip
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

        exporter = OTLPLogExporter(endpoint=server.otlp_http_url, timeout=60,
                                   headers={"authorization": f"Bearer {server.token}"})  # fmt: skip
    server.configure_sdk("long-outage", "worker", protocol, bridge_logging=False, schedule_delay_millis=50,
                         exporter=exporter)  # fmt: skip
    try:
        sdk_shim.curated("info", "long-outage before").emit()  # the token is verified before the outage
        assert await asyncio.to_thread(sdk_shim.force_flush, 10_000)
        proxy.cut()
        sdk_shim.curated("info", "long-outage trigger").emit()  # the writer finds the database gone
        assert await wait_for(lambda: not server.runtime.writer.available, timeout=15)
        first = server.runtime.writer.unavailable_advice.delay()
        flushing = asyncio.create_task(asyncio.to_thread(_emit_and_flush, f"long-{protocol}"))
        await asyncio.sleep(12)
        later = server.runtime.writer.unavailable_advice.delay()
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{server.api_url}/readyz") as response:
                ready = await response.json()
        assert response.status == 503 and any("unavailable for 1" in problem for problem in ready["problems"]), ready
        proxy.restore()
        assert await flushing
    finally:
        await asyncio.to_thread(sdk_shim.shutdown)
    counts = await message_counts(db, f"outage-long-{protocol}")
    # 12 s into the outage the token's 10 s cache had expired: it was accepted as known-good.
    assert set(counts) == {f"outage-long-{protocol} during {i}" for i in range(20)}, "the exporter gave up"
    assert all(n == 1 for n in counts.values()), counts
    assert first <= 1.2 and later >= 8, (first, later)
    assert await wait_for(lambda: server.runtime.writer.unavailable_advice.lasting == 0, timeout=5)


def _emit_and_flush(protocol: str) -> bool:
    for i in range(20):
        sdk_shim.curated("warn", f"outage-{protocol} during {i}").emit()
    return sdk_shim.force_flush(60_000)


class HeldTable:
    """Holds ``activity_logs`` locked against writes from another session, so that the writer's
    flush waits in COPY, as it does when PostgreSQL is slow: what is submitted meanwhile queues."""

    def __init__(self, db):
        self.db = db
        self.transaction = None

    async def __aenter__(self) -> "HeldTable":
        self.transaction = self.db.transaction()
        await self.transaction.start()
        await self.db.execute("LOCK TABLE activity_logs IN SHARE MODE")
        return self

    async def release(self) -> None:
        if self.transaction is not None:
            transaction, self.transaction = self.transaction, None
            await transaction.rollback()

    async def __aexit__(self, *exc) -> None:
        await self.release()


async def _flush_in_flight(writer, held: HeldTable) -> asyncio.Task:
    """A one-row request whose flush is under way, waiting for the held table (in its COPY, or in
    a statement before it that reads the table's definition)."""
    blocker = asyncio.create_task(writer.submit([_row("the flush in flight")]))

    async def flush_waits() -> bool:
        return bool(await held.db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND query NOT LIKE '%DELETE FROM activity_logs%'"))

    assert await wait_for(flush_waits), "the writer's flush never waited for the held table"
    assert writer.queued_rows == 0 and not blocker.done()
    return blocker


async def test_shutdown_commits_everything_buffered(database_url, tmp_path, db):
    """Records queued in the writer when the server stops are committed before it exits."""
    server = await start_server(database_url, tmp_path)
    writer = server.runtime.writer
    async with HeldTable(db) as held:
        blocker = await _flush_in_flight(writer, held)
        waiting = [
            asyncio.create_task(writer.submit([_row(f"buffered {i}-{j}") for j in range(10)])) for i in range(30)
        ]
        await asyncio.sleep(0.2)
        # Queued, or in flushes beside it, whose COPYs wait for the table too: none of them is
        # committed yet.
        assert not any(task.done() for task in waiting)
        assert not await db.fetchval("SELECT count(*) FROM activity_logs WHERE message LIKE 'buffered%'")
        stopping = asyncio.create_task(server.stop())
        await asyncio.sleep(0.2)
        assert not stopping.done()  # shutdown waits for the queue to be committed
        await held.release()
        await stopping
    results = await asyncio.gather(*waiting)
    assert sum(r.accepted for r in results) == 300 and (await blocker).accepted == 1
    rows = await query_logs(db, LogFilter(search="buffered"), Scope.admin(), limit=1000)
    assert len(rows) == 300 and len({r.message for r in rows}) == 300


@pytest.mark.parametrize("spool_max_bytes, answer", [(0, "queue is full"), (2**20, None), (4096, "spool is full")],
                         ids=["no-spool", "spooled", "spool-full"])  # fmt: skip
async def test_a_full_queue_spills_to_the_spool_else_refuses_retryably(database_url, tmp_path, db, spool_max_bytes,
                                                                       answer):  # fmt: skip
    """The writer's own queue refuses past its bound; an OTLP request then goes to the spool
    (acknowledged, committed later) or, with no spool or a full one, is refused retryably."""
    server = await start_server(database_url, tmp_path, max_pending_rows=100, spool_max_bytes=spool_max_bytes)
    try:
        writer = server.runtime.writer
        async with HeldTable(db) as held:
            blocker = await _flush_in_flight(writer, held)
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
                    body = (await response.read()).decode(errors="replace")
                    if answer is None:
                        assert response.status == 200, body
                    else:
                        assert response.status == 503 and answer in body and int(response.headers["Retry-After"]) >= 1
            await held.release()
            assert (await first).accepted == 80 and (await blocker).accepted == 1
            assert await wait_for(lambda: not server.runtime.delivery.spooling, timeout=10)
        stored = await query_logs(db, LogFilter(search="http"), Scope.admin(), limit=100)
    finally:
        await server.stop()
    assert len(await query_logs(db, LogFilter(search="too many"), Scope.admin())) == 0
    assert len(stored) == (30 if answer is None else 0)


@pytest.mark.timeout(30)  # the interval is a minute and the batch 10,000 rows: only an idle flush finishes
async def test_an_idle_writer_flushes_at_once(database_url, tmp_path, db):
    server = await start_server(database_url, tmp_path)
    try:
        writer = server.runtime.writer
        await set_writer_settings(db, writer, batch_size=10_000, flush_interval_ms=60_000)
        result = await writer.submit([_row("alone")])
        assert result.accepted == 1
        assert len(await query_logs(db, LogFilter(search="alone"), Scope.admin())) == 1
    finally:
        await server.stop()


async def test_records_that_arrive_during_a_flush_are_committed_together(database_url, tmp_path, db):
    """Group commit: the requests queued behind a flush in flight go in one flush, not one each."""
    server = await start_server(database_url, tmp_path)
    try:
        writer = server.runtime.writer
        async with HeldTable(db) as held:
            blocker = await _flush_in_flight(writer, held)
            behind = [asyncio.create_task(writer.submit([_row(f"behind {i}")])) for i in range(20)]
            assert await wait_for(lambda: writer.queued_rows == 20)
            await held.release()
            results = await asyncio.gather(blocker, *behind)
        assert all(r.accepted == 1 for r in results)
        assert writer.stats.flushes == 2  # the one in flight, then all twenty together
        ids = [row.id for row in await query_logs(db, LogFilter(search="behind"), Scope.admin(), limit=100)]
        assert len(ids) == 20 and len(set(ids)) == 20
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

        def crash() -> list:
            raise RuntimeError("simulated bug outside the flush")

        monkeypatch.setattr(writer, "_take", crash)
        waiting = asyncio.create_task(writer.submit([_row("queued before the crash")]))  # wakes the loop
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


async def test_tokens_known_good_stay_accepted_while_the_database_is_away(database_url, db):
    """A token accepted before an outage keeps working (for ``stale_ttl``) when its cached verdict
    expires and the database cannot be asked; one never seen is told to retry, later and later."""
    from collector.auth import IngestAuthenticator, create_token
    from collector.db.connect import create_pool

    token, row = await create_token(db, "known")
    stranger, _ = await create_token(db, "never seen before the outage")
    proxy = await CuttableProxy(database_url).start()
    pool = await create_pool(proxy.dsn)
    try:
        authenticator = IngestAuthenticator(pool, cache_ttl=0.2, stale_ttl=1.5)
        assert await authenticator.authenticate(f"Bearer {token}") == row["id"]
        proxy.cut()
        await asyncio.sleep(0.3)  # the verdict's cache has expired
        assert await authenticator.authenticate(f"Bearer {token}") == row["id"]
        delays = []
        for _ in range(2):
            with pytest.raises(StoreUnavailable) as refused:
                await authenticator.authenticate(f"Bearer {stranger}")
            delays.append(refused.value.retry_after)
            await asyncio.sleep(1.3)
        assert delays[0] <= 1.2 and delays[1] >= 1.3 * 0.8, delays
        with pytest.raises(StoreUnavailable):  # past stale_ttl: not even the known token
            await authenticator.authenticate(f"Bearer {token}")
    finally:
        proxy.restore()
        await pool.close()
        await proxy.stop()
