"""Activity rows as PostgreSQL binary COPY tuples, in ``COPY_COLUMNS`` order: the pure-Python
reference that the native fast path (``collector/_fastpath.c``) must reproduce byte for byte.

A binary COPY stream is ``COPY_HEADER``, then one tuple per row, then ``COPY_TRAILER``. A tuple is
a 16-bit field count, then per field a 32-bit length (-1 for NULL) and the value in the type's
binary send format. Everything is big-endian.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import struct
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import accumulate
from typing import Iterable, Iterator, Sequence

import orjson

from collector import otlp_wire, preview
from collector.contract import LEVEL_IDS, SOURCE_IDS
from collector.mapping import MappedRequest, iter_split
from collector.model import ActivityRow, dumps

log = logging.getLogger(__name__)

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
_INT8_VALUE = struct.Struct("!q")
_INT2_VALUE = struct.Struct("!h")
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


def encode_copy_rows(rows: list[ActivityRow], ids: Iterable[int]) -> bytes:
    """The tuples of ``rows`` with the ``ids`` given in the same order, without header or trailer."""
    resource_json: dict[int, bytes] = {}  # rows of one OTLP resource share its dict: encode it once
    parts: list[bytes] = []
    for row, row_id in zip(rows, ids, strict=True):
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


def asyncpg_records(rows: list[ActivityRow], ids: Iterable[int]) -> list[tuple]:
    """The same rows as tuples for asyncpg's ``copy_records_to_table``, which encodes them with
    its own codecs: an encoding independent of ours, that tests compare against and that
    bench/ingest.py measures as a baseline."""
    resource_json: dict[int, bytes] = {}
    records = []
    for row, row_id in zip(rows, ids, strict=True):
        resource = resource_json.get(id(row.resource))
        if resource is None:
            resource = resource_json[id(row.resource)] = dumps(row.resource)
        records.append((
            row_id, row.timestamp, LEVEL_IDS[row.level], SOURCE_IDS[row.source], row.message,
            dumps(row.fields), row.category, row.entity_type,
            row.entity_id, row.user_id, row.job_id, row.project_id, row.trace_id, row.span_id,
            row.trace_flags, row.severity_number, row.severity_text, row.service_name,
            row.event_name, resource, row.scope_name, row.scope_version, row.admin_only,
        ))  # fmt: skip
    return records


def received_at_of(received_at_unix_nano: int) -> datetime:
    """The receive time as the mapping takes it (microsecond precision)."""
    return _UNIX_EPOCH + timedelta(microseconds=received_at_unix_nano // 1000)


def unix_nano_of(received_at: datetime) -> int:
    """``received_at_of``'s inverse: what the fast path takes."""
    return (received_at - _UNIX_EPOCH) // _MICROSECOND * 1000


def split_tuples(copy_bytes: bytes) -> list[bytes]:
    """The tuples of ``encode_copy_rows``' output, in order. ``ValueError`` (or ``struct.error``)
    when the bytes are not such tuples."""
    tuples, pos = [], 0
    while pos < len(copy_bytes):
        start = pos
        (count,) = struct.unpack_from("!h", copy_bytes, pos)
        if count != len(COPY_COLUMNS):
            raise ValueError(f"a tuple of {count} fields at byte {start}, not {len(COPY_COLUMNS)}")
        pos += 2
        for _column in range(count):
            (length,) = struct.unpack_from("!i", copy_bytes, pos)
            pos += 4 + max(length, 0)
        if pos > len(copy_bytes):
            raise ValueError(f"the tuple at byte {start} runs past the end")
        tuples.append(copy_bytes[start:pos])
    return tuples


def tuple_columns(copy_bytes: bytes, columns: Sequence[int]) -> Iterator[tuple[bytes | None, ...]]:
    """The values of ``columns`` (indexes into ``COPY_COLUMNS``) of each tuple of
    ``encode_copy_rows``' output, in order, None for NULL: only those are sliced out. Raises as
    ``split_tuples`` does."""
    length_at = _LENGTH.unpack_from

    def value(at: int) -> bytes | None:  # the column whose length stands at `at`
        (length,) = length_at(copy_bytes, at)
        return None if length < 0 else copy_bytes[at + 4:at + 4 + length]

    pos, end = 0, len(copy_bytes)
    while pos < end:
        start = pos
        if copy_bytes[pos:pos + 2] != _FIELD_COUNT:
            raise ValueError(f"a tuple at byte {start} is not of the {len(COPY_COLUMNS)} activity_logs columns")
        pos += 2
        starts = []
        for _column in COPY_COLUMNS:
            starts.append(pos)
            (length,) = length_at(copy_bytes, pos)
            pos += 4 + (length if length > 0 else 0)
        if pos > end:
            raise ValueError(f"the tuple at byte {start} runs past the end")
        yield tuple([value(starts[c]) for c in columns])


def tuple_id(encoded: bytes) -> int:
    """A tuple's id: its first field, an int8 after the field count and the field's length."""
    return _INT8_VALUE.unpack_from(encoded, 6)[0]


