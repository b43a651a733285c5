"""An OTLP logs request split at its records, before anything is decoded (docs/security.md,
"What a request may cost").

Decoding a whole ``ExportLogsServiceRequest`` costs memory per message, not per byte: 8 MiB of
empty log records is four million records, about 520 MB of protobuf objects before a single one is
mapped. So the receivers first walk the request's three outer levels (resource logs, scope logs,
log records) without decoding them, which costs about a microsecond per record and no object per
record but one slice position; they refuse a request with too many records at once, and then
decode one record at a time (``iter_records``), each only as large as the per-record limit allows,
dropping its protobuf objects as soon as it is mapped.

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


def split_request(data: bytes, max_records: int) -> SplitRequest:
    """Locate every record of an ``ExportLogsServiceRequest``; ``PayloadTooLarge`` as soon as there
    are more than ``max_records``, ``DecodeError`` when the outer levels are malformed."""
    resources: list[ResourcePart] = []
    records = 0
    end = len(data)
    for number, wire_type, _, start, stop in _fields(data, 0, end):
        if number != 1 or wire_type != _LEN:
            continue  # unknown fields of the request are ignored, as a decoder would
        resource_header: list[bytes] = []
        resource = ResourcePart(header=b"")
        for r_number, r_wire, r_tag, r_start, r_stop in _fields(data, start, stop):
            if r_number != 2 or r_wire != _LEN:
                resource_header.append(data[r_tag:r_stop])
                continue
            scope_header: list[bytes] = []
            scope = ScopePart(header=b"")
            for s_number, s_wire, s_tag, s_start, s_stop in _fields(data, r_start, r_stop):
                if s_number != 2 or s_wire != _LEN:
                    scope_header.append(data[s_tag:s_stop])
                    continue
                records += 1
                if records > max_records:
                    raise PayloadTooLarge(
                        f"the request holds more than {max_records} log records; send at most {max_records} "
                        "per request (ACTIVITY_MAX_RECORDS_PER_REQUEST)"
                    )
                scope.records.append((s_start, s_stop))
            scope.header = b"".join(scope_header)
            resource.scopes.append(scope)
        resource.header = b"".join(resource_header)
        resources.append(resource)
    return SplitRequest(data=data, resources=resources, records=records)


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
