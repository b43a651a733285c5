"""Reports of refused or malformed traffic, aggregated (docs/security.md, "The server's own
entries").

Anyone who can reach a port can make the server refuse something: a WebSocket from a foreign
Origin, a bad token, a malformed HTTP or OTLP request. Logged one by one, each would be an entry
carrying the sender's text, a thousand a second from one client. Instead each refusal is counted
(``record``, constant time and memory), and once per window (a minute) each kind that happened
becomes one entry: "312 WebSocket connections refused for their Origin in the last minute", with
the busiest client addresses and a few samples, each quoted (``repr``) and cut short. The entries
are warnings of source ``api``, curated, and ``admin_only``: creators never see them. The same
summary goes to the server's stderr log, once per window.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import AsyncIterator, Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from api.background import background
from api.server_entries import server_entry

from collector.contract import Category
from collector.model import ActivityRow

# Excluded from the server's own entries (api/server_logs.py): the summaries are entries already.
log = logging.getLogger("activity_console.security")

WINDOW_S = 60.0
MAX_REMOTES = 1_000  # distinct addresses remembered per kind and window
TOP_REMOTES = 5
MAX_SAMPLES = 3
SAMPLE_CHARS = 120

# kind → what the summary says happened ("{count} … in the last minute")
KINDS = {
    "refused_origin": "WebSocket connection(s) refused for their Origin",
    "live_auth_failed": "live-tail connection(s) closed for a missing, invalid or expired token",
    "login_failed": "failed login(s)",
    "ingest_unauthenticated": "OTLP request(s) refused for a missing, invalid or revoked ingest token",
    "ingest_malformed": "malformed OTLP request(s) refused",
    "malformed_http": "malformed HTTP request(s) refused",
}


def quoted(text: object) -> str:
    """An attacker-controlled value as it may appear in an entry: quoted, escaped, bounded."""
    shown = repr(text)
    return shown if len(shown) <= SAMPLE_CHARS else shown[: SAMPLE_CHARS - 1] + "…"


@dataclass
class _Window:
    count: int = 0
    remotes: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)


class SecurityEvents:
    """Counts refusals by kind and turns each window's counts into one entry per kind."""

    def __init__(self, emit: Callable[[ActivityRow], None], *, window_s: float = WINDOW_S):
        self._emit = emit
        self.window_s = window_s
        self._windows: dict[str, _Window] = {}

    def record(self, kind: str, remote: str | None = None, sample: object = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown security event kind {kind!r}")
        window = self._windows.setdefault(kind, _Window())
        window.count += 1
        address = remote or "unknown"
        if address in window.remotes or len(window.remotes) < MAX_REMOTES:
            window.remotes[address] += 1
        if sample is not None and len(window.samples) < MAX_SAMPLES:
            shown = quoted(sample)
            if shown not in window.samples:
                window.samples.append(shown)

    def pending(self, kind: str) -> int:
        window = self._windows.get(kind)
        return window.count if window else 0

    def flush(self) -> list[ActivityRow]:
        """One entry per kind seen since the last flush; they are handed to ``emit`` too."""
        windows, self._windows = self._windows, {}
        rows = []
        minutes = self.window_s / 60
        span = "the last minute" if minutes == 1 else f"the last {self.window_s:g} s"
        for kind, window in windows.items():
            message = f"{window.count} {KINDS[kind]} in {span}"
            top = dict(window.remotes.most_common(TOP_REMOTES))
            log.warning("%s (top addresses: %s)", message, top)
            row = server_entry(
                message, scope_name=__name__, levelno=logging.WARNING, category=Category.CURATED.value,
                fields={"security.event": kind, "count": window.count, "window_s": self.window_s,
                        "remotes": top, "distinct_remotes": len(window.remotes), "samples": window.samples},
            )  # fmt: skip
            self._emit(row)
            rows.append(row)
        return rows

    async def run(self) -> None:
        """Flush once per window until cancelled."""
        while True:
            await asyncio.sleep(self.window_s)
            self.flush()


SECURITY_EVENTS = web.AppKey("security_events", SecurityEvents)


class MalformedRequestFilter(logging.Filter):
    """On aiohttp's server logger: a request aiohttp could not parse is counted as a security event
    instead of being logged with its traceback (which every creator saw, a line per request)."""

    def __init__(self, events: SecurityEvents):
        super().__init__()
        self._events = events

    def filter(self, record: logging.LogRecord) -> bool:
        # The same message also reports a handler's own unhandled exception (a 500, a bug): that
        # one is logged as usual; only what the HTTP parser refused is the client's doing.
        error = record.exc_info[1] if record.exc_info else None
        if record.msg == "Error handling request from %s" and isinstance(error, HttpProcessingError):
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else None
            reason = record.exc_info[1] if record.exc_info else None
            self._events.record("malformed_http", str(remote) if remote else None, reason)
            return False
        return True


async def security_events_ctx(app: web.Application) -> AsyncIterator[None]:
    """The cleanup_ctx step (after the writer's): flushes every window, and once more at shutdown,
    before the writer stops."""
    events = app[SECURITY_EVENTS]
    aiohttp_server = logging.getLogger("aiohttp.server")
    malformed = MalformedRequestFilter(events)
    aiohttp_server.addFilter(malformed)
    try:
        async with background(events.run(), "security-events"):
            yield
    finally:
        aiohttp_server.removeFilter(malformed)
        events.flush()
