"""Load generation shared by the benchmarks: OTLP log requests of a realistic shape, and client
processes that send them over OTLP/HTTP or OTLP/gRPC. Kept light on imports so that client
processes start fast (grpc is imported only by the clients that use it)."""

from __future__ import annotations

import http.client
import json
import random
import subprocess
import sys
import time
from typing import Callable

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

RECORDS_PER_REQUEST = 512  # the OTel SDK's default export batch
TRANSPORTS = ("http", "grpc")
GRPC_EXPORT_METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"

MESSAGES = [
    "Job {j} started on worker gpu-{w}",
    "Executing node KSampler ({n}/{t}) for prompt {p}",
    "GPU {w} temperature {temp}°C above threshold",
    "Pipeline stage upscale finished in {ms} ms",
    "GET /api/v1/projects/{j} 200 {ms}ms",
]


def _kv(key: str, value) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def build_request(rng: random.Random, records: int = RECORDS_PER_REQUEST, time_ns: int | None = None) -> ExportLogsServiceRequest:
    """One export request of worker-like records: a message, a severity, trace and span ids, the
    activity attributes (category, job, project, user) and eight structured fields."""
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.extend(
        [_kv("service.name", "render-worker"), _kv("activity.source", "worker"), _kv("host.name", "gpu-node-3")]
    )
    scope_logs = resource_logs.scope_logs.add()
    scope_logs.scope.name = "sdk_shim"
    now = time.time_ns() if time_ns is None else time_ns
    for i in range(records):
        record = scope_logs.log_records.add()
        record.time_unix_nano = now + i
        record.severity_number = rng.choice([5, 9, 9, 9, 13, 17])
        values = dict(j=rng.randint(1, 1000), w=rng.randint(0, 7), n=rng.randint(1, 30), t=30,
                      p=rng.getrandbits(32), temp=rng.randint(60, 95), ms=rng.randint(1, 5000))  # fmt: skip
        record.body.string_value = rng.choice(MESSAGES).format(**values)
        record.trace_id = rng.randbytes(16)
        record.span_id = rng.randbytes(8)
        record.attributes.extend(
            [
                _kv("activity.category", rng.choice(["curated", "verbose", "verbose"])),
                _kv("activity.job.id", values["j"]),
                _kv("activity.project.id", rng.randint(1, 20)),
                _kv("activity.user.id", rng.randint(1, 20)),
                _kv("gpu", values["w"]),
                _kv("duration_ms", float(values["ms"])),
                _kv("prompt_id", f"{values['p']:08x}-4f1c-4b8e-9d2a-1c3e5f7a9b0d"),
                _kv("node_id", str(values["n"])),
                _kv("node_type", rng.choice(["KSampler", "VAEDecode", "CLIPTextEncode", "SaveImage"])),
                _kv("step", values["n"]),
                _kv("total", values["t"]),
                _kv("code.function.name", rng.choice(["run_job", "execute_node", "poll_gpu"])),
            ]
        )
    return request


def http_client(index: int, port: int, token: str, seconds: float) -> tuple[int, int, float]:
    """Post requests back to back over one keep-alive connection for ``seconds``; returns
    (records acknowledged, requests refused, elapsed seconds, this process's CPU seconds meanwhile)."""
    rng = random.Random(index)
    bodies = [build_request(rng).SerializeToString() for _ in range(8)]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {token}"}
    connection.connect()  # connected before "ready", as the gRPC client's channel is
    print("ready", flush=True)
    sys.stdin.readline()  # "go": every client starts at once
    started, cpu_started = time.monotonic(), time.process_time()
    acked = refused = i = 0
    while time.monotonic() - started < seconds:
        connection.request("POST", "/v1/logs", body=bodies[i % len(bodies)], headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status == 200:
            acked += RECORDS_PER_REQUEST
        else:
            refused += 1
        i += 1
    return acked, refused, time.monotonic() - started, time.process_time() - cpu_started


def grpc_client(index: int, port: int, token: str, seconds: float) -> tuple[int, int, float]:
    """Call ``Export`` back to back over one channel for ``seconds``, the token in the
    ``authorization`` metadata as the OTel exporters send it; returns (records acknowledged,
    calls refused, elapsed seconds, this process's CPU seconds meanwhile)."""
    import grpc

    rng = random.Random(index)
    bodies = [build_request(rng).SerializeToString() for _ in range(8)]
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    # No serializers: the pre-encoded bodies go out as they are, as the HTTP client's do.
    export = channel.unary_unary(GRPC_EXPORT_METHOD, request_serializer=None, response_deserializer=None)
    metadata = (("authorization", f"Bearer {token}"),)
    grpc.channel_ready_future(channel).result(timeout=30)
    print("ready", flush=True)
    sys.stdin.readline()  # "go": every client starts at once
    started, cpu_started = time.monotonic(), time.process_time()
    acked = refused = i = 0
    while time.monotonic() - started < seconds:
        try:
            export(bodies[i % len(bodies)], metadata=metadata, timeout=60)
            acked += RECORDS_PER_REQUEST
        except grpc.RpcError as exc:
            if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED):
                raise
            refused += 1
        i += 1
    elapsed, cpu = time.monotonic() - started, time.process_time() - cpu_started
    channel.close()
    return acked, refused, elapsed, cpu


CLIENTS = {"http": http_client, "grpc": grpc_client}


def spawn_clients(count: int, port: int, token: str, seconds: float, transport: str = "http") -> list[subprocess.Popen]:
    """Client processes running this file (light imports: they start in well under a second)."""
    return [
        subprocess.Popen(
            [sys.executable, __file__, transport, str(i), str(port), token, str(seconds)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        for i in range(count)
    ]


def run_clients(clients: list[subprocess.Popen], on_start: Callable[[], None] | None = None) -> list[tuple[int, int, float, float]]:
    """Wait until every client is ready, start them together, collect their results (blocking).
    ``on_start`` runs just before the start, once every client is connected (to begin a measurement)."""
    for client in clients:
        assert client.stdout.readline().strip() == "ready"
    if on_start is not None:
        on_start()
    for client in clients:
        client.stdin.write("go\n")
        client.stdin.flush()
    results = [json.loads(client.stdout.readline()) for client in clients]
    for client in clients:
        client.wait()
    return [tuple(r) for r in results]


if __name__ == "__main__":
    transport, index, port, token, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
    print(json.dumps(CLIENTS[transport](index, port, token, seconds)), flush=True)
