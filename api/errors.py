"""One error shape for the whole HTTP API: ``{"error": {"code": ..., "message": ...}}``.

Handlers raise ``ApiError`` (or one of its subclasses); ``error_middleware`` turns it, aiohttp's
own HTTP errors (404 for an unknown route, 405, 413…), request-body validation errors and any
unexpected exception into that shape, for every path under ``/api/``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Awaitable, Callable, Mapping, TypeVar

import asyncpg
from aiohttp import web
from pydantic import BaseModel, ValidationError

from collector.contract import INT64_MAX

log = logging.getLogger(__name__)

API_PREFIX = "/api/"
# A request body must have arrived this many seconds after the handler asks for it, so that a
# client trickling (or never sending) its body cannot hold a handler and its resources forever.
BODY_READ_TIMEOUT_S = 30.0
ModelT = TypeVar("ModelT", bound=BaseModel)

# Error codes of aiohttp's HTTP exceptions, by status.
_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    500: "internal",
    503: "unavailable",
}


class ApiError(Exception):
    """An error answered as ``{"error": {"code", "message"}}`` with ``status``."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 headers: Mapping[str, str] | None = None):  # fmt: skip
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.headers = dict(headers or {})


class BadRequest(ApiError):
    """Invalid query parameter or request body (400)."""


class BadQuery(BadRequest):
    """A query (``q``) that cannot be parsed (400): the body also carries ``position``, the 0-based
    index in ``q`` of the problem, so that a query bar can point at it."""

    code = "bad_query"

    def __init__(self, message: str, position: int):
        super().__init__(message)
        self.position = position


class Unauthorized(ApiError):
    """Missing, malformed, expired or otherwise invalid credentials (401)."""

    status, code = 401, "unauthenticated"


class Forbidden(ApiError):
    """Authenticated, but the role does not allow this (403)."""

    status, code = 403, "forbidden"


class NotFound(ApiError):
    """The resource does not exist or is outside the caller's scope (404)."""

    status, code = 404, "not_found"


class Conflict(ApiError):
    """The resource already exists (409)."""

    status, code = 409, "conflict"


class Gone(ApiError):
    """The resource existed but is no longer available, e.g. a used or expired one-time link (410)."""

    status, code = 410, "gone"


class RequestTimeout(ApiError):
    """The request body did not arrive within ``BODY_READ_TIMEOUT_S`` (408)."""

    status, code = 408, "request_timeout"


class ServiceUnavailable(ApiError):
    """Too busy right now; ``Retry-After`` says when to try again (503)."""

    status, code = 503, "unavailable"

    def __init__(self, message: str, retry_after: int = 1):
        super().__init__(message, headers={"Retry-After": str(max(1, int(retry_after)))})


class TooManyRequests(ApiError):
    """Rate limited (429); ``retry_after`` seconds go into ``Retry-After``."""

    status, code = 429, "too_many_requests"

    def __init__(self, message: str, retry_after: int):
        super().__init__(message, headers={"Retry-After": str(max(1, int(retry_after)))})
        self.retry_after = retry_after


def error_response(status: int, code: str, message: str, headers: Mapping[str, str] | None = None,
                   position: int | None = None) -> web.Response:  # fmt: skip
    """The JSON error body every API error uses (``position``: a query's error, ``BadQuery``)."""
    error: dict[str, Any] = {"code": code, "message": message}
    if position is not None:
        error["position"] = position
    return web.json_response({"error": error}, status=status, headers=headers)


def validation_message(exc: ValidationError) -> str:
    """Pydantic's errors as one line: ``field: problem; other: problem``."""
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error.get("loc", ())) or "body"
        kind = error.get("type")
        if kind == "extra_forbidden":
            message = "not a known field"
        elif kind == "value_error":  # a model's own check: its words, without pydantic's prefix
            message = str(error.get("ctx", {}).get("error", error.get("msg", "invalid")))
        else:
            message = error.get("msg", "invalid")
        parts.append(f"{where}: {message}")
    return "; ".join(parts) or "invalid request body"


async def parse_body(request: web.Request, model: type[ModelT]) -> ModelT:
    """The JSON request body validated against ``model``; ``BadRequest`` otherwise, and
    ``RequestTimeout`` when the body has not arrived within ``BODY_READ_TIMEOUT_S``."""
    try:
        async with asyncio.timeout(BODY_READ_TIMEOUT_S):
            raw = await request.read()
    except TimeoutError:
        raise RequestTimeout(f"the request body did not arrive within {BODY_READ_TIMEOUT_S:g} s") from None
    try:
        data: Any = json.loads(raw.decode(request.charset or "utf-8"))
    except (UnicodeDecodeError, LookupError):  # LookupError: a charset Python does not know
        raise BadRequest("the request body is not valid UTF-8 JSON") from None
    except RecursionError:
        raise BadRequest("the request body is nested too deeply") from None
    except ValueError:  # invalid JSON, or a number with more digits than Python converts
        raise BadRequest("the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(validation_message(exc)) from None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every failure under ``/api/`` in the one error shape. Other paths (health, the OTLP
    receivers' own app, the WebSocket) keep their own conventions."""
    if not request.path.startswith(API_PREFIX):
        return await handler(request)
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.headers, getattr(exc, "position", None))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # redirects and the like are not errors
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
        return error_response(exc.status, _CODES.get(exc.status, "error"), exc.reason, headers)
    except ValidationError as exc:
        return error_response(400, "bad_request", validation_message(exc))
    except asyncpg.QueryCanceledError:
        return error_response(503, "unavailable", "the query took too long; narrow the time range or the filters",
                              {"Retry-After": "5"})  # fmt: skip
    except ConnectionResetError:
        raise  # the client went away: nothing to answer
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "internal", "internal server error")


MAX_BIGINT = INT64_MAX


def path_int(request: web.Request, name: str) -> int:
    """A numeric path segment (the route pattern ensures digits); ids beyond PostgreSQL's bigint
    cannot exist, so they are a 404 rather than a database error."""
    digits = request.match_info[name]
    # More than 19 digits cannot be a bigint (and int() refuses thousands of them outright).
    if len(digits.lstrip("0")) > 19 or int(digits) > MAX_BIGINT:
        raise NotFound(f"no such {name.removesuffix('_id')} {digits[:30]}{'…' if len(digits) > 30 else ''}")
    return int(digits)
