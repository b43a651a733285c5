"""Pure mapping from OTLP log protobufs to activity rows (NOTES §2). No I/O, no clock reads:
the receive time is an argument, so every function here is a plain unit under test."""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from collector import attributes as attr
from collector.model import ActivityRow

_NUL = "\x00"
_REPLACEMENT = "\ufffd"
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(slots=True)
class MappedRequest:
    rows: list[ActivityRow]
    # Records in which NUL characters (which PostgreSQL text and jsonb reject) were replaced by U+FFFD.
    repaired: int = 0


class _Repairs:
    """Counts NUL repairs while one record is mapped."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def text(self, value: str) -> str:
        if _NUL in value:
            self.count += 1
            return value.replace(_NUL, _REPLACEMENT)
        return value


def map_request(request: ExportLogsServiceRequest, received_at: datetime) -> MappedRequest:
    """Every log record of an export request, in request order."""
    result = MappedRequest(rows=[])
    for resource_logs in request.resource_logs:
        repairs = _Repairs()
        resource = attributes_to_dict(resource_logs.resource.attributes, repairs)
        service_name = resource.get(attr.SERVICE_NAME)
        service_name = service_name if isinstance(service_name, str) else "unknown_service"
        resource_source = resource.get(attr.SOURCE)
        resource_repaired = repairs.count > 0
        for scope_logs in resource_logs.scope_logs:
            scope_name = repairs.text(scope_logs.scope.name) or None
            scope_version = repairs.text(scope_logs.scope.version) or None
            for record in scope_logs.log_records:
                record_repairs = _Repairs()
                row = map_log_record(
                    record,
                    received_at=received_at,
                    resource=resource,
                    service_name=service_name,
                    resource_source=resource_source,
                    scope_name=scope_name,
                    scope_version=scope_version,
                    repairs=record_repairs,
                )
                if record_repairs.count or resource_repaired:
                    result.repaired += 1
                result.rows.append(row)
    return result


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
    repairs = repairs or _Repairs()
    attributes = attributes_to_dict(record.attributes, repairs)
    fields = {k: v for k, v in attributes.items() if k not in attr.COLUMN_ATTRIBUTES}

    source = _known(attributes.get(attr.SOURCE), attr.SOURCES)
    if source is None:
        _keep_unmapped(fields, attributes, attr.SOURCE)
        source = _known(resource_source, attr.SOURCES) or source_from_service_name(service_name)

    category = _known(attributes.get(attr.CATEGORY), attr.CATEGORIES)
    if category is None:
        _keep_unmapped(fields, attributes, attr.CATEGORY)
        category = attr.DEFAULT_CATEGORY

    ids: dict[str, int | None] = {}
    for column, name in (
        ("entity_id", attr.ENTITY_ID),
        ("user_id", attr.USER_ID),
        ("job_id", attr.JOB_ID),
        ("project_id", attr.PROJECT_ID),
    ):
        ids[column] = as_int64(attributes.get(name))
        if ids[column] is None:
            _keep_unmapped(fields, attributes, name)
    if ids["user_id"] is None:
        ids["user_id"] = as_int64(attributes.get(attr.ENDUSER_ID))
        if ids["user_id"] is None:
            _keep_unmapped(fields, attributes, attr.ENDUSER_ID)

    entity_type = attributes.get(attr.ENTITY_TYPE)
    if not isinstance(entity_type, str) or not entity_type:
        _keep_unmapped(fields, attributes, attr.ENTITY_TYPE)
        entity_type = None

    message, structured_body = body_to_message(record.body, repairs)
    if structured_body is not None:
        fields["body"] = structured_body
    event_name = repairs.text(record.event_name) or None
    if not message and event_name:
        message = event_name

    trace_id = hex_id(record.trace_id, 16)
    span_id = hex_id(record.span_id, 8) if trace_id else None

    return ActivityRow(
        timestamp=record_timestamp(record.time_unix_nano, record.observed_time_unix_nano, received_at),
        level=severity_to_level(record.severity_number, record.severity_text),
        source=source,
        message=message,
        category=category,
        fields=fields,
        entity_type=entity_type,
        user_id=ids["user_id"],
        entity_id=ids["entity_id"],
        job_id=ids["job_id"],
        project_id=ids["project_id"],
        trace_id=trace_id,
        span_id=span_id,
        trace_flags=(record.flags & 0xFF) if trace_id else None,
        severity_number=int(record.severity_number) if 0 <= record.severity_number <= 24 else 0,
        severity_text=repairs.text(record.severity_text) or None,
        service_name=service_name,
        event_name=event_name,
        resource=resource or {},
        scope_name=scope_name,
        scope_version=scope_version,
    )


def severity_to_level(number: int, text: str = "") -> str:
    """OTel severity ranges → our four levels: TRACE and DEBUG → debug, FATAL → error.

    An unspecified number (0) falls back to the severity text, then to info.
    """
    if 1 <= number <= 8:
        return "debug"
    if 9 <= number <= 12:
        return "info"
    if 13 <= number <= 16:
        return "warn"
    if number >= 17:
        return "error"
    word = text.strip().lower()
    if word.startswith(("trace", "debug", "fine")):
        return "debug"
    if word.startswith("warn"):
        return "warn"
    if word.startswith(("err", "fatal", "crit", "alert", "emerg", "panic", "severe")):
        return "error"
    return "info"


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
    seconds, rem = divmod(nanos, 1_000_000_000)
    return datetime.fromtimestamp(seconds, tz=timezone.utc).replace(microsecond=rem // 1000)


def hex_id(raw: bytes, length: int) -> str | None:
    """Trace ids are 16 bytes and span ids 8; all-zero or any other length means "no id"."""
    if len(raw) != length or not any(raw):
        return None
    return raw.hex()


def as_int64(value: Any) -> int | None:
    """Ids may arrive as int or numeric string; anything else (or out of BIGINT range) is not an id."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text or not (text.isdigit() or (text[0] in "+-" and text[1:].isdigit())):
            return None
        value = int(text)
    if isinstance(value, int) and _INT64_MIN <= value <= _INT64_MAX:
        return value
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
    repairs = repairs or _Repairs()
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return repairs.text(value.string_value)
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
    if kind == "array_value":
        return [any_value_to_python(v, repairs) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes_to_dict(value.kvlist_value.values, repairs)
    return None


def _known(value: Any, allowed: tuple[str, ...]) -> str | None:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in allowed:
            return lowered
    return None


def _keep_unmapped(fields: dict[str, Any], attributes: dict[str, Any], name: str) -> None:
    """A contract attribute whose value could not become a column stays visible in fields."""
    if name in attributes and attributes[name] is not None:
        fields[name] = attributes[name]
