"""Pure mapping from OTLP log protobufs to activity rows: the attribute names in
``collector/attributes.py`` are the contract with every emitting service. No I/O, no clock reads:
the receive time is an argument, so every function here is a plain unit under test."""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Iterator

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs

from collector import attributes as attr
from collector import otlp_wire
from collector.contract import INT64_MAX, INT64_MIN, NAME_MAX_CHARS, Level
from collector.model import ActivityRow

_NUL = "\x00"
_REPLACEMENT = "\ufffd"
_INT64_MIN, _INT64_MAX = INT64_MIN, INT64_MAX
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_COLUMN_ATTRIBUTES = attr.COLUMN_ATTRIBUTES
_SOURCES = frozenset(attr.SOURCES)
_CATEGORIES = frozenset(attr.CATEGORIES)


NAME_CHARS = NAME_MAX_CHARS
_DEBUG, _INFO, _WARN, _ERROR = Level.DEBUG.value, Level.INFO.value, Level.WARN.value, Level.ERROR.value

# A record stamped further ahead than this is stored at its receive time (its own time kept in
# fields): a clock years off would otherwise pin it above everything else in newest-first history.
MAX_FUTURE_SKEW = timedelta(minutes=10)


@dataclass(slots=True)
class MappedRequest:
    rows: list[ActivityRow]
    # Records in which NUL characters (which PostgreSQL text and jsonb reject) were replaced by U+FFFD.
    repaired: int = 0
    # Records stamped more than MAX_FUTURE_SKEW ahead of their receive time, stored at that time.
    future_clamped: int = 0

    def add(self, row: ActivityRow, repairs: "_Repairs") -> None:
        self.rows.append(row)
        self.repaired += repairs.count > 0
        self.future_clamped += repairs.future


class _Repairs:
    """What was changed while one record (or resource) was mapped: NUL characters replaced
    (``count``), a future time clamped (``future``)."""

    __slots__ = ("count", "future")

    def __init__(self) -> None:
        self.count = 0
        self.future = False

    def text(self, value: str) -> str:
        if _NUL in value:
            self.count += 1
            return without_nul(value)
        return value


def without_nul(text: str) -> str:
    """PostgreSQL text and jsonb refuse the NUL character: it becomes U+FFFD."""
    return text.replace(_NUL, _REPLACEMENT) if _NUL in text else text


@dataclass(frozen=True, slots=True)
class ResourceContext:
    """What a resource (and one of its scopes) gives each of its records."""

    resource: dict[str, Any]
    service_name: str
    resource_source: Any
    scope_name: str | None = None
    scope_version: str | None = None
    repaired: bool = False  # NUL characters were replaced in the resource or the scope


def map_resource(resource_logs: ResourceLogs) -> ResourceContext:
    repairs = _Repairs()
    resource = attributes_to_dict(resource_logs.resource.attributes, repairs)
    service_name = resource.get(attr.SERVICE_NAME)
    return ResourceContext(
        resource=resource,
        service_name=service_name[:NAME_CHARS] if isinstance(service_name, str) else "unknown_service",
        resource_source=resource.get(attr.SOURCE),
        repaired=repairs.count > 0,
    )


def with_scope(context: ResourceContext, scope_logs: ScopeLogs) -> ResourceContext:
    repairs = _Repairs()
    name = repairs.text(scope_logs.scope.name[:NAME_CHARS]) or None
    version = repairs.text(scope_logs.scope.version[:NAME_CHARS]) or None
    return ResourceContext(context.resource, context.service_name, context.resource_source, name, version,
                           context.repaired or repairs.count > 0)  # fmt: skip


def map_record(record: LogRecord, context: ResourceContext, received_at: datetime) -> tuple[ActivityRow, _Repairs]:
    """One record of a resource and scope, with what had to be repaired in it."""
    repairs = _Repairs()
    row = map_log_record(
        record,
        received_at=received_at,
        resource=context.resource,
        service_name=context.service_name,
        resource_source=context.resource_source,
        scope_name=context.scope_name,
        scope_version=context.scope_version,
        repairs=repairs,
    )
    if context.repaired:
        repairs.count += 1
    return row, repairs


def map_request(request: ExportLogsServiceRequest, received_at: datetime) -> MappedRequest:
    """Every log record of an export request, in request order."""
    result = MappedRequest(rows=[])
    for row, repairs in iter_mapped(request, received_at):
        result.add(row, repairs)
    return result


