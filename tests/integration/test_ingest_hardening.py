"""Hostile and malformed OTLP input: what a request may cost, bad ids, trailing junk,
far-future times. Every case is driven through the real receivers against a real database."""

from __future__ import annotations

import asyncio
import tracemalloc

import aiohttp
import grpc
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

from collector import admission, copy_rows, key_catalogue
from collector import ingest as ingest_module
from collector.db.repository import LogFilter, Scope, query_logs
from tests.support.otlp import request_with

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def auth(server) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token}"}


async def post(server, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session:
        async with session.post(server.otlp_http_url, data=body, headers={**headers, **auth(server)}) as response:
            return response.status, await response.read()


async def grpc_export(server, request, compression=None):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.runtime.otlp_grpc_port}") as channel:
        stub = logs_service_pb2_grpc.LogsServiceStub(channel)
        return await stub.Export(request, metadata=(("authorization", f"Bearer {server.token}"),),
                                 compression=compression, timeout=30)  # fmt: skip


async def stored(db) -> dict[str, object]:
    return {row.message: row for row in await query_logs(db, LogFilter(), Scope.admin(), limit=1000, shortened=False)}


BAD_IDS = ["²", "١٢٣", "1" * 5000, "12_000", " 7 ", "-0x10", "9223372036854775808"]


@pytest.mark.parametrize("transport", ["http", "grpc"])
async def test_unusable_ids_stay_in_fields_and_lose_nothing(server, db, transport):
    records = [{"body": "good", "attributes": {"activity.job.id": "42", "activity.user.id": 7}}]
    records += [{"body": f"bad {i}", "attributes": {"activity.job.id": value, "activity.project.id": value,
                                                    "activity.user.id": value, "activity.entity.id": value}}
                for i, value in enumerate(BAD_IDS)]  # fmt: skip
    request = request_with(records)
    if transport == "http":
        status, body = await post(server, request.SerializeToString(), PROTOBUF)
        assert status == 200, body
        response = ExportLogsServiceResponse.FromString(body)
    else:
        response = await grpc_export(server, request)
    assert response.partial_success.rejected_log_records == 0
    rows = await stored(db)
    assert rows["good"].job_id == 42 and rows["good"].user_id == 7
    for i, value in enumerate(BAD_IDS):
        row = rows[f"bad {i}"]
        if value == " 7 ":  # surrounding spaces around ASCII digits are tolerated
            assert row.job_id == 7
            continue
        assert (row.job_id, row.project_id, row.user_id, row.entity_id) == (None, None, None, None), value
        assert row.fields["activity.job.id"] == value and row.fields["activity.user.id"] == value


# --- what a request may cost -------------------------------------------------------------------

from datetime import datetime, timedelta, timezone  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402

from google.protobuf.internal.encoder import _VarintBytes  # noqa: E402
from google.rpc import status_pb2  # noqa: E402

from tests.support.server import start_server  # noqa: E402


