"""CPU time per record of the ingest hot loop: the Python reference (otlp_wire split, mapping,
encode_copy_rows) against the native fast path, on 512-record requests of typical records.

    .venv/bin/python bench/fastpath.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collector import copy_rows  # noqa: E402
from tests.support.otlp import SPAN, TRACE, request_with  # noqa: E402

RECORDS = 512
RUNS = 5
REPEATS = 20  # requests per run
RECEIVED_NS = 1_764_158_400_000_000_000


def typical_request() -> bytes:
    records = []
    for i in range(RECORDS):
        records.append({
            "time_unix_nano": RECEIVED_NS - 1_000_000 * i, "severity_number": 9 + (i % 12), "severity_text": "INFO",
            "body": f"job {i} step finished in {i * 3} ms", "trace_id": TRACE, "span_id": SPAN, "flags": 1,
            "attributes": {"activity.source": "worker", "activity.category": "curated" if i % 4 == 0 else "verbose",
                           "activity.job.id": str(1000 + i), "activity.user.id": 42, "duration_ms": i * 3.5,
                           "step": "render", "gpu": i % 8, "ok": True},
        })  # fmt: skip
    resource = {"service.name": "render-worker", "host.name": "gpu-node-7", "process.pid": 4242}
    return request_with(records, resource=resource).SerializeToString()


def cpu_us_per_record(encode, data: bytes) -> list[float]:
    results = []
    for _ in range(RUNS):
        started = time.process_time()
        for _ in range(REPEATS):
            encode(data, RECEIVED_NS, 1, 10_000, 1 << 20)
        results.append((time.process_time() - started) / (REPEATS * RECORDS) * 1e6)
    return results


def main() -> None:
    data = typical_request()
    paths = [("reference", copy_rows.encode_request_reference)]
    native = copy_rows.native_module()
    if native is None:
        print("native fast path: not built (or ACTIVITY_NATIVE=off)")
    else:
        _, count, handed_back, _ = native.encode_request(data, RECEIVED_NS, 1, 10_000, 1 << 20)
        assert (count, handed_back) == (RECORDS, []), "the benchmark's records should all take the fast path"
        paths.append(("native", native.encode_request))
    print(f"{RECORDS}-record requests ({len(data)} bytes), CPU µs per record, {RUNS} runs of {REPEATS} requests")
    for name, encode in paths:
        runs = cpu_us_per_record(encode, data)
        print(f"{name:>10}: min {min(runs):6.2f}  median {statistics.median(runs):6.2f}  max {max(runs):6.2f}")


if __name__ == "__main__":
    main()
