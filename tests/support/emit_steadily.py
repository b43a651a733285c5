"""A service on the OpenTelemetry SDK with its default settings (BatchLogRecordProcessor and the
OTLP exporter as constructed with no options but the endpoint and the token) that logs ``--rate``
records a second for ``--seconds`` through the standard ``logging`` bridge, then shuts the SDK down
(which exports what is queued) and exits. Used by tests/system/test_durability.py."""

from __future__ import annotations

import argparse
import logging
import time

from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--protocol", choices=("grpc", "http/protobuf"), required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--prefix", required=True)
    args = parser.parse_args()
    headers = {"authorization": f"Bearer {args.token}"}
    if args.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        exporter = OTLPLogExporter(endpoint=args.endpoint, insecure=True, headers=headers)
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

        exporter = OTLPLogExporter(endpoint=args.endpoint, headers=headers)
    provider = LoggerProvider(resource=Resource.create({"service.name": args.prefix, "activity.source": "worker"}))
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    logger = logging.getLogger(args.prefix)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(LoggingHandler(logger_provider=provider))
    started = time.monotonic()
    for i in range(args.rate * args.seconds):
        # Paced against the start, so that a slow moment does not lower the total.
        delay = started + i / args.rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        logger.info("%s %d", args.prefix, i)
    provider.shutdown()
    print(f"emitted {args.rate * args.seconds}")


if __name__ == "__main__":
    main()
