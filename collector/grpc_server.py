"""OTLP/gRPC: ``opentelemetry.proto.collector.logs.v1.LogsService/Export`` on grpc.aio."""

from __future__ import annotations

import logging

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from collector.auth import IngestAuthenticator
from collector.errors import StoreUnavailable, Unauthenticated
from collector.ingest import IngestService

log = logging.getLogger(__name__)


def retry_metadata(seconds: float) -> tuple[tuple[str, bytes], ...]:
    """Trailing metadata the OTel exporters read the retry delay from."""
    whole = int(seconds)
    info = RetryInfo(retry_delay=Duration(seconds=whole, nanos=int((seconds - whole) * 1e9)))
    return (("google.rpc.retryinfo-bin", info.SerializeToString()),)


class LogsServicer(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, ingest: IngestService, auth: IngestAuthenticator):
        self._ingest = ingest
        self._auth = auth

    async def Export(  # noqa: N802 - the gRPC method name
        self, request: ExportLogsServiceRequest, context: grpc.aio.ServicerContext
    ) -> ExportLogsServiceResponse:
        authorization = dict(context.invocation_metadata() or ()).get("authorization")
        try:
            await self._auth.authenticate(authorization)
            return await self._ingest.export(request)
        except Unauthenticated as exc:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        except StoreUnavailable as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc), trailing_metadata=retry_metadata(exc.retry_after))
        raise AssertionError("unreachable")  # context.abort always raises


async def start_grpc_server(
    ingest: IngestService, auth: IngestAuthenticator, host: str, port: int, max_message_bytes: int
) -> tuple[grpc.aio.Server, int]:
    """Start the server; returns it and the port it bound (``port`` 0 picks a free one)."""
    server = grpc.aio.server(
        options=[
            # gRPC checks this limit after decompression and answers RESOURCE_EXHAUSTED.
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", 4 * 1024 * 1024),
        ]
    )
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(LogsServicer(ingest, auth), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind OTLP/gRPC to {host}:{port}")
    await server.start()
    return server, bound
