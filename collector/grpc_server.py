"""OTLP/gRPC: ``opentelemetry.proto.collector.logs.v1.LogsService/Export`` on grpc.aio.

The method is served as a stream-unary handler on raw bytes (a unary client sees no difference on
the wire), so that the handler runs before the request message is read: the token is checked first,
and an unauthenticated call is answered without the server ever reading its message. The message is
awaited for at most the body timeout, with nothing reserved meanwhile; once read, its bytes are
reserved in the ingest budget, counted and decoded record by record by ``IngestService`` (never as
a whole request).
"""

from __future__ import annotations

import asyncio
import logging

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

from collector import otlp_codec
from collector.auth import IngestAuthenticator
from collector.errors import DecodeError, PayloadTooLarge, StoreUnavailable, Unauthenticated
from collector.ingest import IngestService

log = logging.getLogger(__name__)

SERVICE = "opentelemetry.proto.collector.logs.v1.LogsService"


def retry_metadata(seconds: float) -> tuple[tuple[str, bytes], ...]:
    """Trailing metadata the OTel exporters read the retry delay from."""
    whole = int(seconds)
    info = RetryInfo(retry_delay=Duration(seconds=whole, nanos=int((seconds - whole) * 1e9)))
    return (("google.rpc.retryinfo-bin", info.SerializeToString()),)


def peer_address(peer: str) -> str:
    """The client's address without its port: "ipv4:10.0.0.7:53211" → "10.0.0.7",
    "ipv6:[::1]:53211" → "::1" (so that reports count clients, not connections)."""
    _, _, rest = peer.partition(":")
    if rest.startswith("["):
        return rest[1:].partition("]")[0]
    host, _, port = rest.rpartition(":")
    return host if host and port.isdigit() else (rest or peer)


class LogsServicer:
    """``Export`` with the answers of the README's table (UNAUTHENTICATED, INVALID_ARGUMENT,
    RESOURCE_EXHAUSTED without retry advice, UNAVAILABLE with RetryInfo)."""

    def __init__(self, ingest: IngestService, auth: IngestAuthenticator):
        self._ingest = ingest
        self._auth = auth

    async def export(self, request_iterator: object, context: grpc.aio.ServicerContext) -> ExportLogsServiceResponse:
        authorization = dict(context.invocation_metadata() or ()).get("authorization")
        try:
            await self._auth.authenticate(authorization)
            # Nothing is reserved while the message is awaited: a call that never sends it holds
            # no ingest memory, and is ended after the body timeout.
            try:
                async with asyncio.timeout(self._ingest.limits.body_timeout_s):
                    payload = await context.read()
            except TimeoutError:
                raise DecodeError(f"the request message did not arrive within {self._ingest.limits.body_timeout_s:g} s") from None
            if payload is grpc.aio.EOF:
                raise DecodeError("no request message")
            with self._ingest.budget.reserve(len(payload)) as reservation:
                return await self._ingest.export(payload, otlp_codec.PROTOBUF, reservation, "grpc")
        except Unauthenticated as exc:
            self._ingest.report_refusal("ingest_unauthenticated", peer_address(context.peer()), None)
            self._refuse(context, grpc.StatusCode.UNAUTHENTICATED, str(exc))
        except DecodeError as exc:
            self._ingest.report_refusal("ingest_malformed", peer_address(context.peer()), str(exc))
            self._refuse(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except PayloadTooLarge as exc:
            self._ingest.report_refusal("ingest_malformed", peer_address(context.peer()), str(exc))
            self._refuse(context, grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        except StoreUnavailable as exc:
            self._refuse(context, grpc.StatusCode.UNAVAILABLE, str(exc), retry_metadata(exc.retry_after))
        return ExportLogsServiceResponse()  # not sent: the status above is

    @staticmethod
    def _refuse(context: grpc.aio.ServicerContext, code: grpc.StatusCode, details: str,
                trailing_metadata: tuple[tuple[str, bytes], ...] = ()) -> None:  # fmt: skip
        """Answer with an error status without raising: ``context.abort`` raises an exception
        whose traceback and grpc's own references form a cycle with this call's frame, which
        would keep the request's bytes alive until the next full garbage collection."""
        context.set_code(code)
        context.set_details(details)
        if trailing_metadata:
            context.set_trailing_metadata(trailing_metadata)


async def start_grpc_server(
    ingest: IngestService, auth: IngestAuthenticator, host: str, port: int, max_message_bytes: int,
    *, reuse_port: bool = False,
) -> tuple[grpc.aio.Server, int]:
    """Start the server; returns it and the port it bound (``port`` 0 picks a free one).
    ``reuse_port``: shared with the other processes of ``serve --workers`` (gRPC would share any
    port by default; a lone server must not)."""
    server = grpc.aio.server(
        options=[
            ("grpc.so_reuseport", 1 if reuse_port else 0),
            # gRPC checks this limit after decompression and answers RESOURCE_EXHAUSTED.
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", 4 * 1024 * 1024),
        ]
    )
    servicer = LogsServicer(ingest, auth)
    handler = grpc.method_handlers_generic_handler(SERVICE, {
        "Export": grpc.stream_unary_rpc_method_handler(
            servicer.export, request_deserializer=None, response_serializer=ExportLogsServiceResponse.SerializeToString
        ),
    })  # fmt: skip
    server.add_generic_rpc_handlers((handler,))
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind OTLP/gRPC to {host}:{port}")
    await server.start()
    return server, bound
