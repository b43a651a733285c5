"""The real OpenTelemetry Python SDK exporters, gRPC and HTTP, through sdk_shim and plain logging."""

from __future__ import annotations

import asyncio
import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider

import sdk_shim
from collector.db.repository import LogFilter, Scope, query_logs

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=["grpc", "http/protobuf"])
def protocol(request: pytest.FixtureRequest) -> str:
    return request.param


async def test_sdk_records_become_rows(server, db, protocol):
    server.configure_sdk("render-worker-7", "worker", protocol)
    tracer = TracerProvider().get_tracer("test")
    try:
        with tracer.start_as_current_span("job") as span:
            context = span.get_span_context()
            sdk_shim.curated("warn", f"job slow over {protocol}").with_entity("scene", 12).with_user(3).with_job(
                "44"
            ).with_project(5).with_fields({"gpu": 1, "ratio": 0.5, "tags": ["a", "b"], "detail": {"step": 3}}).emit()
            logging.getLogger("render").error("plain logging over %s", protocol, extra={"attempt": 2})
        sdk_shim.curated("debug", f"outside any span {protocol}").emit()
        assert await asyncio.to_thread(sdk_shim.force_flush, 10_000)
    finally:
        await asyncio.to_thread(sdk_shim.shutdown)

    rows = await query_logs(db, LogFilter(search=protocol), Scope.admin(), limit=10)
    by_message = {row.message: row for row in rows}
    assert set(by_message) == {
        f"job slow over {protocol}",
        f"plain logging over {protocol}",
        f"outside any span {protocol}",
    }

    curated = by_message[f"job slow over {protocol}"]
    assert (curated.level, curated.source, curated.category) == ("warn", "worker", "curated")
    assert (curated.entity_type, curated.entity_id) == ("scene", 12)
    assert (curated.user_id, curated.job_id, curated.project_id) == (3, 44, 5)
    assert curated.fields == {"gpu": 1, "ratio": 0.5, "tags": ["a", "b"], "detail": {"step": 3}}
    assert curated.trace_id == format(context.trace_id, "032x")
    assert curated.span_id == format(context.span_id, "016x")
    assert curated.service_name == "render-worker-7"
    assert curated.resource["activity.source"] == "worker"
    assert curated.severity_number == 13 and curated.severity_text == "WARN"

    plain = by_message[f"plain logging over {protocol}"]
    assert (plain.level, plain.source, plain.category) == ("error", "worker", "verbose")
    assert plain.fields["attempt"] == 2
    assert plain.trace_id == curated.trace_id and plain.span_id == curated.span_id
    assert plain.severity_number == 17

    outside = by_message[f"outside any span {protocol}"]
    assert outside.level == "debug" and outside.trace_id is None and outside.span_id is None