def iter_split(split: otlp_wire.SplitRequest, received_at: datetime,
               max_record_bytes: int) -> Iterator[tuple[ActivityRow, _Repairs, int] | None]:  # fmt: skip
    """The records of a request split on the wire (``otlp_wire.split_request``), decoded and
    mapped one at a time in request order, each with what was repaired in it and its encoded
    size; None for a record larger than ``max_record_bytes``, which is never decoded."""
    data = split.data
    for resource_part in split.resources:
        context = map_resource(otlp_wire.decode_resource(resource_part))
        for scope_part in resource_part.scopes:
            scoped = with_scope(context, otlp_wire.decode_scope(scope_part))
            for start, end in scope_part.records:
                if end - start > max_record_bytes:
                    yield None
                    continue
                row, repairs = map_record(otlp_wire.decode_record(data, start, end), scoped, received_at)
                yield row, repairs, end - start


def iter_mapped(request: ExportLogsServiceRequest, received_at: datetime) -> Iterator[tuple[ActivityRow, _Repairs]]:
    """The records of a decoded request one by one, each with what was repaired in it."""
    for resource_logs in request.resource_logs:
        context = map_resource(resource_logs)
        for scope_logs in resource_logs.scope_logs:
            scoped = with_scope(context, scope_logs)
            for record in scope_logs.log_records:
                yield map_record(record, scoped, received_at)


def map_log_record(
    record: LogRecord,
    *,
    received_at: datetime,
    resource: dict[str, Any] | None = None,
    service_name: str = "unknown_service",
    resource_source: Any = None,
    scope_name: str | None = None,
    scope_version: str | None = None,
    repairs: _Repairs | None = None,
) -> ActivityRow:
    # The ingest hot path: one pass over the attributes, contract attributes picked out as they
    # come (bench/ingest.py measures this function's cost per record).
    repairs = repairs or _Repairs()
    fields: dict[str, Any] = {}
    contract: dict[str, Any] = {}
    for kv in record.attributes:
        key = kv.key
        if _NUL in key:
            key = repairs.text(key)
        value = any_value_to_python(kv.value, repairs)
        if key in _COLUMN_ATTRIBUTES:
            contract[key] = value
        else:
            fields[key] = value

    if contract:
        source = _known(contract.get(attr.SOURCE), _SOURCES)
        category = _known(contract.get(attr.CATEGORY), _CATEGORIES)
        entity_id = as_int64(contract.get(attr.ENTITY_ID))
        user_id = as_int64(contract.get(attr.USER_ID))
        job_id = as_int64(contract.get(attr.JOB_ID))
        project_id = as_int64(contract.get(attr.PROJECT_ID))
        if user_id is None:
            user_id = as_int64(contract.get(attr.ENDUSER_ID))
        entity_type = contract.get(attr.ENTITY_TYPE)
        if not isinstance(entity_type, str) or not entity_type or len(entity_type) > NAME_CHARS:
            entity_type = None
        # A contract attribute whose value could not become a column stays visible in fields.
        for name, mapped in (
            (attr.SOURCE, source), (attr.CATEGORY, category), (attr.ENTITY_TYPE, entity_type),
            (attr.ENTITY_ID, entity_id), (attr.JOB_ID, job_id), (attr.PROJECT_ID, project_id),
        ):  # fmt: skip
            if mapped is None and contract.get(name) is not None:
                fields[name] = contract[name]
        if contract.get(attr.USER_ID) is not None and as_int64(contract[attr.USER_ID]) is None:
            fields[attr.USER_ID] = contract[attr.USER_ID]
        if user_id is None and contract.get(attr.ENDUSER_ID) is not None:
            fields[attr.ENDUSER_ID] = contract[attr.ENDUSER_ID]
    else:
        source = category = entity_type = entity_id = user_id = job_id = project_id = None
    if source is None:
        source = _known(resource_source, _SOURCES) or source_from_service_name(service_name)

    body = record.body
    if body.WhichOneof("value") == "string_value":
        message = body.string_value
        if _NUL in message:
            message = repairs.text(message)
    else:
        message, structured_body = body_to_message(body, repairs)
        if structured_body is not None:
            fields["body"] = structured_body
    event_name = repairs.text(record.event_name[:NAME_CHARS]) or None
    if not message and event_name:
        message = event_name

    trace_id = hex_id(record.trace_id, 16)
    span_id = hex_id(record.span_id, 8) if trace_id else None
    severity_number = record.severity_number
    severity_text = record.severity_text[:NAME_CHARS]

    timestamp = record_timestamp(record.time_unix_nano, record.observed_time_unix_nano, received_at)
    if timestamp - received_at > MAX_FUTURE_SKEW:
        fields[attr.ORIGINAL_TIMESTAMP] = timestamp.isoformat().replace("+00:00", "Z")
        timestamp = received_at
        repairs.future = True

    return ActivityRow(
        timestamp,
        severity_to_level(severity_number, severity_text),
        source,
        message,
        category or attr.DEFAULT_CATEGORY,
        fields,
        entity_type,
        entity_id,
        user_id,
        job_id,
        project_id,
        trace_id,
        span_id,
        (record.flags & 0xFF) if trace_id else None,
        severity_number if 0 <= severity_number <= 24 else 0,
        (repairs.text(severity_text) or None) if severity_text else None,
        service_name,
        event_name,
        resource if resource is not None else {},
        scope_name,
        scope_version,
    )


