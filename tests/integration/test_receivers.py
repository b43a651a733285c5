"""OTLP/HTTP and OTLP/gRPC receivers against bad and unusual input: every case gets the right
status, and what was acceptable in a request is stored."""

from __future__ import annotations

import gzip
import json
import zlib

import aiohttp
import grpc
import pytest
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

import collector.mapping
from collector import copy_rows
from collector.db.repository import LogFilter, Scope, count_logs, query_logs
from tests.support.server import start_server
from tests.support.otlp import SPAN, TRACE, request_with

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def auth(server) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token}"}


async def post(server, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, aiohttp.ClientResponse]:
    async with aiohttp.ClientSession() as session:
        async with session.post(server.otlp_http_url, data=body, headers=headers) as response:
            return response.status, await response.read(), response


def status_of(body: bytes) -> status_pb2.Status:
    status = status_pb2.Status()
    status.ParseFromString(body)
    return status


async def messages(db) -> list[str]:
    return sorted(row.message for row in await query_logs(db, LogFilter(), Scope.admin(), limit=1000))


async def test_protobuf_success_has_no_partial_success(server, db):
    body = request_with([{"body": "one"}, {"body": "two"}]).SerializeToString()
    status, payload, response = await post(server, body, {**PROTOBUF, **auth(server)})
    assert status == 200 and response.content_type == "application/x-protobuf"
    parsed = ExportLogsServiceResponse.FromString(payload)
    assert not parsed.HasField("partial_success")
    assert await messages(db) == ["one", "two"]


async def test_json_request_gets_json_response(server, db):
    document = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "from json"}, "traceId": TRACE.hex(), "spanId": SPAN.hex()}]}]}]}
    status, payload, response = await post(
        server, json.dumps(document).encode(), {"Content-Type": "application/json", **auth(server)}
    )
    assert status == 200 and response.content_type == "application/json"
    assert json.loads(payload) == {}
    [row] = await query_logs(db, LogFilter(), Scope.admin())
    assert (row.message, row.trace_id, row.span_id) == ("from json", TRACE.hex(), SPAN.hex())


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
async def test_compressed_bodies(server, db, encoding):
    raw = request_with([{"body": f"compressed {encoding}"}]).SerializeToString()
    if encoding == "gzip":
        body = gzip.compress(raw)
    elif encoding == "deflate":
        body = zlib.compress(raw)
    else:
        compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        body = compressor.compress(raw) + compressor.flush()
    header = "gzip" if encoding == "gzip" else "deflate"
    status, _, _ = await post(server, body, {**PROTOBUF, "Content-Encoding": header, **auth(server)})
    assert status == 200
    assert await messages(db) == [f"compressed {encoding}"]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({}, 401), ({"Authorization": "Bearer nope"}, 401), ({"Authorization": "Basic abc"}, 401)],
)
async def test_missing_or_bad_token_is_401(server, db, headers, expected):
    body = request_with([{"body": "x"}]).SerializeToString()
    status, payload, response = await post(server, body, {**PROTOBUF, **headers})
    assert status == expected
    assert status_of(payload).code == 16  # UNAUTHENTICATED
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert await messages(db) == []


async def test_revoked_token_is_refused(server, db):
    await db.execute("UPDATE ingest_tokens SET revoked_at = now()")
    server.runtime.ingest_auth.forget()
    status, _, _ = await post(server, request_with([{"body": "x"}]).SerializeToString(), {**PROTOBUF, **auth(server)})
    assert status == 401


async def test_wrong_content_type_is_415(server):
    status, payload, _ = await post(server, b"hello", {"Content-Type": "text/plain", **auth(server)})
    assert status == 415
    assert "application/x-protobuf" in json.loads(payload)["message"]


async def test_get_is_405(server):
    async with aiohttp.ClientSession() as session:
        async with session.get(server.otlp_http_url) as response:
            assert response.status == 405 and response.headers["Allow"] == "POST"


async def test_malformed_protobuf_is_400_with_status_body(server, db):
    status, payload, _ = await post(server, b"\x0a\xff\xff\xff\xff\x0f garbage", {**PROTOBUF, **auth(server)})
    assert status == 400
    assert status_of(payload).code == 3 and "protobuf" in status_of(payload).message
    assert await messages(db) == []


async def test_malformed_json_is_400_with_json_status(server):
    status, payload, _ = await post(server, b'{"resourceLogs": [', {"Content-Type": "application/json", **auth(server)})
    assert status == 400
    status_body = json_format.Parse(payload, status_pb2.Status())
    assert status_body.code == 3 and "JSON" in status_body.message


async def test_broken_gzip_is_400(server):
    status, _, _ = await post(server, b"\x1f\x8b\x08\x00garbage", {**PROTOBUF, "Content-Encoding": "gzip", **auth(server)})
    assert status == 400


@pytest.fixture
async def small_server(database_url, tmp_path):
    running = await start_server(database_url, tmp_path, max_request_bytes=64 * 1024)
    try:
        yield running
    finally:
        await running.stop()


async def test_oversized_body_is_413(small_server, db):
    body = request_with([{"body": "x" * 70_000}]).SerializeToString()
    status, payload, _ = await post(small_server, body, {**PROTOBUF, **auth(small_server)})
    assert status == 413 and status_of(payload).code == 8
    assert await messages(db) == []


async def test_gzip_bomb_is_413_after_decompression(small_server, db):
    bomb = gzip.compress(b"\x00" * (50 * 1024 * 1024))  # 50 MiB of zeros in ~50 KiB
    assert len(bomb) < 64 * 1024
    status, payload, _ = await post(small_server, bomb, {**PROTOBUF, "Content-Encoding": "gzip", **auth(small_server)})
    assert status == 413 and "decompression" in status_of(payload).message


