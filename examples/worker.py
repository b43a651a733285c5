"""Example worker process: runs a job that the API started, logging through sdk_shim inside
OpenTelemetry spans that continue the API request's trace (W3C ``traceparent``), so that the
console's trace view shows the API's, the worker's and the pipeline's entries together.

    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 \\
    OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer <ingest token>" \\
    python examples/worker.py --job-id 42 --project-id 7 --user-id 3 \\
        --traceparent 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01

It prints ``TRACEPARENT=…`` (its own span, for the next stage: see examples/pipeline.py).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if __package__ in (None, ""):  # run as a script from a checkout: make sdk_shim importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sdk_shim  # noqa: E402

log = logging.getLogger("examples.worker")
propagator = TraceContextTextMapPropagator()


def run_job(
    tracer: trace.Tracer, job_id: int, *, project_id: int | None, user_id: int | None,
    traceparent: str | None, steps: int = 3, step_seconds: float = 0.0,
) -> str:
    """Run one job in a span that continues ``traceparent``; returns the traceparent to hand on."""
    parent = propagator.extract({"traceparent": traceparent}) if traceparent else None
    with tracer.start_as_current_span("worker.run_job", context=parent, kind=SpanKind.CONSUMER,
                                      attributes={"activity.job.id": job_id}):  # fmt: skip

        def entry(level: str, message: str) -> sdk_shim.CuratedEntry:
            built = sdk_shim.curated(level, message).with_job(job_id).with_entity("job", job_id)
            if project_id is not None:
                built.with_project(project_id)
            if user_id is not None:
                built.with_user(user_id)
            return built

        entry("info", f"Job {job_id} picked up by worker").with_fields({"pid": os.getpid(), "steps": steps}).emit()
        log.info("loading model weights for job %s", job_id)  # plain logging: a verbose entry, same trace
        started = time.monotonic()
        for step in range(1, steps + 1):
            with tracer.start_as_current_span("worker.step", attributes={"step": step}):
                time.sleep(step_seconds)
                log.info("job %s step %d/%d done", job_id, step, steps)
        entry("info", f"Job {job_id} rendered, handing over to the pipeline").with_fields(
            {"duration_s": round(time.monotonic() - started, 3)}
        ).emit()
        carrier: dict[str, str] = {}
        propagator.inject(carrier)
        return carrier["traceparent"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--job-id", type=int, required=True)
    parser.add_argument("--project-id", type=int)
    parser.add_argument("--user-id", type=int)
    parser.add_argument("--traceparent", default=os.environ.get("TRACEPARENT"), help="W3C traceparent (env TRACEPARENT)")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--step-seconds", type=float, default=0.2)
    args = parser.parse_args(argv)

    service_name = os.environ.get("OTEL_SERVICE_NAME") or "render-worker"
    sdk_shim.configure(service_name=service_name, source="worker")
    # Spans give each stage its own span id under the caller's trace; they are not exported here
    # (add a span exporter to the provider to send them to a tracing backend too).
    tracer = TracerProvider(resource=Resource.create({"service.name": service_name})).get_tracer("examples.worker")
    try:
        handoff = run_job(tracer, args.job_id, project_id=args.project_id, user_id=args.user_id,
                          traceparent=args.traceparent, steps=args.steps, step_seconds=args.step_seconds)  # fmt: skip
    finally:
        sdk_shim.shutdown()  # flushes what is buffered
    print(f"TRACEPARENT={handoff}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
