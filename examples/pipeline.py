"""Example pipeline stage: post-processes a job's outputs, logging through sdk_shim inside an
OpenTelemetry span that continues the trace handed over as a W3C ``traceparent`` (by the worker,
or by the API directly), so that its entries share the trace id of the request that started the job.

    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 \\
    OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer <ingest token>" \\
    python examples/pipeline.py --stage upscale --job-id 42 --project-id 7 \\
        --traceparent "$(python examples/worker.py --job-id 42 | sed -n 's/^TRACEPARENT=//p')"
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

log = logging.getLogger("examples.pipeline")
propagator = TraceContextTextMapPropagator()


def run_stage(
    tracer: trace.Tracer, stage: str, job_id: int, *, project_id: int | None, traceparent: str | None,
    items: int = 2, fail_item: int | None = None,
) -> int:
    """Process ``items`` outputs of a job in a span continuing ``traceparent``; returns how many
    succeeded. ``fail_item`` makes one item fail, to show an error entry with its exception."""
    parent = propagator.extract({"traceparent": traceparent}) if traceparent else None
    with tracer.start_as_current_span(f"pipeline.{stage}", context=parent, kind=SpanKind.CONSUMER,
                                      attributes={"activity.job.id": job_id}):  # fmt: skip

        def entry(level: str, message: str) -> sdk_shim.CuratedEntry:
            built = sdk_shim.curated(level, message).with_job(job_id).with_fields({"stage": stage})
            return built.with_project(project_id) if project_id is not None else built

        entry("info", f"Pipeline stage {stage} started for job {job_id}").with_fields({"items": items}).emit()
        started, succeeded = time.monotonic(), 0
        for item in range(1, items + 1):
            with tracer.start_as_current_span(f"pipeline.{stage}.item", attributes={"item": item}):
                try:
                    if item == fail_item:
                        raise ValueError(f"item {item} has no alpha channel")
                    log.info("%s: item %d/%d processed", stage, item, items)
                    succeeded += 1
                except ValueError as exc:
                    entry("error", f"Pipeline stage {stage} failed on item {item}: {exc}").with_fields(
                        {"item": item, "exception.type": type(exc).__name__, "exception.message": str(exc)}
                    ).emit()
        level = "info" if succeeded == items else "warn"
        entry(level, f"Pipeline stage {stage} finished: {succeeded}/{items} items").with_fields(
            {"succeeded": succeeded, "duration_s": round(time.monotonic() - started, 3)}
        ).emit()
        return succeeded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", default="upscale")
    parser.add_argument("--job-id", type=int, required=True)
    parser.add_argument("--project-id", type=int)
    parser.add_argument("--traceparent", default=os.environ.get("TRACEPARENT"), help="W3C traceparent (env TRACEPARENT)")
    parser.add_argument("--items", type=int, default=2)
    parser.add_argument("--fail-item", type=int)
    args = parser.parse_args(argv)

    service_name = os.environ.get("OTEL_SERVICE_NAME") or "pipeline-engine"
    sdk_shim.configure(service_name=service_name, source="pipeline")
    tracer = TracerProvider(resource=Resource.create({"service.name": service_name})).get_tracer("examples.pipeline")
    try:
        succeeded = run_stage(tracer, args.stage, args.job_id, project_id=args.project_id,
                              traceparent=args.traceparent, items=args.items, fail_item=args.fail_item)  # fmt: skip
    finally:
        sdk_shim.shutdown()
    # 3, not 1 (an uncaught exception), so a caller can tell failed items from a crash.
    return 0 if succeeded == args.items else 3


if __name__ == "__main__":
    raise SystemExit(main())
