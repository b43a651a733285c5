"""OTLP/HTTP: ``POST /v1/logs`` in protobuf or JSON, identity/gzip/deflate (NOTES §1)."""

from __future__ import annotations

import logging
import math

from aiohttp import web

from collector import otlp_codec as codec
from collector.auth import IngestAuthenticator
from collector.errors import DecodeError, PayloadTooLarge, StoreUnavailable, Unauthenticated
from collector.ingest import IngestService

log = logging.getLogger(__name__)

INGEST = web.AppKey("ingest", IngestService)
AUTH = web.AppKey("ingest_auth", IngestAuthenticator)
MAX_BYTES = web.AppKey("max_request_bytes", int)


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
    limit = request.app[MAX_BYTES]
    try:
        await request.app[AUTH].authenticate(request.headers.get("Authorization"))
        raw = await _read_body(request, limit)
        payload = codec.decompress(raw, request.headers.get("Content-Encoding", ""), limit)
        otlp_request = codec.parse_json(payload) if content_type == codec.JSON else codec.parse_protobuf(payload)
        response = await request.app[INGEST].export(otlp_request)
    except Unauthenticated as exc:
        return _status(401, codec.UNAUTHENTICATED, str(exc), content_type, {"WWW-Authenticate": "Bearer"})
    except PayloadTooLarge as exc:
        return _status(413, codec.RESOURCE_EXHAUSTED, str(exc), content_type)
    except DecodeError as exc:
        return _status(400, codec.INVALID_ARGUMENT, str(exc), content_type)
    except StoreUnavailable as exc:
        retry_after = str(max(1, math.ceil(exc.retry_after)))
        return _status(503, codec.UNAVAILABLE, str(exc), content_type, {"Retry-After": retry_after})
    return web.Response(body=codec.encode_response(response, content_type), content_type=content_type)


async def _read_body(request: web.Request, limit: int) -> bytes:
    """The raw (possibly compressed) body; it may be no larger than the decompressed limit either."""
    body = bytearray()
    while chunk := await request.content.read(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"request body exceeds {limit} bytes")
    return bytes(body)


async def method_not_allowed(request: web.Request) -> web.Response:
    return _status(405, codec.INVALID_ARGUMENT, "only POST is allowed on /v1/logs", codec.JSON, {"Allow": "POST"})


def create_otlp_http_app(ingest: IngestService, auth: IngestAuthenticator, max_request_bytes: int) -> web.Application:
    app = web.Application(client_max_size=max_request_bytes + 1)
    app[INGEST] = ingest
    app[AUTH] = auth
    app[MAX_BYTES] = max_request_bytes
    app.router.add_post("/v1/logs", export_logs)
    app.router.add_route("*", "/v1/logs", method_not_allowed)
    return app
