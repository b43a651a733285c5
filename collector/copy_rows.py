"""Activity rows as PostgreSQL binary COPY tuples, in ``COPY_COLUMNS`` order: the pure-Python
reference that the native fast path (``collector/_fastpath.c``) must reproduce byte for byte.

A binary COPY stream is ``COPY_HEADER``, then one tuple per row, then ``COPY_TRAILER``. A tuple is
a 16-bit field count, then per field a 32-bit length (-1 for NULL) and the value in the type's
binary send format. Everything is big-endian.
"""

from __future__ import annotations

import os
import struct
from datetime import datetime, timedelta, timezone

from collector import otlp_wire
from collector.contract import LEVEL_IDS, SOURCE_IDS
from collector.mapping import MappedRequest, iter_split
from collector.model import ActivityRow, dumps

COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)  # signature, flags, no header extension
COPY_TRAILER = struct.pack("!h", -1)

# The columns of activity_logs every COPY writes, in order (the writer's and the native encoder's).
COPY_COLUMNS = (
    "id", "timestamp", "level_id", "source_id", "message", "fields", "category",
    "entity_type", "entity_id", "user_id", "job_id", "project_id", "trace_id", "span_id",
    "trace_flags", "severity_number", "severity_text", "service_name", "event_name",
    "resource", "scope_name", "scope_version", "admin_only",
)  # fmt: skip

_POSTGRES_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)
_JSONB_VERSION = b"\x01"
_NULL = b"\xff\xff\xff\xff"
_FIELD_COUNT = struct.pack("!h", len(COPY_COLUMNS))
_INT2 = struct.Struct("!ih")
_INT8 = struct.Struct("!iq")
_LENGTH = struct.Struct("!i")
_TRUE, _FALSE = b"\x00\x00\x00\x01\x01", b"\x00\x00\x00\x01\x00"


def _int8(value: int | None) -> bytes:
    return _NULL if value is None else _INT8.pack(8, value)


def _int2(value: int | None) -> bytes:
    return _NULL if value is None else _INT2.pack(2, value)


def _text(value: str | None) -> bytes:
    if value is None:
        return _NULL
    data = value.encode()
    return _LENGTH.pack(len(data)) + data


def _jsonb(json_text: bytes) -> bytes:
    return _LENGTH.pack(len(json_text) + 1) + _JSONB_VERSION + json_text


def encode_copy_rows(rows: list[ActivityRow], first_id: int) -> bytes:
    """The tuples of ``rows`` (ids ``first_id``, ``first_id + 1``, …), without header or trailer."""
    resource_json: dict[int, bytes] = {}  # rows of one OTLP resource share its dict: encode it once
    parts: list[bytes] = []
    for row_id, row in enumerate(rows, start=first_id):
        resource = resource_json.get(id(row.resource))
        if resource is None:
            resource = resource_json[id(row.resource)] = _jsonb(dumps(row.resource))
        parts += (
            _FIELD_COUNT, _int8(row_id), _int8((row.timestamp - _POSTGRES_EPOCH) // _MICROSECOND),
            _int2(LEVEL_IDS[row.level]), _int2(SOURCE_IDS[row.source]), _text(row.message),
            _jsonb(dumps(row.fields)), _text(row.category), _text(row.entity_type), _int8(row.entity_id),
            _int8(row.user_id), _int8(row.job_id), _int8(row.project_id), _text(row.trace_id),
            _text(row.span_id), _int2(row.trace_flags), _int2(row.severity_number), _text(row.severity_text),
            _text(row.service_name), _text(row.event_name), resource, _text(row.scope_name),
            _text(row.scope_version), _TRUE if row.admin_only else _FALSE,
        )  # fmt: skip
    return b"".join(parts)


def received_at_of(received_at_unix_nano: int) -> datetime:
    """The receive time as the mapping takes it (microsecond precision)."""
    return _UNIX_EPOCH + timedelta(microseconds=received_at_unix_nano // 1000)


def tuples_by_id(copy_bytes: bytes) -> dict[int, bytes]:
    """Each tuple of ``encode_copy_rows``' output by its id (its first field), for comparing two
    encodings record by record. ``ValueError`` when the bytes are not such tuples."""
    tuples, pos = {}, 0
    while pos < len(copy_bytes):
        start = pos
        (count,) = struct.unpack_from("!h", copy_bytes, pos)
        if count != len(COPY_COLUMNS):
            raise ValueError(f"a tuple of {count} fields at byte {start}, not {len(COPY_COLUMNS)}")
        pos += 2
        row_id = None
        for column in range(count):
            (length,) = struct.unpack_from("!i", copy_bytes, pos)
            pos += 4
            if column == 0:
                (row_id,) = struct.unpack_from("!q", copy_bytes, pos)
            pos += max(length, 0)
        if pos > len(copy_bytes):
            raise ValueError(f"the tuple at byte {start} runs past the end")
        tuples[row_id] = copy_bytes[start:pos]
    return tuples


def encode_request_reference(
    data: bytes, received_at_unix_nano: int, first_id: int, max_records: int, max_record_bytes: int
) -> tuple[bytes, int, list[int], tuple[int, int, int]]:
    """An ``ExportLogsServiceRequest``'s records as COPY tuples, mapped exactly as the receivers
    map them (``collector.ingest``): split with ``otlp_wire`` under the same limits, records larger
    than ``max_record_bytes`` left out, every other one mapped by ``collector.mapping``.

    Returns ``(copy_bytes, count, handed_back, (oversized, repaired, future_clamped))``. The
    records that are not oversized are numbered 0, 1, … in request order; record ``i`` gets the id
    ``first_id + i``. ``copy_bytes`` holds ``count`` tuples; ``handed_back`` lists the numbers of the
    records left for the caller to map in Python (never any here: this is the Python path), whose
    ids are reserved but not used. ``repaired`` and ``future_clamped`` count the encoded records as
    ``MappedRequest`` does. Raises ``DecodeError`` and ``PayloadTooLarge`` as the receivers do."""
    split = otlp_wire.split_request(data, max_records, max_record_bytes)
    mapped = MappedRequest(rows=[])
    oversized = 0
    for record in iter_split(split, received_at_of(received_at_unix_nano), max_record_bytes):
        if record is None:
            oversized += 1
        else:
            mapped.add(*record[:2])
    counts = (oversized, mapped.repaired, mapped.future_clamped)
    return encode_copy_rows(mapped.rows, first_id), len(mapped.rows), [], counts


def native_module():  # noqa: ANN201 - the extension module, or None
    """The C fast path, or None when it was not built (no compiler at install) or is switched off
    with ``ACTIVITY_NATIVE=off``."""
    if os.environ.get("ACTIVITY_NATIVE", "").lower() == "off":
        return None
    try:
        from collector import _fastpath
    except ImportError:
        return None
    return _fastpath


def encode_request(
    data: bytes, received_at_unix_nano: int, first_id: int, max_records: int, max_record_bytes: int
) -> tuple[bytes, int, list[int], tuple[int, int, int]]:
    """``encode_request_reference``'s contract, by the C fast path when there is one. Records it
    hands back are left to the caller; a request it declines as a whole (malformed or over the
    limits at the outer levels, an unusual resource or scope) goes through the reference, which
    raises the receivers' errors or encodes it."""
    native = native_module()
    if native is not None:
        try:
            return native.encode_request(data, received_at_unix_nano, first_id, max_records, max_record_bytes)
        except native.Declined:
            pass
    return encode_request_reference(data, received_at_unix_nano, first_id, max_records, max_record_bytes)
