"""CPU cost per record of turning an OTLP request's bytes into rows: the receivers' path (count
the records on the wire, then decode and map one record at a time: collector/otlp_wire.py) next
to decoding the whole request at once and mapping it (the path before the per-request limits), in
the same process, alternating, so that the machine's noise hits both alike.

    .venv/bin/python bench/decode.py [--rounds 15] [--records 512]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest  # noqa: E402

from collector import otlp_wire  # noqa: E402
from collector.mapping import map_record, map_request, map_resource, with_scope  # noqa: E402
from otlp_load import build_request  # noqa: E402


def whole_request(data: bytes, received_at: datetime) -> int:
    return len(map_request(ExportLogsServiceRequest.FromString(data), received_at).rows)


def record_by_record(data: bytes, received_at: datetime) -> int:
    split = otlp_wire.split_request(data, 20_000)
    rows = 0
    for resource_part in split.resources:
        context = map_resource(otlp_wire.decode_resource(resource_part))
        for scope_part in resource_part.scopes:
            scoped = with_scope(context, otlp_wire.decode_scope(scope_part))
            for start, end in scope_part.records:
                map_record(otlp_wire.decode_record(data, start, end), scoped, received_at)
                rows += 1
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--records", type=int, default=512)
    args = parser.parse_args()
    data = build_request(random.Random(1), args.records).SerializeToString()
    received_at = datetime.now(timezone.utc)
    paths = {"whole request": whole_request, "record by record": record_by_record}
    costs: dict[str, list[float]] = {name: [] for name in paths}
    for name, path in paths.items():
        assert path(data, received_at) == args.records
    for _ in range(args.rounds):
        for name, path in paths.items():
            started = time.process_time()
            for _ in range(5):
                path(data, received_at)
            costs[name].append((time.process_time() - started) / 5 / args.records * 1e6)
    print(f"decode + map, {args.records} records of {len(data) // args.records} bytes, {args.rounds} rounds (CPU µs per record)")
    for name, values in costs.items():
        print(f"  {name:18s} min {min(values):5.1f}  median {statistics.median(values):5.1f}  max {max(values):5.1f}")
    ratios = [new / old for new, old in zip(costs["record by record"], costs["whole request"])]
    print(f"record by record / whole request: min {min(ratios):.2f}  median {statistics.median(ratios):.2f}  max {max(ratios):.2f}")


if __name__ == "__main__":
    main()
