"""The API server's own ``logging`` records become activity entries, so that an admin reads the
server's health in the same console as everything else. For admins only: they describe the
server's operation (its warnings, its errors with their stack traces), which is no creator's
business, whatever triggered them.

``ActivityLogHandler`` sits on the root logger next to the stderr handler (added, never
replacing). Each record at or above ``Settings.server_log_level`` (INFO by default) becomes an
entry through ``api.server_entries.server_entry`` — source ``api``, category ``verbose`` unless
``extra`` says ``category="curated"``, level from ``levelno``, ``extra`` as fields (``user_id``,
``job_id``, ``project_id``, ``entity_type``, ``entity_id`` or their ``activity.*`` attribute
names become columns), exception info as ``exception.type/message/stacktrace``, the active
OpenTelemetry span as trace context — and is handed to ``BatchWriter.submit_nowait``, which
publishes it to the live hub after the commit.

It never floods: at most ``RECORDS_PER_WINDOW`` records with the same logger, level and message
template become entries per ``WINDOW_S``; the rest are counted, and one entry per template says
how many were left out. Reports of refused traffic are aggregated separately
(api/security_events.py) and are not logged here one by one.

It never blocks and never recurses:
- ``emit`` only builds a row and queues it; the writer's queue is bounded and refuses (and counts)
  what does not fit.
- A context variable marks "inside the handler", so a record logged while mapping or queueing
  one is dropped rather than fed back; the writer's own DEBUG lines are excluded outright (each
  flush would otherwise log a line that becomes a row that causes a flush…), and so is
  ``aiohttp.access`` (one line per HTTP request, which the console does not need).
- Records from other threads are handed to the event loop with ``call_soon_threadsafe``, at most
  ``MAX_PENDING_FROM_THREADS`` at a time; beyond that they are dropped and counted.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
import traceback
from datetime import datetime, timezone
from typing import Any, AsyncIterator

from aiohttp import web

from api.background import background
from api.runtime import RUNTIME
from api.server_entries import server_entry

from collector import attributes as attr
from collector.model import ActivityRow
from collector.writer import BatchWriter

MAX_PENDING_FROM_THREADS = 10_000
# Loggers whose records below WARNING are never forwarded (why: see the module docstring).
QUIET_BELOW_WARNING = ("collector.writer",)
# The access log is one line per request; the security summaries are entries already.
EXCLUDED_LOGGERS = ("aiohttp.access", "activity_console.security")
RECORDS_PER_WINDOW = 20
WINDOW_S = 60.0
MAX_TEMPLATES = 1_000  # templates tracked per window; beyond, new ones are counted together

# The attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName",
}  # fmt: skip
# ``extra`` keys that become columns instead of fields.
_COLUMN_KEYS = {
    "user_id": "user_id", attr.USER_ID: "user_id", attr.ENDUSER_ID: "user_id",
    "job_id": "job_id", attr.JOB_ID: "job_id",
    "project_id": "project_id", attr.PROJECT_ID: "project_id",
    "entity_type": "entity_type", attr.ENTITY_TYPE: "entity_type",
    "entity_id": "entity_id", attr.ENTITY_ID: "entity_id",
}  # fmt: skip
_CATEGORY_KEYS = ("category", attr.CATEGORY)

_inside_handler: contextvars.ContextVar[bool] = contextvars.ContextVar("activity_log_handler_active", default=False)


def _trace_context() -> tuple[str | None, str | None, int | None]:
    try:
        from opentelemetry import trace
    except ImportError:  # pragma: no cover - the SDK is a dependency
        return None, None, None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None, None, None
    return format(context.trace_id, "032x"), format(context.span_id, "016x"), int(context.trace_flags)


def row_from_record(record: logging.LogRecord) -> ActivityRow:
    """One LogRecord as an activity entry. Call it in the thread that logged (for the span)."""
    fields: dict[str, Any] = {"logger": record.name}
    columns: dict[str, Any] = {}
    category = attr.DEFAULT_CATEGORY
    for key, value in vars(record).items():
        if key in _STANDARD_RECORD_ATTRIBUTES or key.startswith("_"):
            continue
        if key in _COLUMN_KEYS:
            columns[_COLUMN_KEYS[key]] = str(value) if _COLUMN_KEYS[key] == "entity_type" else value
        elif key in _CATEGORY_KEYS and value in attr.CATEGORIES:
            category = value
        else:
            fields[key] = value
    fields["code.function.name"] = record.funcName
    fields["code.file.path"] = record.pathname
    fields["code.line.number"] = record.lineno
    if record.exc_info and record.exc_info[0] is not None:
        exc_type, exc_value, exc_tb = record.exc_info
        fields[attr.EXCEPTION_TYPE] = exc_type.__qualname__
        fields[attr.EXCEPTION_MESSAGE] = str(exc_value)
        fields[attr.EXCEPTION_STACKTRACE] = "".join(traceback.format_exception(exc_type, exc_value, exc_tb))
    elif record.exc_text:
        fields[attr.EXCEPTION_STACKTRACE] = record.exc_text
    if record.stack_info:
        fields["code.stacktrace"] = record.stack_info
    return server_entry(
        record.getMessage(), scope_name=record.name, levelno=record.levelno, category=category, fields=fields,
        timestamp=datetime.fromtimestamp(record.created, tz=timezone.utc), severity_text=record.levelname,
        trace=_trace_context(), **columns,
    )  # fmt: skip


class ActivityLogHandler(logging.Handler):
    """Feeds the server's log records to the batch writer (and through it to the live hub)."""

    def __init__(self, writer: BatchWriter, loop: asyncio.AbstractEventLoop, level: int | str = logging.INFO):
        super().__init__(level)
        self._writer = writer
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._pending_from_threads = 0
        self._pending_lock = threading.Lock()
        self.dropped = 0  # records that could not be handed over (other threads, beyond the bound)
        self._closed = False
        # (logger, level, template) → records seen in the current window; suppressed counts.
        self._window_started = time.monotonic()
        self._seen: dict[tuple[str, int, str], int] = {}
        self.suppressed: dict[tuple[str, int, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:  # type: ignore[override]
        if _inside_handler.get() or self._closed:
            return False
        name = record.name
        if any(name == n or name.startswith(n + ".") for n in EXCLUDED_LOGGERS):
            return False
        if record.levelno < logging.WARNING and any(name == n or name.startswith(n + ".") for n in QUIET_BELOW_WARNING):
            return False
        return bool(super().filter(record))

    def _admit(self, record: logging.LogRecord) -> bool:
        """Whether this record may become an entry in the current window (thread-safe enough:
        a lost count under a race only shifts one record between entry and summary)."""
        if time.monotonic() - self._window_started >= WINDOW_S:
            self.flush_suppressed()
        key = (record.name, record.levelno, str(record.msg)[:200])
        if key not in self._seen and len(self._seen) >= MAX_TEMPLATES:
            key = ("", record.levelno, "(other messages)")
        seen = self._seen[key] = self._seen.get(key, 0) + 1
        if seen > RECORDS_PER_WINDOW:
            self.suppressed[key] = self.suppressed.get(key, 0) + 1
            return False
        return True

    def flush_suppressed(self) -> None:
        """Start a new window; one entry per template that had records left out of the last."""
        suppressed, self.suppressed = self.suppressed, {}
        self._seen = {}
        self._window_started = time.monotonic()
        for (logger, levelno, template), count in suppressed.items():
            row = server_entry(
                f"{count} more record(s) like this were left out in the last minute: {template}",
                scope_name=logger, levelno=levelno, fields={"logger": logger, "suppressed": count},
            )  # fmt: skip
            self._submit(row)

    async def close_windows(self) -> None:
        """Until cancelled: end each window on time, so that what a burst left out is reported
        even when nothing else is logged afterwards."""
        while True:
            await asyncio.sleep(max(0.05, self._window_started + WINDOW_S - time.monotonic()))
            if time.monotonic() - self._window_started >= WINDOW_S:
                self.flush_suppressed()

    def _submit(self, row: ActivityRow) -> None:
        if threading.get_ident() == self._loop_thread:
            self._writer.submit_nowait([row])
        else:
            self._hand_over(row)

    def emit(self, record: logging.LogRecord) -> None:
        token = _inside_handler.set(True)
        try:
            if not self._admit(record):
                return
            row = row_from_record(record)
            self._submit(row)
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)
        finally:
            _inside_handler.reset(token)

    def _hand_over(self, row: ActivityRow) -> None:
        with self._pending_lock:
            if self._pending_from_threads >= MAX_PENDING_FROM_THREADS:
                self.dropped += 1
                return
            self._pending_from_threads += 1
        try:
            self._loop.call_soon_threadsafe(self._submit_in_loop, row)
        except RuntimeError:  # the loop is closed: the server is gone
            with self._pending_lock:
                self._pending_from_threads -= 1
            self.dropped += 1

    def _submit_in_loop(self, row: ActivityRow) -> None:
        with self._pending_lock:
            self._pending_from_threads -= 1
        token = _inside_handler.set(True)
        try:
            if not self._closed:
                self._writer.submit_nowait([row])
        finally:
            _inside_handler.reset(token)

    def close(self) -> None:
        self._closed = True
        super().close()


async def server_logs_ctx(app: web.Application) -> AsyncIterator[None]:
    """The cleanup_ctx step (after the writer's): install the handler on the root logger at
    start-up, remove it at shutdown before the writer stops."""
    runtime = app[RUNTIME]
    if runtime.settings.server_log_level.upper() == "OFF":
        yield
        return
    handler = ActivityLogHandler(runtime.writer, asyncio.get_running_loop(), runtime.settings.server_log_level.upper())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        async with background(handler.close_windows(), "server-log-windows"):
            yield
    finally:
        root.removeHandler(handler)
        handler.flush_suppressed()
        handler.close()
