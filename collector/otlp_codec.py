"""Decoding OTLP/HTTP request bodies and encoding responses, as OTLP/HTTP specifies them.

OTLP/JSON differs from protobuf's canonical JSON: trace and span ids are hex, not base64.
We rewrite those two keys to base64 before handing the document to ``json_format``, which
already accepts integer enums, string or number int64s, and lowerCamelCase keys.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from collector.errors import DecodeError, PayloadTooLarge

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
CONTENT_TYPES = (PROTOBUF, JSON)

# gRPC status codes used in google.rpc.Status bodies.
INVALID_ARGUMENT = 3
RESOURCE_EXHAUSTED = 8
UNAVAILABLE = 14
UNAUTHENTICATED = 16

_CHUNK = 64 * 1024
MAX_GZIP_MEMBERS = 16


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """Undo ``Content-Encoding`` (identity, gzip, deflate) without ever holding more than
    ``limit`` decompressed bytes, so a decompression bomb costs at most ``limit`` of memory."""
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        if len(body) > limit:
            raise PayloadTooLarge(f"request body is {len(body)} bytes; the limit is {limit}")
        return body
    if encoding == "gzip":
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        # RFC 9110 deflate is zlib-wrapped, but some clients send raw deflate: tell them apart
        # by the zlib header (compression method 8 and a header checksum divisible by 31).
        zlib_wrapped = len(body) >= 2 and (body[0] & 0x0F) == 8 and ((body[0] << 8) | body[1]) % 31 == 0
        decompressor = zlib.decompressobj(zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS)
    else:
        raise DecodeError(f"unsupported Content-Encoding {encoding!r}; use gzip, deflate or none")
    out = bytearray()
    members = 1
    view = memoryview(body)
    try:
        # Fed in pieces: when a gzip member ends, what follows it in the piece is copied
        # (``unused_data``), so the pieces keep that copy small and the work linear.
        for offset in range(0, len(view) or 1, _CHUNK):
            data = bytes(view[offset:offset + _CHUNK])
            while data:
                if decompressor.eof:
                    # A gzip body may hold several members one after another (RFC 1952);
                    # anything else after the compressed stream is not part of a valid body.
                    # (The member's header may straddle two pieces: zlib checks the rest of it.)
                    if encoding != "gzip" or data[:1] != b"\x1f":
                        raise DecodeError(f"unexpected data after the end of the {encoding} stream")
                    members += 1
                    if members > MAX_GZIP_MEMBERS:
                        raise DecodeError(f"a gzip body may hold at most {MAX_GZIP_MEMBERS} members")
                    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
                out += decompressor.decompress(data, limit + 1 - len(out))
                if len(out) > limit:
                    raise PayloadTooLarge(f"request body exceeds {limit} bytes after decompression")
                data = decompressor.unconsumed_tail or decompressor.unused_data
        out += decompressor.flush(limit + 1 - len(out))
    except zlib.error as exc:
        raise DecodeError(f"body is not valid {encoding}: {exc}") from None
    if len(out) > limit:
        raise PayloadTooLarge(f"request body exceeds {limit} bytes after decompression")
    if not decompressor.eof:
        raise DecodeError(f"{encoding} body is truncated")
    return bytes(out)


def parse_protobuf(payload: bytes) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    try:
        request.ParseFromString(payload)
    except (ProtobufDecodeError, RuntimeError, ValueError) as exc:
        raise DecodeError(f"body is not a valid ExportLogsServiceRequest protobuf: {exc}") from None
    return request


def parse_json(payload: bytes, max_records: int | None = None) -> ExportLogsServiceRequest:
    """An OTLP/JSON body as a request. With ``max_records``, a body holding more log records is
    refused (``PayloadTooLarge``) before they become protobuf messages (about 150 bytes each, so
    that a few bytes of JSON per empty record would otherwise cost fifty times their size)."""
    try:
        document = json.loads(payload)
    except RecursionError:
        raise DecodeError("body is not valid OTLP/JSON: nested too deeply") from None
    except ValueError as exc:  # invalid JSON or UTF-8, or an integer of thousands of digits
        raise DecodeError(f"body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise DecodeError("body must be a JSON object (ExportLogsServiceRequest)")
    records = _hex_ids_to_base64(document)
    if max_records is not None and records > max_records:
        raise PayloadTooLarge(
            f"the request holds more than {max_records} log records; send at most {max_records} "
            "per request (ACTIVITY_MAX_RECORDS_PER_REQUEST)"
        )
    request = ExportLogsServiceRequest()
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except RecursionError:
        raise DecodeError("body is not valid OTLP/JSON: nested too deeply") from None
    except (json_format.ParseError, TypeError, ValueError, AttributeError, OverflowError, SystemError) as exc:
        # OverflowError: an enum given as 1e400; SystemError: a lone surrogate where an enum or a
        # nested value is expected (both raised by json_format on untrusted input).
        raise DecodeError(f"body is not a valid OTLP/JSON ExportLogsServiceRequest: {exc}") from None
    return request


def _hex_ids_to_base64(document: dict[str, Any]) -> int:
    """Rewrite ``traceId``/``spanId`` of every log record from hex to base64, in place; returns
    how many records there are. An id that is not hex is dropped: an invalid id means "no
    trace", as a wrong length does."""
    records = 0
    for resource_logs in _list(document.get("resourceLogs", document.get("resource_logs"))):
        for scope_logs in _list(_dict(resource_logs).get("scopeLogs", _dict(resource_logs).get("scope_logs"))):
            for record in _list(_dict(scope_logs).get("logRecords", _dict(scope_logs).get("log_records"))):
                records += 1
                if not isinstance(record, dict):
                    continue
                for key in ("traceId", "spanId", "trace_id", "span_id"):
                    if key in record:
                        value = record[key]
                        try:
                            record[key] = base64.b64encode(bytes.fromhex(value)).decode()
                        except (TypeError, ValueError, binascii.Error):
                            del record[key]
    return records


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def encode_response(response: ExportLogsServiceResponse, content_type: str) -> bytes:
    if content_type == JSON:
        return json_format.MessageToJson(response, indent=None).encode()
    return response.SerializeToString()


def encode_status(code: int, message: str, content_type: str) -> bytes:
    """A ``google.rpc.Status`` error body in the request's content type."""
    status = status_pb2.Status(code=code, message=message)
    if content_type == JSON:
        return json_format.MessageToJson(status, indent=None).encode()
    return status.SerializeToString()


def export_response(rejected: int = 0, message: str = "") -> ExportLogsServiceResponse:
    """Success with ``partial_success`` set only when something was rejected or needs saying."""
    response = ExportLogsServiceResponse()
    if rejected or message:
        response.partial_success.rejected_log_records = rejected
        response.partial_success.error_message = message
    return response
