"""Hostile and malformed OTLP input (issue 8): what a request may cost, bad ids, trailing junk,
far-future times. Every case is driven through the real receivers against a real database."""

from __future__ import annotations

import aiohttp
import grpc
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

from collector.db.repository import LogFilter, Scope, query_logs
from tests.otlp_factory import request_with

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