def _length_delimited(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _VarintBytes(len(body)) + body


def empty_records_request(count: int) -> bytes:
    """An ExportLogsServiceRequest of ``count`` empty log records: 2 bytes each on the wire."""
    return _length_delimited(0x0A, _length_delimited(0x12, b"\x12\x00" * count))


def status_of(body: bytes) -> status_pb2.Status:
    return status_pb2.Status.FromString(body)


async def grpc_raw(server, payload: bytes, compression=None):
    """Send raw bytes as the Export request (no client-side encoding)."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.runtime.otlp_grpc_port}") as channel:
        call = channel.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export",
                                   request_serializer=None, response_deserializer=None)  # fmt: skip
        return await call(payload, metadata=(("authorization", f"Bearer {server.token}"),),
                          compression=compression, timeout=30)  # fmt: skip


async def test_a_million_empty_records_are_refused_over_grpc_before_decoding(server, db):
    """About 2 kB of gzip holding a million empty records (4.7 GB of server memory before)."""
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await grpc_raw(server, empty_records_request(1_000_000), compression=grpc.Compression.Gzip)
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "20000 log records" in error.value.details() and "ACTIVITY_MAX_RECORDS_PER_REQUEST" in error.value.details()
    # Not retryable: no RetryInfo (the exporters would otherwise resend it).
    assert not any(key == "google.rpc.retryinfo-bin" for key, _ in (error.value.trailing_metadata() or ()))
    assert server.runtime.ingest.budget.reserved == 0
    assert await stored(db) == {}


async def test_a_million_empty_records_are_refused_over_http(server, db):
    body = gzip.compress(empty_records_request(1_000_000))
    status, payload = await post(server, body, {**PROTOBUF, "Content-Encoding": "gzip"})
    assert status == 413 and "20000 log records" in status_of(payload).message
    document = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{}] * 20_001}]}]}
    status, payload = await post(server, json.dumps(document).encode(), {"Content-Type": "application/json"})
    assert status == 413 and b"20000 log records" in payload
    assert server.runtime.ingest.budget.reserved == 0


async def test_the_record_cap_is_a_setting(database_url, tmp_path, db):
    server = await start_server(database_url, tmp_path, max_records_per_request=3)
    try:
        status, _ = await post(server, empty_records_request(3), PROTOBUF)
        assert status == 200
        status, payload = await post(server, empty_records_request(4), PROTOBUF)
        assert status == 413 and "more than 3 log records" in status_of(payload).message
    finally:
        await server.stop()


async def test_records_over_the_size_limit_are_rejected_and_the_rest_stored(database_url, tmp_path, db):
    server = await start_server(database_url, tmp_path, max_record_bytes=4096)
    try:
        request = request_with([{"body": "small"}, {"body": "big " + "x" * 5000}, {"body": "small too"}])
        status, body = await post(server, request.SerializeToString(), PROTOBUF)
        assert status == 200
        response = ExportLogsServiceResponse.FromString(body)
        assert response.partial_success.rejected_log_records == 1
        assert "larger than 4096 bytes" in response.partial_success.error_message
        assert sorted(await stored(db)) == ["small", "small too"]
        grpc_response = await grpc_export(server, request_with([{"body": "y" * 5000}, {"body": "fits"}]))
        assert grpc_response.partial_success.rejected_log_records == 1
    finally:
        await server.stop()


async def test_ingest_at_its_memory_limit_answers_retry_later(server, db):
    budget = server.runtime.ingest.budget
    body = request_with([{"body": "later"}]).SerializeToString()
    # As if other requests held it all: room for the request's bytes, not for what it becomes.
    hog = budget.reserve(budget.capacity - 2 * len(body))
    try:
        status, _ = await post(server, body, PROTOBUF)
        assert status == 503
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await grpc_export(server, request_with([{"body": "later"}]))
        assert error.value.code() == grpc.StatusCode.UNAVAILABLE
        assert any(key == "google.rpc.retryinfo-bin" for key, _ in error.value.trailing_metadata())
    finally:
        hog.release()
    status, _ = await post(server, request_with([{"body": "now"}]).SerializeToString(), PROTOBUF)
    assert status == 200 and list(await stored(db)) == ["now"]
    assert budget.reserved == 0 and budget.refused >= 2


async def test_catalogue_keys_held_until_the_commit_are_reserved(server, db):
    """On the fast path a request's catalogue keys are read when it is encoded and held until
    its commit: a record with 256 keys of 128 bytes holds about 2.4 times its size in them, which
    its reservation must include (room for the request and its tuples alone is not enough)."""
    if copy_rows.native_module() is None:
        pytest.skip("the native fast path is not built (or ACTIVITY_NATIVE=off)")
    budget = server.runtime.ingest.budget
    attributes = {f"{i:03d}" + "k" * 125: i for i in range(key_catalogue.MAX_KEYS_PER_REQUEST)}
    body = request_with([{"body": "long keys", "attributes": attributes}]).SerializeToString()
    tuples = copy_rows.native_module().encode_request(body, 0, 0, 10, 1 << 20)[0]
    held = len(body) + len(tuples) + key_catalogue.MAX_KEYS_PER_REQUEST * key_catalogue.KEY_MEMORY_BYTES
    assert held > admission.native_cost(len(body))
    hog = budget.reserve(budget.capacity - admission.native_cost(len(body)))  # room to encode it only
    try:
        status, _ = await post(server, body, PROTOBUF)
        assert status == 503
    finally:
        hog.release()
    status, _ = await post(server, body, PROTOBUF)
    assert status == 200 and list(await stored(db)) == ["long keys"]
    assert budget.reserved == 0


def escaped_resource_request(records: int, resource_bytes: int) -> bytes:
    """Records that are nearly nothing on the wire under a resource whose value JSON writes six
    bytes for each of its bytes (U+0001 is \\u0001): every record's tuple repeats it."""
    return request_with([{"body": f"tiny {i}"} for i in range(records)],
                        resource={"service.name": "amp", "k": "\x01" * resource_bytes}).SerializeToString()  # fmt: skip


async def test_tuples_that_outgrow_the_reservation_are_reserved_first(server, db):
    """On the fast path, tuples that would take more than a request reserved stop its encoding at
    once: with room for the tuples' first estimate only, such a request is refused (retry later)
    without its tuples ever being built, and with room it is reserved in full and stored."""
    if copy_rows.native_module() is None:
        pytest.skip("the native fast path is not built (or ACTIVITY_NATIVE=off)")
    budget = server.runtime.ingest.budget
    body = escaped_resource_request(40, 20_000)  # 20 KB on the wire, 40 × 120 KB stored
    assert len(copy_rows.native_module().encode_request(body, 0, 0, 100, 1 << 20)[0]) > 100 * len(body)
    hog = budget.reserve(budget.capacity - admission.native_cost(len(body)))
    tracemalloc.start()
    try:
        status, _ = await post(server, body, PROTOBUF)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        hog.release()
    assert status == 503
    assert peak < 20 * len(body) + 2**20, f"{peak} bytes traced: the tuples were built before being reserved"
    status, _ = await post(server, body, PROTOBUF)
    assert status == 200 and len(await stored(db)) == 40
    assert budget.reserved == 0


async def test_tuples_whose_estimates_keep_falling_short_are_refused(server, db, monkeypatch):
    if copy_rows.native_module() is None:
        pytest.skip("the native fast path is not built (or ACTIVITY_NATIVE=off)")
    monkeypatch.setattr(ingest_module, "MAX_ENCODE_ATTEMPTS", 1)
    status, answer = await post(server, escaped_resource_request(40, 20_000), PROTOBUF)
    assert status == 413 and b"send fewer records per request" in answer
    assert server.runtime.ingest.budget.reserved == 0 and not await stored(db)


async def test_otlp_http_does_not_announce_versions(server):
    async with aiohttp.ClientSession() as session:
        async with session.post(server.otlp_http_url, data=b"", headers=PROTOBUF) as response:
            assert response.status == 401 and response.headers["Server"] == "activity-console"


async def test_grpc_garbage_is_invalid_argument(server, db):
    for payload in (b"\xff\xff\xff", b"\x0a\x05\x12\x03\x12\x09", b"\x0b\x0c"):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await grpc_raw(server, payload)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, payload


@pytest.mark.parametrize("body, encoding, expected", [
    (gzip.compress(request_with([{"body": "a"}]).SerializeToString()) + b"junk", "gzip", 400),
    (gzip.compress(request_with([{"body": "a"}]).SerializeToString()) + b"\x1f\x8b", "gzip", 400),
    (gzip.compress(b"\x0a\x00") + gzip.compress(request_with([{"body": "two members"}]).SerializeToString()), "gzip", 200),
], ids=["junk", "half-a-header", "two-members"])  # fmt: skip
async def test_data_after_the_gzip_stream_is_refused_and_members_are_read(server, db, body, encoding, expected):
    status, payload = await post(server, body, {**PROTOBUF, "Content-Encoding": encoding})
    assert status == expected, payload
    assert list(await stored(db)) == (["two members"] if expected == 200 else [])


@pytest.mark.parametrize("document", [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"timeUnixNano": ' + b"9" * 5000 + b"}]}]}]}",
    b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": ' + b'{"kvlistValue": {"values": [{"key": "k", "value": ' * 300
    + b"{}" + b"}]}}" * 300 + b"}]}]}]}",
], ids=["deep-arrays", "5000-digits", "deep-maps"])  # fmt: skip
async def test_hostile_json_is_a_bad_request(server, db, document):
    status, payload = await post(server, document, {"Content-Type": "application/json"})
    assert status == 400, payload
    assert json.loads(payload)["code"] == 3  # INVALID_ARGUMENT


async def test_far_future_times_are_stored_at_receive_time(server, db):
    future = datetime(2554, 7, 21, tzinfo=timezone.utc)
    near = datetime.now(timezone.utc) + timedelta(minutes=2)
    records = [{"body": "from 2554", "time_unix_nano": int(future.timestamp()) * 10**9},
               {"body": "two minutes ahead", "time_unix_nano": int(near.timestamp() * 1e6) * 1000}]  # fmt: skip
    status, body = await post(server, request_with(records).SerializeToString(), PROTOBUF)
    assert status == 200
    response = ExportLogsServiceResponse.FromString(body)
    assert response.partial_success.rejected_log_records == 0
    assert "1 log record(s) timestamped more than 10 minutes ahead" in response.partial_success.error_message
    rows = await stored(db)
    assert abs(rows["from 2554"].timestamp - datetime.now(timezone.utc)) < timedelta(minutes=1)
    assert rows["from 2554"].fields["activity.original_timestamp"].startswith("2554-07-21T00:00:00")
    assert rows["two minutes ahead"].timestamp > datetime.now(timezone.utc)  # small skew is kept


@pytest.mark.parametrize("tag", [0x0A, 0x12], ids=["resource-blocks", "scope-blocks"])
async def test_a_million_empty_blocks_are_refused_too(server, db, tag):
    """Empty resource or scope blocks cost as much as empty records once located."""
    inner = bytes([tag, 0]) * 1_000_000
    body = inner if tag == 0x0A else _length_delimited(0x0A, inner)
    status, payload = await post(server, body, PROTOBUF)
    assert status == 413 and "resource or scope blocks" in status_of(payload).message
    assert server.runtime.ingest.budget.reserved == 0


async def test_made_up_ingest_tokens_take_one_connection_and_never_evict_valid_ones(server):
    """A flood of random tokens is looked up one at a time (the writer needs the ingest pool's
    other connections), and invalid verdicts have their own cache: a valid token stays cached."""
    from contextlib import asynccontextmanager

    from collector.auth import IngestAuthenticator, hash_token
    from collector.errors import Unauthenticated

    class CountingPool:
        def __init__(self, pool):
            self._pool, self.in_use, self.peak, self.lookups = pool, 0, 0, 0

        @asynccontextmanager
        async def acquire(self, **kwargs):
            async with self._pool.acquire(**kwargs) as connection:
                self.in_use += 1
                self.lookups += 1
                self.peak = max(self.peak, self.in_use)
                try:
                    yield connection
                finally:
                    self.in_use -= 1

    pool = CountingPool(server.runtime.ingest_pool)
    authenticator = IngestAuthenticator(pool, max_cached=50)  # type: ignore[arg-type]
    valid = await authenticator.authenticate(f"Bearer {server.token}")

    async def attempt(i: int) -> None:
        with pytest.raises(Unauthenticated):
            await authenticator.authenticate(f"Bearer made-up-{i}")

    await asyncio.gather(*(attempt(i) for i in range(200)))
    assert pool.peak == 1 and pool.lookups == 201
    assert authenticator._cached(hash_token(server.token)) == valid  # 200 invalid ones evicted nothing
