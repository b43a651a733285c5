"""Hostile OTLP traffic for memory tests: requests within the limits, built to cost the server as
much memory as they can, sent concurrently over both transports.

- ``empty_records``: a million empty log records (2 bytes each; about 2 kB gzip'd), beyond the
  per-request record cap;
- ``nested_arrays`` / ``nested_maps``: bodies made of tens of thousands of empty arrays or maps,
  the shapes that decode to the most Python objects per byte, in records just under the per-record
  limit and requests just under the size limit;
- ``usual``: 20,000 records of a usual shape in one request of about 8 MiB;
- ``json_objects``: 8 MiB of OTLP/JSON made of empty records.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import grpc
from google.protobuf.internal.encoder import _VarintBytes

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from otlp_load import build_request  # noqa: E402

MiB = 1024 * 1024
EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


def _length_delimited(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _VarintBytes(len(body)) + body


def _request_of_records(records: list[bytes]) -> bytes:
    scope = b"".join(_length_delimited(0x12, record) for record in records)
    return _length_delimited(0x0A, _length_delimited(0x12, scope))


def empty_records(count: int = 1_000_000) -> bytes:
    return _request_of_records([b""] * count)


def _body_of(element: bytes, record_bytes: int) -> bytes:
    """A record whose body is an array of ``element`` AnyValues, about ``record_bytes`` long."""
    encoded = _length_delimited(0x0A, element)  # ArrayValue.values
    array = encoded * (record_bytes // len(encoded))
    return _length_delimited(0x2A, _length_delimited(0x2A, array))  # LogRecord.body = AnyValue{array_value}


def nested_arrays(record_bytes: int = 250_000, request_bytes: int = 8 * MiB - 4096) -> bytes:
    record = _body_of(b"\x2a\x00", record_bytes)  # AnyValue{array_value: {}}
    return _request_of_records([record] * (request_bytes // (len(record) + 4)))


def nested_maps(record_bytes: int = 250_000, request_bytes: int = 8 * MiB - 4096) -> bytes:
    record = _body_of(b"\x32\x00", record_bytes)  # AnyValue{kvlist_value: {}}
    return _request_of_records([record] * (request_bytes // (len(record) + 4)))


def usual(records: int = 20_000) -> bytes:
    return build_request(random.Random(7), records).SerializeToString()


def json_objects(request_bytes: int = 8 * MiB - 4096) -> bytes:
    head, tail = b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[', b"]}]}]}"
    count = (request_bytes - len(head) - len(tail)) // 3
    return head + b",".join([b"{}"] * count) + tail


@dataclass
class Outcomes:
    statuses: dict[str, int] = field(default_factory=dict)

    def count(self, name: str) -> None:
        self.statuses[name] = self.statuses.get(name, 0) + 1


async def _http_sender(url: str, token: str, body: bytes, headers: dict[str, str], stop: asyncio.Event,
                       outcomes: Outcomes, label: str) -> None:  # fmt: skip
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            try:
                async with session.post(url, data=body, headers={**headers, "Authorization": f"Bearer {token}"},
                                        timeout=aiohttp.ClientTimeout(total=120)) as response:  # fmt: skip
                    await response.read()
                    outcomes.count(f"{label} http {response.status}")
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                outcomes.count(f"{label} http {type(exc).__name__}")


async def _grpc_sender(target: str, token: str, body: bytes, compression: grpc.Compression | None,
                       stop: asyncio.Event, outcomes: Outcomes, label: str) -> None:  # fmt: skip
    async with grpc.aio.insecure_channel(target, options=[("grpc.max_send_message_length", 64 * MiB)]) as channel:
        call = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
        while not stop.is_set():
            try:
                await call(body, metadata=(("authorization", f"Bearer {token}"),), compression=compression, timeout=120)
                outcomes.count(f"{label} grpc OK")
            except grpc.aio.AioRpcError as exc:
                outcomes.count(f"{label} grpc {exc.code().name}")


def senders(http_url: str, grpc_target: str, token: str, stop: asyncio.Event, outcomes: Outcomes) -> list:
    """The coroutines of one flood: every hostile shape, several at a time, on both transports."""
    protobuf = {"Content-Type": "application/x-protobuf"}
    bomb = gzip.compress(empty_records())
    arrays, maps, ordinary, objects = nested_arrays(), nested_maps(), usual(), json_objects()
    work = [
        _http_sender(http_url, token, bomb, {**protobuf, "Content-Encoding": "gzip"}, stop, outcomes, "bomb"),
        _grpc_sender(grpc_target, token, empty_records(), grpc.Compression.Gzip, stop, outcomes, "bomb"),
        _http_sender(http_url, token, objects, {"Content-Type": "application/json"}, stop, outcomes, "json"),
    ]
    for _ in range(3):
        work.append(_http_sender(http_url, token, arrays, protobuf, stop, outcomes, "arrays"))
        work.append(_grpc_sender(grpc_target, token, maps, None, stop, outcomes, "maps"))
        work.append(_http_sender(http_url, token, ordinary, protobuf, stop, outcomes, "usual"))
        work.append(_grpc_sender(grpc_target, token, ordinary, grpc.Compression.Gzip, stop, outcomes, "usual"))
    return work


def memory_of(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak resident set) of a process, in bytes."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024
    return values


if __name__ == "__main__":  # a manual run against a running server: python -m tests.support.hostile_load PID HTTP GRPC TOKEN SECONDS
    pid, http_port, grpc_port, token, seconds = sys.argv[1:6]

    async def main() -> None:
        stop, outcomes = asyncio.Event(), Outcomes()
        tasks = [asyncio.create_task(c) for c in senders(f"http://127.0.0.1:{http_port}/v1/logs",
                                                         f"127.0.0.1:{grpc_port}", token, stop, outcomes)]  # fmt: skip
        for _ in range(int(seconds)):
            await asyncio.sleep(1)
            print(memory_of(int(pid)), flush=True)
        stop.set()
        await asyncio.gather(*tasks)
        print(json.dumps(outcomes.statuses, indent=1))

    asyncio.run(main())
