"""Sends activity entries to a running server through the real OpenTelemetry SDK (sdk_shim over the
OTLP/gRPC exporter), for the end-to-end tests.

    python ui/e2e/send_logs.py --endpoint http://127.0.0.1:4317 --token ac_… --message "hello" \
        [--level info] [--source worker] [--project-id 7] [--trace | --trace-id HEX] [--count N]
    python ui/e2e/send_logs.py --endpoint … --token … --records '[{"message": "…", "project_id": 7}, …]'

Each record may carry message, level, source, project_id, user_id, trace (bool), trace_id (hex),
fields (a map of extra attributes), python_exception (bool: a real exception is raised and
caught a few calls deep, and its type, message and ``traceback.format_exc()`` are sent as the
OpenTelemetry attributes exception.type, exception.message and exception.stacktrace), and the
record's own time, time_unix_nano (nanoseconds since the epoch, an int or a string of digits since
JavaScript's numbers cannot hold today's nanoseconds exactly; without it the SDK stamps the moment
of emission).
With --count N the single --message is sent N times as "<message> #i". With --wait-for-go the
helper prints {"ready": true} once configured and emits when it reads "go" on stdin, so that the
caller can time emission rather than Python's start-up. The exporter is flushed
(force_flush) before the result is printed — one JSON line: {"sent": n, "trace_ids": [...]}, the
trace id each record was sent under (null when none) — and shut down afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import traceback

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from opentelemetry import context as otel_context  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags  # noqa: E402

import sdk_shim  # noqa: E402


def _records(args: argparse.Namespace) -> list[dict]:
    if args.records:
        records = json.loads(args.records)
        if not isinstance(records, list) or not all(isinstance(r, dict) and r.get("message") for r in records):
            raise SystemExit("--records must be a JSON list of objects with a message")
        return records
    if not args.message:
        raise SystemExit("give --message or --records")
    base = {"level": args.level, "source": args.source, "project_id": args.project_id, "trace": args.trace, "trace_id": args.trace_id}
    if args.count == 1:
        return [{**base, "message": args.message}]
    return [{**base, "message": f"{args.message} #{i}"} for i in range(1, args.count + 1)]


def _load_checkpoint(path: str) -> None:
    raise ValueError(f"checkpoint {path!r} has an unexpected latent shape (1, 4, 64, 64)")


def _run_node(node: str) -> None:
    _load_checkpoint(f"/models/{node.lower()}/sd_xl_base_1.0.safetensors")


def _python_exception_attributes() -> dict[str, str]:
    """A real exception's attributes, as OpenTelemetry's logging handler would send them."""
    try:
        _run_node("KSampler")
    except ValueError as exc:
        return {
            "exception.type": type(exc).__name__,
            "exception.message": str(exc),
            "exception.stacktrace": traceback.format_exc(),
        }
    raise AssertionError("unreachable")


def _emit(record: dict) -> str | None:
    entry = sdk_shim.curated(record.get("level") or "info", record["message"]).with_source(record.get("source") or "worker")
    if record.get("fields"):
        entry.with_fields(record["fields"])
    if record.get("python_exception"):
        entry.with_fields(_python_exception_attributes())
    if record.get("project_id") is not None:
        entry.with_project(int(record["project_id"]))
    if record.get("user_id") is not None:
        entry.with_user(int(record["user_id"]))
    if record.get("time_unix_nano") is not None:
        entry.with_timestamp(int(record["time_unix_nano"]))
    trace_hex = record.get("trace_id") or (secrets.token_hex(16) if record.get("trace") else None)
    if trace_hex is None:
        entry.emit()
        return None
    # The SDK attaches the active span's context to a log record: emit inside a (non-recording) span.
    span_context = SpanContext(int(trace_hex, 16), int(secrets.token_hex(8), 16), is_remote=False, trace_flags=TraceFlags(1))
    token = otel_context.attach(trace.set_span_in_context(NonRecordingSpan(span_context)))
    try:
        entry.emit()
    finally:
        otel_context.detach(token)
    return trace_hex


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True, help="OTLP/gRPC endpoint, e.g. http://127.0.0.1:4317")
    parser.add_argument("--token", required=True, help="ingest token (sent as Authorization: Bearer …)")
    parser.add_argument("--message")
    parser.add_argument("--level", default="info", choices=list(sdk_shim.LEVEL_SEVERITY))
    parser.add_argument("--source", default="worker")
    parser.add_argument("--project-id", type=int)
    parser.add_argument("--trace", action="store_true", help="send inside a new random trace")
    parser.add_argument("--trace-id", help="send inside this trace (32 hex digits)")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--records", help="JSON list of records instead of --message")
    parser.add_argument("--wait-for-go", action="store_true", help='print {"ready": true}, then wait for a "go" line on stdin before emitting')
    args = parser.parse_args()
    records = _records(args)

    sdk_shim.configure(
        service_name="e2e-sender",
        endpoint=args.endpoint,
        headers={"authorization": f"Bearer {args.token}"},
        bridge_logging=False,
        schedule_delay_millis=50,
    )
    try:
        if args.wait_for_go:
            # Start-up (imports, exporter) is done: the caller times from its "go" line.
            print(json.dumps({"ready": True}), flush=True)
            if sys.stdin.readline().strip() != "go":
                return 1
        trace_ids = [_emit(r) for r in records]
        if not sdk_shim.force_flush(10_000):
            print(json.dumps({"error": "force_flush timed out"}), flush=True)
            return 1
        print(json.dumps({"sent": len(records), "trace_ids": trace_ids}), flush=True)
    finally:
        sdk_shim.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