def tuples_by_id(copy_bytes: bytes) -> dict[int, bytes]:
    """Each tuple of ``encode_copy_rows``' output by its id, for comparing two encodings record
    by record."""
    return {tuple_id(encoded): encoded for encoded in split_tuples(copy_bytes)}


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
    return encode_copy_rows(mapped.rows, range(first_id, first_id + len(mapped.rows))), len(mapped.rows), [], counts


# Bumped with every change to what collector/_fastpath.c encodes or accepts: an extension built
# from other sources (a stale build left in place after an update, another checkout's) is not used.
NATIVE_VERSION = 7


@functools.cache
def native_module():  # noqa: ANN201 - the extension module, or None
    """The C fast path, or None when it was not built (no compiler at install), is switched off
    with ``ACTIVITY_NATIVE=off``, or was built from other sources than these."""
    if os.environ.get("ACTIVITY_NATIVE", "").lower() == "off":
        return None
    try:
        from collector import _fastpath
    except ImportError:
        return None
    here = os.path.dirname(os.path.abspath(__file__))
    if os.path.dirname(os.path.abspath(_fastpath.__file__)) != here or getattr(_fastpath, "VERSION", None) != NATIVE_VERSION:
        log.warning(
            "ignoring the native fast path at %s: it was built from other sources (version %s, these are %s); "
            "reinstall (pip install -e .) to rebuild it", _fastpath.__file__, getattr(_fastpath, "VERSION", None),
            NATIVE_VERSION,
        )  # fmt: skip
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


# --- what the writer does with a request's records -----------------------------------------------

IdRanges = Sequence[tuple[int, int]]  # (first_id, count) runs of reserved ids, taken in order


@dataclass(slots=True)
class RequestRecords:
    """One request's records as the writer takes them: COPY ``tuples`` the fast path encoded,
    which carry ordinals (0, 1, … in request order) in place of ids, or ``rows`` mapped in Python
    (ordinals ``tuple_count``, … in list order). The writer turns ordinals into the ids it
    reserves at commit time, so that ids follow commit order whichever path a record took."""

    rows: list[ActivityRow]
    tuples: bytes = b""
    tuple_count: int = 0
    # The key catalogue's keys of ``tuples`` (collector/key_catalogue.py ``tuple_keys``), read
    # right after they were encoded, while they are still in the CPU's cache; None: read at commit.
    catalogue_keys: list[tuple[int, int, str, str]] | None = None
    _rows_tuples: bytes | None = None  # the rows' tuples with ordinals (``prepare``)

    @property
    def count(self) -> int:
        return self.tuple_count + len(self.rows)

    def prepare(self) -> None:
        """Encode the Python-mapped rows now (with ordinals), so that giving them ids at commit
        time is only ``assign_ids``: the writer does it before it takes the commit-order lock."""
        if self._rows_tuples is None:
            self._rows_tuples = encode_copy_rows(self.rows, range(self.tuple_count, self.count)) if self.rows else b""

    def ordinal_tuples(self) -> bytes:
        """Every record's COPY tuple with its ordinal in place of an id (what the spool keeps)."""
        self.prepare()
        return self.tuples + (self._rows_tuples or b"")

    def encode(self, ranges: IdRanges) -> bytes:
        """COPY tuples of every record with its id (``ranges`` holds ``count`` ids); the rows get
        theirs set as well."""
        for row, row_id in zip(self.rows, ids_of(range(self.tuple_count, self.count), ranges)):
            row.id = row_id
        return assign_ids(self.ordinal_tuples(), ranges)


def ids_of(ordinals: Iterable[int], ranges: IdRanges) -> list[int]:
    """The ids of ``ordinals``: ordinal k is the k-th id of ``ranges`` taken in order."""
    starts = [0, *accumulate(count for _, count in ranges)]
    ids = []
    for ordinal in ordinals:
        index = bisect_right(starts, ordinal) - 1
        if not 0 <= ordinal < starts[-1]:
            raise ValueError(f"ordinal {ordinal} lies beyond the {starts[-1]} reserved ids")
        ids.append(ranges[index][0] + ordinal - starts[index])
    return ids


def assign_ids_reference(tuples: bytes, ranges: IdRanges) -> bytes:
    """``_fastpath.assign_ids`` in Python: each tuple's ordinal replaced by its id."""
    parts = split_tuples(tuples)
    new_ids = ids_of(map(tuple_id, parts), ranges)
    return b"".join(part[:6] + _INT8_VALUE.pack(row_id) + part[14:] for part, row_id in zip(parts, new_ids))


def assign_ids(tuples: bytes, ranges: IdRanges) -> bytes:
    native = native_module()
    if native is not None:
        return native.assign_ids(tuples, ranges)
    return assign_ids_reference(tuples, ranges)


# --- tuples back to rows: what the live tail is handed ------------------------------------------

