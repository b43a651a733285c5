"""Every entry the server writes about itself, built in one place: its own ``logging`` records
(api/server_logs.py), live-tail connects and disconnects, retention runs and manual purges.

They read as if the server had logged them through Python's ``logging`` and the OpenTelemetry
SDK's bridge: a ``logging`` level number gives the severity number, the level name is the
severity text (``WARNING``, as the SDK sends it) and the activity level comes from the severity
number by the same rule as any ingested record (``collector.mapping.severity_to_level``). Text
goes through the same NUL repair as ingested text and ids through the same int64 check, so the
server's entries obey every rule an ingested one does.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from collector import attributes as attr
from collector.contract import Source
from collector.mapping import as_int64, severity_to_level, without_nul
from collector.model import ActivityRow

SERVICE_NAME = "activity-console"
SOURCE = Source.API.value

# Columns that an entry's caller may set besides its fields.
ID_COLUMNS = ("user_id", "job_id", "project_id", "entity_id")


def severity_number_of(levelno: int) -> int:
    """The OpenTelemetry severity of a ``logging`` level, as the SDK's ``LoggingHandler`` maps it:
    10/20/30/40/50 → 5/9/13/17/21; levels in between keep their offset within the range."""
    if levelno < logging.DEBUG:
        return 1  # TRACE
    for base, severity in ((logging.CRITICAL, 21), (logging.ERROR, 17), (logging.WARNING, 13), (logging.INFO, 9)):
        if levelno >= base:
            return min(severity + (levelno - base), severity + 3)
    return 5 + min(levelno - logging.DEBUG, 3)


def level_of(levelno: int) -> str:
    """The activity level of a ``logging`` level."""
    return severity_to_level(severity_number_of(levelno))


def json_safe(value: Any) -> Any:
    """Fields end up as JSONB: JSON types are kept (text without NUL), anything else becomes its ``str``."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return without_nul(value)
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {without_nul(str(k)): json_safe(v) for k, v in value.items()}
    return json_safe(str(value))


def server_entry(
    message: str,
    *,
    scope_name: str,
    levelno: int = logging.INFO,
    category: str = attr.DEFAULT_CATEGORY,
    fields: dict[str, Any] | None = None,
    admin_only: bool = True,
    timestamp: datetime | None = None,
    severity_text: str | None = None,
    entity_type: str | None = None,
    trace: tuple[str | None, str | None, int | None] = (None, None, None),
    **ids: Any,
) -> ActivityRow:
    """One of the server's own entries. ``ids`` are the id columns (``user_id``, ``job_id``,
    ``project_id``, ``entity_id``): an int or a string of digits, anything else is dropped.
    Admins only unless ``admin_only=False``: what the server does is no creator's business."""
    unknown = set(ids) - set(ID_COLUMNS)
    if unknown:
        raise TypeError(f"not an id column: {', '.join(sorted(unknown))}")
    trace_id, span_id, trace_flags = trace
    return ActivityRow(
        timestamp=timestamp or datetime.now(timezone.utc),
        level=level_of(levelno),
        source=SOURCE,
        message=without_nul(message),
        category=category,
        fields=json_safe(fields or {}),
        entity_type=without_nul(entity_type) if entity_type is not None else None,
        trace_id=trace_id,
        span_id=span_id,
        trace_flags=trace_flags,
        severity_number=severity_number_of(levelno),
        severity_text=severity_text or logging.getLevelName(levelno),
        service_name=SERVICE_NAME,
        scope_name=scope_name,
        admin_only=admin_only,
        **{column: as_int64(value) for column, value in ids.items() if value is not None},
    )
