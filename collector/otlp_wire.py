"""An OTLP logs request split at its records, before anything is decoded (docs/security.md,
"What a request may cost").

Decoding a whole ``ExportLogsServiceRequest`` costs memory per message, not per byte: 8 MiB of
empty log records is four million records, about 520 MB of protobuf objects before a single one is
mapped. So the receivers first walk the request's three outer levels (resource logs, scope logs,
log records) without decoding them, which costs about a microsecond per record and no object per
record but one slice position; they refuse a request with too many records at once, and then
decode one record at a time (``decode_record``), each only as large as the per-record limit
allows, dropping its protobuf objects as soon as it is mapped.

Protobuf's merge rules are kept: the fields of a resource-logs or scope-logs message other than
its scope logs or records (its resource, scope, schema URL) are decoded together as one message,
so that a field sent twice merges as any protobuf decoder would merge it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from google.protobuf.message import DecodeError as ProtobufDecodeError
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs

from collector.errors import DecodeError, PayloadTooLarge

_LEN = 2  # the wire type of length-delimited fields (messages, strings, bytes)


@dataclass(slots=True)
class ScopePart:
    header: bytes  # the scope logs message without its records: scope, schema URL
    records: list[tuple[int, int]] = field(default_factory=list)  # (start, end) of each record's bytes


@dataclass(slots=True)
class ResourcePart:
    header: bytes  # the resource logs message without its scope logs: resource, schema URL
    scopes: list[ScopePart] = field(default_factory=list)


@dataclass(slots=True)
class SplitRequest:
    data: bytes
    resources: list[ResourcePart]
    records: int


def _varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    if pos < end and data[pos] < 0x80:  # one byte: almost every tag and most lengths
        return data[pos], pos + 1
    result = shift = 0
    while True:
        if pos >= end:
            raise DecodeError("body is not a valid ExportLogsServiceRequest protobuf: truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= 64:
            raise DecodeError("body is not a valid ExportLogsServiceRequest protobuf: varint too long")


def _fields(data: bytes, pos: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """(field number, wire type, start of the field's tag, start of its value, end) for each field
    of the message in data[pos:end]. Only length-delimited values are located exactly; the others
    are skipped by their wire type."""
    while pos < end:
        start = pos
        key, pos = _varint(data, pos, end)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise DecodeError("body is not a valid ExportLogsServiceRequest protobuf: field number 0")
        if wire_type == _LEN:
            length, pos = _varint(data, pos, end)
            value_start, pos = pos, pos + length
        elif wire_type == 0:
            value_start = pos
            _, pos = _varint(data, pos, end)
        elif wire_type == 1:
            value_start, pos = pos, pos + 8
        elif wire_type == 5:
            value_start, pos = pos, pos + 4
        else:  # groups (3, 4) are not part of OTLP; 6 and 7 do not exist
            raise DecodeError(f"body is not a valid ExportLogsServiceRequest protobuf: wire type {wire_type}")
        if pos > end:
            raise DecodeError("body is not a valid ExportLogsServiceRequest protobuf: truncated field")
        yield number, wire_type, start, value_start, pos


# Every field of the outer levels costs a step and a slice: besides records and blocks, a request
# may hold this many other fields per record allowed (a resource or a scope has two or three).
FIELDS_PER_RECORD = 4
_WHAT = {"records": "log records", "blocks": "resource or scope blocks", "fields": "fields outside its records"}


class _Budget:
    """How many more records, resource or scope blocks, and other outer fields the request may hold."""

    __slots__ = ("records", "blocks", "fields", "limit")

    def __init__(self, limit: int):
        self.records = self.blocks = limit
        self.fields = limit * FIELDS_PER_RECORD
        self.limit = limit

    def take(self, kind: str) -> None:
        left = getattr(self, kind) - 1
        if left < 0:
            what = _WHAT[kind]
            raise PayloadTooLarge(
                f"the request holds more than {self.limit} {what}; send at most {self.limit} log records "
                "per request (ACTIVITY_MAX_RECORDS_PER_REQUEST)"
            )
        setattr(self, kind, left)


def _split(data: bytes, start: int, stop: int, child: int, budget: _Budget, kind: str) -> tuple[bytes, list[tuple[int, int]]]:
    """The message in data[start:stop] as (its other fields' bytes, the spans of its ``child``
    fields), each child taken from ``budget`` as it is found, so that a request past the limit
    is refused before it costs a span per child."""
    header: list[bytes] = []
    children: list[tuple[int, int]] = []
    for number, wire_type, tag, value_start, value_stop in _fields(data, start, stop):
        if number == child and wire_type == _LEN:
            budget.take(kind)
            children.append((value_start, value_stop))
        else:
            budget.take("fields")
            header.append(data[tag:value_stop])
    return b"".join(header), children


# What a request's resources and scopes may add to its size once repeated into each of their
# records (every stored entry carries its resource and scope): this many times the request, or
# MIN_REPEATED_BYTES, whichever is more.
REPEATED_FACTOR = 8
MIN_REPEATED_BYTES = 8 * 1024 * 1024


def split_request(data: bytes, max_records: int, max_header_bytes: int | None = None) -> SplitRequest:
    """Locate every record of an ``ExportLogsServiceRequest``; ``PayloadTooLarge`` as soon as there
    are more than ``max_records`` records (or resource and scope blocks, or other outer fields:
    empty ones cost as much), when a resource or scope is larger than ``max_header_bytes``, or
    when its resources and scopes repeated into each record would amount to more than
    ``REPEATED_FACTOR`` times the request; ``DecodeError`` when the outer levels are malformed.
    Unknown fields of the request itself are ignored, as a decoder would."""
    budget = _Budget(max_records)
    _, resource_spans = _split(data, 0, len(data), 1, budget, "blocks")
    resources: list[ResourcePart] = []
    repeated = 0
    for start, stop in resource_spans:
        header, scope_spans = _split(data, start, stop, 2, budget, "blocks")
        _check_header(header, "resource", max_header_bytes)
        resource = ResourcePart(header=header)
        for scope_start, scope_stop in scope_spans:
            scope_header, records = _split(data, scope_start, scope_stop, 2, budget, "records")
            _check_header(scope_header, "scope", max_header_bytes)
            resource.scopes.append(ScopePart(header=scope_header, records=records))
            repeated += len(records) * (len(header) + len(scope_header))
        resources.append(resource)
    if repeated > max(REPEATED_FACTOR * len(data), MIN_REPEATED_BYTES):
        raise PayloadTooLarge(
            f"the request's resources and scopes, stored with each of its records, would take {repeated} bytes; "
            "send fewer records per resource, or smaller resources"
        )
    return SplitRequest(data=data, resources=resources, records=max_records - budget.records)


def _check_header(header: bytes, what: str, limit: int | None) -> None:
    if limit is not None and len(header) > limit:
        raise PayloadTooLarge(
            f"a {what} of the request is {len(header)} bytes; at most {limit} are allowed (ACTIVITY_MAX_RECORD_BYTES)"
        )


def decode(message_type, data: bytes):  # noqa: ANN001, ANN201 - a protobuf message class and its instance
    try:
        return message_type.FromString(data)
    except (ProtobufDecodeError, RuntimeError, ValueError) as exc:
        raise DecodeError(f"body is not a valid ExportLogsServiceRequest protobuf: {exc}") from None


def decode_resource(part: ResourcePart) -> ResourceLogs:
    return decode(ResourceLogs, part.header)


def decode_scope(part: ScopePart) -> ScopeLogs:
    return decode(ScopeLogs, part.header)


def decode_record(data: bytes, start: int, end: int) -> LogRecord:
    return decode(LogRecord, data[start:end])