_LEVEL_NAMES = {level_id: name for name, level_id in LEVEL_IDS.items()}
_SOURCE_NAMES = {source_id: name for name, source_id in SOURCE_IDS.items()}
# Per column of COPY_COLUMNS, how its binary value reads back.
_COLUMN_READERS = (
    "int8", "int8", "int2", "int2", "text", "jsonb", "text", "text", "int8", "int8", "int8", "int8", "text",
    "text", "int2", "int2", "text", "text", "text", "jsonb", "text", "text", "bool",
)  # fmt: skip


def _read_value(kind: str, value: bytes):  # noqa: ANN202 - a column's Python value
    if kind == "int8":
        return _INT8_VALUE.unpack(value)[0]
    if kind == "int2":
        return _INT2_VALUE.unpack(value)[0]
    if kind == "text":
        return value.decode()
    if kind == "jsonb":
        if value[:1] != _JSONB_VERSION:
            raise ValueError("a jsonb value without its version byte")
        return value[1:]
    if len(value) != 1:
        raise ValueError("a bool of the wrong size")
    return value == b"\x01"


_EARLIEST_US = -(_POSTGRES_EPOCH - _UNIX_EPOCH) // _MICROSECOND  # 1970, in microseconds since 2000


def decode_tuples_reference(tuples: bytes, json_limit: int = -1) -> list[tuple]:
    """``_fastpath.decode_tuples`` in Python: each row's column values (the timestamp as
    microseconds since 2000-01-01, jsonb as its JSON text) and, with a ``json_limit``, its
    entry's JSON (``ActivityRow.json``) when at most that long (else None; None as well where
    the C code leaves the JSON to Python: a time before 1970, a NUL in text)."""
    rows = []
    for encoded in split_tuples(tuples):
        values, pos = [], 2
        for kind in _COLUMN_READERS:
            (length,) = _LENGTH.unpack_from(encoded, pos)
            pos += 4
            if length < 0:
                values.append(None)
            else:
                values.append(_read_value(kind, encoded[pos:pos + length]))
                pos += length
        if json_limit >= 0:
            text = None
            if values[1] >= _EARLIEST_US and not any(isinstance(v, str) and "\x00" in v for v in values):
                text = dumps(_row(values, orjson.Fragment(values[5]), orjson.Fragment(values[19])).to_dict())
                text = text if len(text) <= json_limit else None
            values.append(text)
        rows.append(tuple(values))
    return rows


def decode_tuples(tuples: bytes, json_limit: int = -1) -> list[tuple]:
    native = native_module()
    if native is not None:
        return native.decode_tuples(tuples, json_limit)
    return decode_tuples_reference(tuples, json_limit)


# Twenty digits in a row may be an integer beyond 64 bits, which orjson would read as a float.
_LONG_DIGITS = re.compile(rb"\d{20}")


def _loads(json_text: bytes):  # noqa: ANN202 - a JSON value
    if _LONG_DIGITS.search(json_text):
        return json.loads(json_text)
    return orjson.loads(json_text)


def _row(values: tuple, fields: dict, resource: dict) -> ActivityRow:
    (row_id, micros, level, source, message, _, category, entity_type, entity_id, user_id, job_id, project_id,
     trace_id, span_id, trace_flags, severity_number, severity_text, service_name, event_name, _, scope_name,
     scope_version, admin_only) = values[:23]  # fmt: skip
    return ActivityRow(
        _POSTGRES_EPOCH + timedelta(microseconds=micros), _LEVEL_NAMES[level], _SOURCE_NAMES[source], message,
        category, fields, entity_type, entity_id, user_id, job_id, project_id, trace_id, span_id, trace_flags,
        severity_number, severity_text, service_name, event_name, resource, scope_name, scope_version, admin_only,
        row_id,
    )  # fmt: skip


def rows_from_copy(tuples: bytes) -> list[ActivityRow]:
    """The rows ``encode_copy_rows`` encoded, read back whole from their COPY tuples (ids
    included); rows of one resource share one dict, as mapped rows do."""
    rows = []
    resources: dict[bytes, dict] = {}
    for values in decode_tuples(tuples):
        resource = resources.get(values[19])
        if resource is None:
            resource = resources[values[19]] = _loads(values[19])
        rows.append(_row(values, _loads(values[5]), resource))
    return rows


def live_rows(tuples: bytes, with_attributes: bool = False) -> list[ActivityRow]:
    """What the live tail needs of committed COPY tuples: each row's columns and its list-view
    JSON (``ActivityRow.json``), without its fields and resource as Python objects (the live
    hub drops them) unless ``with_attributes``: a live query reads them
    (``LiveHub.reads_attributes``). The JSON is written around the stored JSON text of
    fields and resource, never parsed (in C when the fast path is built); a row whose JSON is long
    enough to be shortened for list views is read back whole and shortened as every other row is
    (``ActivityRow.view_dict``)."""
    rows = []
    for values in decode_tuples(tuples, preview.MESSAGE_CHARS):
        if values[23] is not None:
            row = _row(values, _loads(values[5]), _loads(values[19])) if with_attributes else _row(values, {}, {})
            row._json = values[23]
        else:
            row = _row(values, _loads(values[5]), _loads(values[19]))
        rows.append(row)
    return rows
