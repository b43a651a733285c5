"""GET /metrics: Prometheus' text format, parsed by prometheus_client's own parser, with values
that match what was sent, stored and subscribed."""

from __future__ import annotations

import aiohttp
import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from tests.support.otlp import request_with
from tests.support.server import wait_for


async def scrape(server) -> dict[tuple[str, tuple], float]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{server.api_url}/metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")  # what Prometheus asks for
            text = await response.text()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}  # fmt: skip


async def test_metrics_count_what_was_sent_stored_and_subscribed(server):
    headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {server.token}"}
    big = "x" * (server.runtime.ingest.limits.max_record_bytes + 1)
    async with aiohttp.ClientSession() as session:
        for body in (request_with([{"body": "a"}, {"body": "b"}, {"body": big}]), request_with([{"body": "c"}])):
            async with session.post(server.otlp_http_url, data=body.SerializeToString(), headers=headers) as response:
                assert response.status == 200
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.runtime.otlp_grpc_port}") as channel:
        stub = logs_service_pb2_grpc.LogsServiceStub(channel)
        await stub.Export(request_with([{"body": "d"}, {"body": "e"}]),
                          metadata=(("authorization", f"Bearer {server.token}"),), timeout=10)  # fmt: skip
    with server.runtime.hub.subscribe():
        samples = await scrape(server)
    assert samples[("activity_ingest_records_total", (("outcome", "stored"), ("protocol", "http")))] == 3
    assert samples[("activity_ingest_records_total", (("outcome", "rejected"), ("protocol", "http")))] == 1
    assert samples[("activity_ingest_records_total", (("outcome", "stored"), ("protocol", "grpc")))] == 2
    writer = server.runtime.writer
    assert samples[("activity_writer_committed_records_total", ())] == writer.stats.committed >= 5
    flushes = samples[("activity_writer_flush_seconds_count", ())]
    assert flushes == writer.stats.flushes >= 1
    assert samples[("activity_writer_flush_seconds_bucket", (("le", "+Inf"),))] == flushes
    assert samples[("activity_writer_flush_seconds_sum", ())] > 0
    assert samples[("activity_writer_flushes_under_way", ())] == writer.flushes_under_way
    assert samples[("activity_live_subscriptions", ())] == 1
    assert samples[("activity_database_available", ())] == 1
    assert samples[("activity_ingest_memory_reserved_bytes", ())] == server.runtime.ingest.budget.reserved
    await wait_for(lambda: server.runtime.hub.subscriber_count == 0, timeout=5)
    assert (await scrape(server))[("activity_live_subscriptions", ())] == 0


async def test_openmetrics_when_asked(server):
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{server.api_url}/metrics", headers={"Accept": "application/openmetrics-text"}) as response:
            assert response.headers["Content-Type"].startswith("application/openmetrics-text")
            assert (await response.text()).endswith("# EOF\n")


async def test_retention_deletes_are_counted_by_level(server, db):
    from datetime import datetime, timedelta, timezone

    from collector.model import ActivityRow
    from tests.support.api import store

    from tests.support.server import wait_for

    # After the start-up cycle: a cycle that finds another running skips.
    assert await wait_for(lambda: server.runtime.retention.cycles >= 1)
    old = datetime.now(timezone.utc) - timedelta(days=400)
    await store(server, [ActivityRow(old, "debug", "worker", "old"), ActivityRow(old, "error", "api", "old too")])
    assert await server.runtime.retention.run_once() is not None
    samples = await scrape(server)
    assert samples[("activity_partitions_created_total", ())] == server.runtime.retention.days_created
    assert samples[("activity_retention_deleted_records_total", (("level", "debug"),))] == 1
    assert samples[("activity_retention_deleted_records_total", (("level", "error"),))] == 1
