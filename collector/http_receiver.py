"""OTLP/HTTP: ``POST /v1/logs`` in protobuf or JSON, identity/gzip/deflate (the OpenTelemetry
exporters send deflate as well as gzip)."""

from __future__ import annotations

import asyncio
import logging
import math

from aiohttp import web

from collector import otlp_codec as codec
from collector.admission import Reservation
from collector.auth import IngestAuthenticator
from collector.errors import DecodeError, PayloadTooLarge, StoreUnavailable, Unauthenticated
from collector.ingest import IngestService

log = logging.getLogger(__name__)

INGEST = web.AppKey("ingest", IngestService)
AUTH = web.AppKey("ingest_auth", IngestAuthenticator)
# Deflate's output is at most about 1,032 times its input: what decompressing may take at once.
MAX_COMPRESSION_RATIO = 1032


def _status(http_status: int, grpc_code: int, message: str, content_type: str, headers: dict | None = None) -> web.Response:
    return web.Response(
        status=http_status,
        body=codec.encode_status(grpc_code, message, content_type),
        content_type=content_type,
        headers=headers,
    )


async def export_logs(request: web.Request) -> web.Response:
    content_type = request.content_type.lower()
    if content_type not in codec.CONTENT_TYPES:
        return _status(
            415, codec.INVALID_ARGUMENT,
            f"unsupported Content-Type {request.content_type!r}; use application/x-protobuf or application/json",
            codec.JSON,
        )  # fmt: skip
    ingest = request.app[INGEST]
    limit = ingest.limits.max_request_bytes
    encoding = request.headers.get("Content-Encoding", "")
    try:
        await request.app[AUTH].authenticate(request.headers.get("Authorization"))
        # The reservation grows with the bytes actually received: a body that trickles in, or
        # never comes, holds only what it sent, and for at most the body timeout.
        with ingest.budget.reserve(0) as reservation:
            async with asyncio.timeout(ingest.limits.body_timeout_s):
                raw = await _read_body(request, limit, reservation)
            if encoding.strip().lower() not in ("", "identity"):
                reservation.resize(len(raw) + min(limit, len(raw) * MAX_COMPRESSION_RATIO))
            payload = codec.decompress(raw, encoding, limit)
            del raw
            reservation.resize(len(payload))
            response = await ingest.export(payload, content_type, reservation)
    except Unauthenticated as exc:
        ingest.report_refusal("ingest_unauthenticated", request.remote, None)
        return _status(401, codec.UNAUTHENTICATED, str(exc), content_type, {"WWW-Authenticate": "Bearer"})
    except PayloadTooLarge as exc:
        ingest.report_refusal("ingest_malformed", request.remote, str(exc))
        return _status(413, codec.RESOURCE_EXHAUSTED, str(exc), content_type)
    except DecodeError as exc:
        ingest.report_refusal("ingest_malformed", request.remote, str(exc))
        return _status(400, codec.INVALID_ARGUMENT, str(exc), content_type)
    except TimeoutError:
        ingest.report_refusal("ingest_malformed", request.remote, "the request body did not arrive in time")
        return _status(408, codec.INVALID_ARGUMENT, "the request body did not arrive in time", content_type,
                       {"Connection": "close"})  # fmt: skip
    except StoreUnavailable as exc:
        retry_after = str(max(1, math.ceil(exc.retry_after)))
        return _status(503, codec.UNAVAILABLE, str(exc), content_type, {"Retry-After": retry_after})
    return web.Response(body=codec.encode_response(response, content_type), content_type=content_type)


async def _read_body(request: web.Request, limit: int, reservation: Reservation) -> bytes:
    """The raw (possibly compressed) body; it may be no larger than the decompressed limit either.
    Each chunk is reserved before it is kept (``Overloaded`` when ingest is at its memory limit)."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"request body is {request.content_length} bytes; the limit is {limit}")
    body = bytearray()
    while chunk := await request.content.read(64 * 1024):
        if len(body) + len(chunk) > limit:
            raise PayloadTooLarge(f"request body exceeds {limit} bytes")
        reservation.resize(2 * (len(body) + len(chunk)))  # the bytearray and the bytes made of it
        body += chunk
    return bytes(body)


async def _hide_versions(request: web.Request, response: web.StreamResponse) -> None:
    # aiohttp would announce its own and Python's versions.
    response.headers["Server"] = "activity-console"


async def method_not_allowed(request: web.Request) -> web.Response:
    return _status(405, codec.INVALID_ARGUMENT, "only POST is allowed on /v1/logs", codec.JSON, {"Allow": "POST"})


def create_otlp_http_app(ingest: IngestService, auth: IngestAuthenticator) -> web.Application:
    app = web.Application(client_max_size=ingest.limits.max_request_bytes + 1)
    app[INGEST] = ingest
    app[AUTH] = auth
    app.on_response_prepare.append(_hide_versions)
    app.router.add_post("/v1/logs", export_logs)
    app.router.add_route("*", "/v1/logs", method_not_allowed)
    return app
