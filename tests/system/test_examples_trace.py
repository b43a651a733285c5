"""examples/worker.py and examples/pipeline.py continue an API request's trace: the trace view
(query by trace id) returns the entries of the api, worker and pipeline sources together."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import sdk_shim
from collector.db.repository import LogFilter, Scope, query_logs
from tests.support.server import wait_for

pytestmark = pytest.mark.timeout(120)

REPO_ROOT = Path(__file__).resolve().parents[2]


async def run_example(script: str, args: list[str], env: dict[str, str], tmp_path: Path) -> tuple[int, str]:
    """Run an example as its own process (as it is deployed); returns its exit code and stdout."""
    stderr_path = tmp_path / f"{Path(script).stem}.stderr"
    with stderr_path.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(REPO_ROOT / script), *args, env=env, cwd=tmp_path,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=stderr,
        )  # fmt: skip
        try:
            stdout, _ = await asyncio.wait_for(process.communicate(), timeout=60)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert process.returncode in (0, 3), f"{script} crashed:\n" + stderr_path.read_text(errors="replace")
    return process.returncode, stdout.decode()


async def test_worker_and_pipeline_share_the_api_trace(server, db, tmp_path):
    # The "API": a request span that starts job 42 and logs a curated api entry.
    server.configure_sdk("activity-api", "api", bridge_logging=False)
    tracer = TracerProvider().get_tracer("test.api")
    try:
        with tracer.start_as_current_span("POST /api/jobs") as span:
            trace_id = format(span.get_span_context().trace_id, "032x")
            api_span_id = format(span.get_span_context().span_id, "016x")
            sdk_shim.curated("info", "Job 42 submitted").with_job(42).with_project(7).with_user(3).emit()
            carrier: dict[str, str] = {}
            TraceContextTextMapPropagator().inject(carrier)
        assert await asyncio.to_thread(sdk_shim.force_flush, 10_000)
    finally:
        await asyncio.to_thread(sdk_shim.shutdown)

    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("OTEL_")},
        "OTEL_EXPORTER_OTLP_ENDPOINT": server.grpc_endpoint,
        "OTEL_EXPORTER_OTLP_HEADERS": f"authorization=Bearer {server.token}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_BLRP_SCHEDULE_DELAY": "100",
    }
    common = ["--job-id", "42", "--project-id", "7"]
    _, worker_out = await run_example(
        "examples/worker.py", [*common, "--user-id", "3", "--steps", "2", "--step-seconds", "0",
                               "--traceparent", carrier["traceparent"]], env, tmp_path,
    )  # fmt: skip
    handoff = [line.split("=", 1)[1] for line in worker_out.splitlines() if line.startswith("TRACEPARENT=")]
    assert len(handoff) == 1 and handoff[0].split("-")[1] == trace_id
    pipeline_rc, _ = await run_example(
        "examples/pipeline.py", [*common, "--stage", "upscale", "--items", "3", "--fail-item", "2",
                                 "--traceparent", handoff[0]], env, tmp_path,
    )  # fmt: skip
    assert pipeline_rc == 3  # one item failed on purpose

    expected = {
        ("api", "Job 42 submitted"),
        ("worker", "Job 42 picked up by worker"),
        ("worker", "Job 42 rendered, handing over to the pipeline"),
        ("pipeline", "Pipeline stage upscale started for job 42"),
        ("pipeline", "Pipeline stage upscale failed on item 2: item 2 has no alpha channel"),
        ("pipeline", "Pipeline stage upscale finished: 2/3 items"),
    }

    async def trace_rows():
        rows = await query_logs(db, LogFilter(trace_id=trace_id), Scope.admin(), limit=100)
        return rows if expected <= {(row.source, row.message) for row in rows} else None

    rows = await wait_for(trace_rows, timeout=15)
    assert rows, "missing: " + repr(
        expected - {(r.source, r.message) for r in await query_logs(db, LogFilter(trace_id=trace_id), Scope.admin(), limit=100)}
    )
    assert {row.source for row in rows} == {"api", "worker", "pipeline"}
    assert all(row.trace_id == trace_id for row in rows)
    assert all(row.job_id == 42 and row.project_id == 7 for row in rows if row.category == "curated")

    by_message = {row.message: row for row in rows}
    # Each process logs from its own spans: same trace, different span ids.
    worker_span = by_message["Job 42 picked up by worker"].span_id
    pipeline_span = by_message["Pipeline stage upscale started for job 42"].span_id
    assert len({api_span_id, worker_span, pipeline_span}) == 3
    assert by_message["Job 42 submitted"].span_id == api_span_id
    assert by_message["Job 42 picked up by worker"].service_name == "render-worker"
    assert by_message["Pipeline stage upscale started for job 42"].service_name == "pipeline-engine"
    failed = by_message["Pipeline stage upscale failed on item 2: item 2 has no alpha channel"]
    assert failed.level == "error" and failed.fields["exception.type"] == "ValueError"

    # The worker's plain logging calls arrive as verbose entries of the same trace.
    verbose = [row for row in rows if row.source == "worker" and row.category == "verbose"]
    assert any(row.message == "loading model weights for job 42" for row in verbose)
