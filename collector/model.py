"""The activity row: what one OTLP log record becomes, in memory, on the live hub and in the table."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import orjson

from collector import contract, preview

LEVELS = contract.LEVELS
SOURCES = contract.SOURCES
CATEGORIES = contract.CATEGORIES


@dataclass(slots=True)
class ActivityRow:
    """One activity log entry. ``id`` is None until the batch writer assigns it in the commit."""

    timestamp: datetime
    level: str
    source: str
    message: str
    category: str = contract.DEFAULT_CATEGORY
    fields: dict[str, Any] = field(default_factory=dict)
    entity_type: str | None = None
    entity_id: int | None = None
    user_id: int | None = None
    job_id: int | None = None
    project_id: int | None = None
    trace_id: str | None = None
    span_id: str | None = None
    trace_flags: int | None = None
    severity_number: int = 0
    severity_text: str | None = None
    service_name: str | None = None
    event_name: str | None = None
    resource: dict[str, Any] = field(default_factory=dict)
    scope_name: str | None = None
    scope_version: str | None = None
    # Only admins see it (the server's own operational records): never in a creator's scope.
    admin_only: bool = False
    id: int | None = None
    # Set on rows read in their shortened list-view form (``repository.VIEW_COLUMNS``): the view
    # is already shortened, and this is the full message's length.
    truncated: bool = field(default=False, compare=False)
    message_length: int | None = field(default=None, compare=False)
    _json: bytes | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The entry as stored: the JSON shape of exports and of ``GET /activity-logs/{id}``."""
        entry = {
            "id": self.id,
            "timestamp": format_timestamp(self.timestamp),
            "level": self.level,
            "source": self.source,
            "message": self.message,
            "category": self.category,
            "fields": self.fields,
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "user_id": self.user_id,
            "job_id": self.job_id,
            "project_id": self.project_id,
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "trace_flags": self.trace_flags,
            "severity_number": self.severity_number,
            "severity_text": self.severity_text,
            "service_name": self.service_name,
            "event_name": self.event_name,
            "resource": self.resource,
            "scope_name": self.scope_name,
            "scope_version": self.scope_version,
            "admin_only": self.admin_only,
        }
        if self.truncated:
            entry["truncated"] = True
            entry["message_length"] = self.message_length
        return entry

    def view_dict(self) -> dict[str, Any]:
        """The entry as list views and the live tail show it: large ones shortened
        (``collector.preview``), with ``truncated`` and ``message_length`` saying so."""
        entry = self.to_dict()
        cut = self.truncated
        if len(self.message) > preview.MESSAGE_CHARS:
            entry["message"] = self.message[: preview.MESSAGE_CHARS]
            cut = True
        for name in ("fields", "resource"):
            value = entry[name]
            if value and preview.map_needs_preview(value):
                entry[name] = preview.map_preview(value)
                cut = True
        if cut:
            entry["truncated"] = True
            entry["message_length"] = self.message_length if self.message_length is not None else len(self.message)
        return entry

    def json(self) -> bytes:
        """The list-view entry serialised once, however many live subscribers send it."""
        if self._json is None:
            encoded = dumps(self.to_dict())
            # Whatever is at most MESSAGE_CHARS bytes long as a whole needs no shortening: the
            # common case costs one encoding.
            if len(encoded) > preview.MESSAGE_CHARS:
                encoded = dumps(self.view_dict())
            self._json = encoded
        return self._json

    def for_live(self, keep_attributes: bool = False) -> "ActivityRow":
        """A copy for the live hub: the view serialised, and without fields and resource (unless
        ``keep_attributes``: a live query reads them), so that rows waiting in subscribers'
        queues hold little."""
        return ActivityRow(
            self.timestamp, self.level, self.source, self.message, self.category,
            self.fields if keep_attributes else {}, self.entity_type,
            self.entity_id, self.user_id, self.job_id, self.project_id, self.trace_id, self.span_id,
            self.trace_flags, self.severity_number, self.severity_text, self.service_name, self.event_name,
            self.resource if keep_attributes else {}, self.scope_name, self.scope_version, self.admin_only, self.id,
            self.truncated, self.message_length, self.json(),
        )  # fmt: skip

    def full_json(self) -> bytes:
        """The entry as stored (exports)."""
        return dumps(self.to_dict())


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, fast (orjson: ~20× the standard library on log fields, measured in
    bench/ingest.py's hot path). Objects JSON cannot represent become their ``str()``; integers
    beyond 64 bits, which orjson refuses, fall back to the standard library."""
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def format_timestamp(ts: datetime) -> str:
    """RFC 3339 in UTC with microseconds, e.g. ``2026-11-26T05:30:46.123456Z`` (isoformat: a
    fifth of strftime's cost, which every live entry and export line pays)."""
    if ts.tzinfo is not timezone.utc:
        ts = ts.astimezone(timezone.utc)
    return ts.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