def severity_to_level(number: int, text: str = "") -> str:
    """OTel severity ranges → our four levels: TRACE and DEBUG → debug, FATAL → error.

    An unspecified number (0) falls back to the severity text, then to info.
    """
    if 1 <= number <= 8:
        return _DEBUG
    if 9 <= number <= 12:
        return _INFO
    if 13 <= number <= 16:
        return _WARN
    if number >= 17:
        return _ERROR
    word = text.strip().lower()
    if word.startswith(("trace", "debug", "fine")):
        return _DEBUG
    if word.startswith("warn"):
        return _WARN
    if word.startswith(("err", "fatal", "crit", "alert", "emerg", "panic", "severe")):
        return _ERROR
    return _INFO


def source_from_service_name(service_name: str) -> str:
    """Derive the source from ``service.name`` (e.g. ``comfyui-bridge`` → comfyui)."""
    name = service_name.lower()
    for needle, source in (
        ("comfy", "comfyui"),
        ("agent", "agent"),
        ("pipeline", "pipeline"),
        ("worker", "worker"),
        ("api", "api"),
    ):
        if needle in name:
            return source
    return attr.FALLBACK_SOURCE


def record_timestamp(time_unix_nano: int, observed_time_unix_nano: int, received_at: datetime) -> datetime:
    """``time_unix_nano`` 0 means unknown: fall back to the observed time, then to the receive time."""
    nanos = time_unix_nano or observed_time_unix_nano
    if not nanos:
        return received_at
    return _UNIX_EPOCH + timedelta(microseconds=nanos // 1000)


def hex_id(raw: bytes, length: int) -> str | None:
    """Trace ids are 16 bytes and span ids 8; all-zero or any other length means "no id"."""
    if len(raw) != length or not any(raw):
        return None
    return raw.hex()


_ASCII_INT = re.compile(r"[+-]?[0-9]{1,19}")


def as_int64(value: Any) -> int | None:
    """Ids may arrive as int or as a string of ASCII digits (surrounding spaces tolerated); anything
    else (other digits such as "²" or "١٢٣", underscores, more than 19 digits, beyond BIGINT) is
    not an id. Never raises: one odd attribute must not cost the rest of the request."""
    if value.__class__ is int:
        return value if _INT64_MIN <= value <= _INT64_MAX else None
    if value.__class__ is str:
        text = value.strip()
        if _ASCII_INT.fullmatch(text) is None:
            return None
        number = int(text)
        return number if _INT64_MIN <= number <= _INT64_MAX else None
    return None


def body_to_message(body: AnyValue, repairs: _Repairs) -> tuple[str, Any]:
    """The message text, and the structured body when it is a map or a list (kept in fields)."""
    kind = body.WhichOneof("value")
    if kind is None:
        return "", None
    if kind == "string_value":
        return repairs.text(body.string_value), None
    value = any_value_to_python(body, repairs)
    if kind in ("kvlist_value", "array_value"):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")), value
    return (value if isinstance(value, str) else json.dumps(value)), None


def attributes_to_dict(key_values: Iterable[KeyValue], repairs: _Repairs | None = None) -> dict[str, Any]:
    repairs = repairs or _Repairs()
    return {repairs.text(kv.key): any_value_to_python(kv.value, repairs) for kv in key_values}


def any_value_to_python(value: AnyValue, repairs: _Repairs | None = None) -> Any:
    """AnyValue → JSON-compatible Python. Bytes become base64 text; non-finite doubles become
    the strings "NaN", "Infinity" and "-Infinity" (JSON has no such numbers); empty → None."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        text = value.string_value
        if _NUL in text:
            return (repairs or _Repairs()).text(text)
        return text
    if kind == "int_value":
        return value.int_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "double_value":
        number = value.double_value
        if math.isfinite(number):
            return number
        return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    repairs = repairs or _Repairs()
    if kind == "array_value":
        return [any_value_to_python(v, repairs) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes_to_dict(value.kvlist_value.values, repairs)
    return None


def _known(value: Any, allowed: frozenset[str]) -> str | None:
    if value.__class__ is str:
        if value in allowed:
            return value
        lowered = value.strip().lower()
        if lowered in allowed:
            return lowered
    return None