async def test_nul_characters_are_repaired_and_the_batch_is_stored(server, db):
    body = request_with(
        [{"body": "before"}, {"body": "nul\x00inside", "attributes": {"key\x00": "va\x00lue"}}, {"body": "after"}]
    ).SerializeToString()
    status, payload, _ = await post(server, body, {**PROTOBUF, **auth(server)})
    assert status == 200
    response = ExportLogsServiceResponse.FromString(payload)
    assert response.partial_success.rejected_log_records == 0
    assert "NUL" in response.partial_success.error_message
    assert await messages(db) == ["after", "before", "nul\ufffdinside"]
    [repaired] = await query_logs(db, LogFilter(search="inside"), Scope.admin())
    assert repaired.fields == {"key\ufffd": "va\ufffdlue"}


async def test_wrong_length_trace_ids_are_stored_without_trace(server, db):
    body = request_with(
        [{"body": "short trace", "trace_id": TRACE[:8], "span_id": SPAN}, {"body": "good", "trace_id": TRACE, "span_id": SPAN}]
    ).SerializeToString()
    status, _, _ = await post(server, body, {**PROTOBUF, **auth(server)})
    assert status == 200
    rows = {row.message: row for row in await query_logs(db, LogFilter(), Scope.admin())}
    assert rows["short trace"].trace_id is None and rows["short trace"].span_id is None
    assert rows["good"].trace_id == TRACE.hex()


class CorruptingNative:
    """The native fast path, with the tuple of a record whose message starts with "poison" given
    a category the table's CHECK constraint refuses."""

    def __init__(self, native):
        self._native = native

    def __getattr__(self, name):  # everything but encode_request is the real module's
        return getattr(self._native, name)

    def encode_request(self, *args):
        tuples, count, handed_back, counts = self._native.encode_request(*args)
        parts = [
            part.replace(b"\x00\x00\x00\x07verbose", b"\x00\x00\x00\x07invalid") if b"poison" in part else part
            for part in copy_rows.split_tuples(tuples)
        ]
        return b"".join(parts), count, handed_back, counts


@pytest.mark.parametrize("path", ["python", "native"])
async def test_records_the_database_refuses_are_rejected_one_by_one(server, db, monkeypatch, path):
    """A record PostgreSQL refuses (here one forced to violate a CHECK constraint) is counted in
    partial_success; the other records of the request and of the same batch are stored."""
    ingest = server.runtime.ingest
    if path == "python":
        real_map_record = collector.mapping.map_record

        def corrupting_map_record(record, context, received_at):
            row, repairs = real_map_record(record, context, received_at)
            if row.message.startswith("poison"):
                row.category = "not-a-category"
            return row, repairs

        monkeypatch.setattr(collector.mapping, "map_record", corrupting_map_record)
        monkeypatch.setattr(ingest, "_native", None)
    else:
        native = copy_rows.native_module()
        if native is None:
            pytest.skip("the native fast path is not built (or ACTIVITY_NATIVE=off)")
        monkeypatch.setattr(ingest, "_native", CorruptingNative(native))
    body = request_with([{"body": "fine 1"}, {"body": "poison"}, {"body": "fine 2"}]).SerializeToString()
    status, payload, _ = await post(server, body, {**PROTOBUF, **auth(server)})
    assert status == 200
    response = ExportLogsServiceResponse.FromString(payload)
    assert response.partial_success.rejected_log_records == 1
    assert "23514" in response.partial_success.error_message  # check_violation
    assert await messages(db) == ["fine 1", "fine 2"]
    assert server.runtime.writer.stats.rejected == 1


# --- gRPC ---------------------------------------------------------------------------------


async def grpc_export(server, request, metadata=None, compression=None):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.runtime.otlp_grpc_port}") as channel:
        stub = logs_service_pb2_grpc.LogsServiceStub(channel)
        return await stub.Export(request, metadata=metadata, compression=compression, timeout=10)


async def test_grpc_gzip_export(server, db):
    response = await grpc_export(
        server, request_with([{"body": "over grpc"}]), (("authorization", f"Bearer {server.token}"),), grpc.Compression.Gzip
    )
    assert not response.HasField("partial_success")
    assert await messages(db) == ["over grpc"]


async def test_grpc_without_token_is_unauthenticated(server, db):
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await grpc_export(server, request_with([{"body": "x"}]))
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert await count_logs(db, LogFilter(), Scope.admin()) == 0


async def test_grpc_oversized_is_resource_exhausted(small_server, db):
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await grpc_export(
            small_server, request_with([{"body": "x" * 70_000}]), (("authorization", f"Bearer {small_server.token}"),)
        )
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_grpc_gzip_bomb_is_resource_exhausted(small_server, db):
    """The limit applies after decompression: a small gzip request that inflates past it is refused."""
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await grpc_export(
            small_server,
            request_with([{"body": "\x01" * 5_000_000}]),
            (("authorization", f"Bearer {small_server.token}"),),
            grpc.Compression.Gzip,
        )
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert await count_logs(db, LogFilter(), Scope.admin()) == 0


async def test_token_use_is_recorded(server, db):
    assert await db.fetchval("SELECT last_used_at FROM ingest_tokens") is None
    status, _, _ = await post(server, request_with([{"body": "x"}]).SerializeToString(), {**PROTOBUF, **auth(server)})
    assert status == 200
    assert await db.fetchval("SELECT last_used_at FROM ingest_tokens") is not None
