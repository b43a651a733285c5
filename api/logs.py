"""REST endpoints over ``activity_logs``: list, export, context, trace, histogram, and the admin
settings and purge. Filters are the contract's ``LogQuery``; the response shapes are its models
(``LogPage``, ``EntryDetail``, ``EntryContext``, ``TraceEntries``, ``Histogram``, ``Settings``,
``PurgeResult``), serialised here straight from the rows for speed. Every read goes through
``repository.where_clause`` with the caller's ``Scope``; no SQL here."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Iterator

import asyncpg
import jwt
from aiohttp import web
from multidict import MultiDict, MultiDictProxy
from pydantic import ValidationError

from api.errors import BadQuery, BadRequest, Forbidden, Gone, NotFound, TooManyRequests, parse_body, path_int
from api.retention import curated_api_entry
from api.security import (
    JWT_ALGORITHM,
    TOKEN_SIGNER,
    InvalidToken,
    Principal,
    bearer_from_header,
    current_principal,
    load_scope,
    principal_of,
    require_admin,
    verify_token,
)
from api.settings import Settings
from collector import partitions
from collector.contract import (
    DEFAULT_BUCKETS,
    DEFAULT_CONTEXT_ENTRIES,
    DEFAULT_PER_PAGE,
    DEFAULT_TRACE_ENTRIES,
    INT64_MAX,
    LEVELS,
    MAX_BUCKETS,
    MAX_OFFSET,
    MAX_PER_PAGE,
    MAX_TRACE_ENTRIES,
    LogQuery,
    SettingsUpdate,
    describe_validation_error,
    normalise_trace_id,
    parse_timestamp,
)
from collector.db import repository
from collector.db.repository import LogFilter, Scope, filter_from_fields
from collector.model import ActivityRow, dumps, format_timestamp
from collector.query import QueryError
from api.runtime import RUNTIME, Runtime

log = logging.getLogger(__name__)

# ``meta.total`` is counted for at most this long (bench/query.py: a count no index serves takes
# a second or more on ten million rows; the page itself takes milliseconds).
COUNT_TIMEOUT_MS = 300
# ``meta.total`` is exact up to this many entries, then a lower bound (``total_exact: false``):
# an exact count reads every matching row, seconds on millions (bench/query.py).
COUNT_CAP = 10_000
TRACE_SLICE = 250
# A trace response carries at most about this much (then meta.truncated); a list page of 100
# shortened entries carries at most about 13 MiB.
TRACE_MAX_BYTES = 8 * 1024 * 1024
DEFAULT_HISTOGRAM_SPAN = timedelta(hours=24)
# The shortest span an open-ended histogram covers (a lone entry would otherwise fill one bucket).
HISTOGRAM_MIN_SPAN = timedelta(minutes=1)
EXPORT_CHUNK_BYTES = 64 * 1024
# An export's or a purge's row estimate counts exactly up to this many entries within this long,
# then asks the planner (``repository.estimate_logs``): counting 200,000 indexed rows takes about
# 0.1 s here, ten million several seconds.
ESTIMATE_COUNT_CAP = 2_000_000
ESTIMATE_COUNT_TIMEOUT_MS = 1_000
# A one-time export link lives this long: long enough for the browser to start the download it
# was made for, too short to be worth copying anywhere.
EXPORT_LINK_TTL_S = 60
EXPORT_LINK_PREFIX = "/api/v1/activity-logs/export-links/"
_EXPORT_LINK_AUDIENCE = "activity-console:export-link"

# The filter's query parameters, as ``LogQuery`` names them: ``level`` and ``source`` may be
# repeated and comma-separated, the ids are integers.
# A tuple, in the model's order, so that the first problem reported is the same in every process.
FILTER_PARAMS = tuple(field.alias or name for name, field in LogQuery.model_fields.items())
_LIST_PARAMS = ("level", "source")
_INT_PARAMS = ("entity_id", "job_id", "user_id", "project_id")
_BARE_VALUE = re.compile(r'^[^\s"=\\]+$')


def _runtime(request: web.Request) -> Runtime:
    return request.app[RUNTIME]


# --- query-string parsing --------------------------------------------------------------------


def _check_known(query: MultiDictProxy[str], allowed: Iterable[str]) -> None:
    """Unknown parameters are refused: a typo (``levels=``) must not silently widen the result."""
    unknown = sorted(set(query.keys()) - set(allowed))
    if unknown:
        raise BadRequest(f"unknown query parameter(s): {', '.join(unknown)}")


def _names(query: MultiDictProxy[str], key: str) -> list[str] | None:
    """A repeated and/or comma-separated parameter, trimmed and lower-cased; None when absent."""
    values = [v.strip().lower() for raw in query.getall(key, []) for v in raw.split(",") if v.strip()]
    return values or None


def _single(query: MultiDictProxy[str], key: str) -> str | None:
    values = query.getall(key, [])
    if len(values) > 1:
        raise BadRequest(f"{key} may be given only once")
    if not values or values[0] == "":
        return None
    if "\x00" in values[0]:
        raise BadRequest(f"{key} must not contain NUL characters")
    return values[0]


def _integer(query: MultiDictProxy[str], key: str) -> int | None:
    text = _single(query, key)
    if text is None:
        return None
    # ASCII digits only: int() also takes other scripts' digits ("١٢٣"), underscores and spaces.
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise BadRequest(f"{key} must be an integer")
    try:
        return int(text)
    except ValueError:  # more digits than Python converts
        raise BadRequest(f"{key} must be an integer") from None


def _int(query: MultiDictProxy[str], key: str, *, default: int | None = None, low: int = 0,
         high: int = INT64_MAX) -> int | None:  # fmt: skip
    value = _integer(query, key)
    if value is None:
        return default
    if not low <= value <= high:
        raise BadRequest(f"{key} must be between {low} and {high}")
    return value


def _timestamp(query: MultiDictProxy[str], key: str) -> datetime | None:
    text = _single(query, key)
    if text is None:
        return None
    try:
        return parse_timestamp(text)
    except ValueError:
        raise BadRequest(f"{key} is not an RFC 3339 timestamp (e.g. 2026-01-31T12:00:00Z)") from None


def _log_query(values: dict[str, Any]) -> LogQuery:
    """The filter validated by the contract (the same rules as the live tail's), else a 400."""
    try:
        return LogQuery.model_validate({key: value for key, value in values.items() if value is not None})
    except ValidationError as exc:
        raise BadRequest(describe_validation_error(exc)) from None


def parse_filter(query: MultiDictProxy[str]) -> LogFilter:
    """The filters shared by list, export, context and histogram."""
    values: dict[str, Any] = {}
    for key in FILTER_PARAMS:
        if key in _LIST_PARAMS:
            values[key] = _names(query, key)
        elif key in _INT_PARAMS:
            values[key] = _integer(query, key)
        else:
            values[key] = _single(query, key)
    try:
        return filter_from_fields(_log_query(values))
    except QueryError as exc:
        raise BadQuery(f"q: {exc.message} (at position {exc.position})", exc.position) from None


def _levels(query: MultiDictProxy[str]) -> list[str]:
    """The ``level`` parameter of the filter (every level when absent)."""
    return list(_log_query({"level": _names(query, "level")}).levels or LEVELS)


def _data(rows: list[ActivityRow]) -> list[dict[str, Any]]:
    return [row.view_dict() for row in rows]


# --- reads -------------------------------------------------------------------------------------


async def list_logs(request: web.Request) -> web.Response:
    """``GET /api/v1/activity-logs``: a page (``page``/``per_page``, ``meta.total`` exact up to
    ``COUNT_CAP``), or a cursor slice
    (``before_id``: older than that entry, newest first; ``after_id``: committed after it, oldest
    first)."""
    query = request.query
    _check_known(query, {*FILTER_PARAMS, "page", "per_page", "before_id", "after_id"})
    log_filter = parse_filter(query)
    per_page = _int(query, "per_page", default=DEFAULT_PER_PAGE, low=1, high=MAX_PER_PAGE)
    before_id, after_id = _int(query, "before_id", low=1), _int(query, "after_id", low=0)
    page = _int(query, "page", default=1, low=1)
    assert per_page is not None and page is not None
    if before_id is not None and after_id is not None:
        raise BadRequest("give before_id or after_id, not both")
    cursor = before_id is not None or after_id is not None
    if cursor and "page" in query:
        raise BadRequest("page cannot be combined with before_id/after_id")
    if (page - 1) * per_page > MAX_OFFSET:
        raise BadRequest(f"pages end at offset {MAX_OFFSET}; continue with before_id=<last id>")
    log_filter.before_id, log_filter.after_id = before_id, after_id
    principal = principal_of(request)
    async with _runtime(request).pool.acquire() as conn:
        scope = await load_scope(conn, principal)
        if cursor:
            # The page is positioned on the cursor entry's time: only an entry the caller may see
            # may position it, or the answer would tell where (and whether) a hidden entry is. A
            # hidden one answers as a missing one does: nothing before it.
            visible = before_id is None or await repository.get_log(conn, before_id, scope, shortened=True) is not None
            rows = await repository.query_logs(conn, log_filter, scope, limit=per_page + 1) if visible else []
            has_more = len(rows) > per_page
            rows = rows[:per_page]
            meta: dict[str, Any] = {"per_page": per_page, "has_more": has_more}
            if before_id is not None:
                meta.update(before_id=before_id, next_before_id=rows[-1].id if rows and has_more else None)
            else:
                meta.update(after_id=after_id, next_after_id=rows[-1].id if rows else after_id)
            return web.json_response({"data": _data(rows), "meta": meta})
        rows = await repository.query_logs(conn, log_filter, scope, limit=per_page, offset=(page - 1) * per_page)
        counted = await repository.count_logs(conn, log_filter, scope, cap=COUNT_CAP + 1, timeout_ms=COUNT_TIMEOUT_MS)
    if counted is None:  # gave up: report what is known, and that there may be more
        known = (page - 1) * per_page + len(rows) + (1 if len(rows) == per_page else 0)
        meta = {"page": page, "per_page": per_page, "total": known, "total_exact": False}
    else:
        meta = {"page": page, "per_page": per_page, "total": min(counted, COUNT_CAP), "total_exact": counted <= COUNT_CAP}
    return web.json_response({"data": _data(rows), "meta": meta})


async def get_entry(request: web.Request) -> web.Response:
    """``GET /api/v1/activity-logs/{id}``: one entry, whole (list views may shorten large ones)."""
    _check_known(request.query, ())
    log_id = path_int(request, "log_id")
    principal = principal_of(request)
    async with _runtime(request).pool.acquire() as conn:
        scope = await load_scope(conn, principal)
        entry = await repository.get_log(conn, log_id, scope)
    if entry is None:
        raise NotFound(f"no activity log entry {log_id}")
    return web.json_response({"data": entry.to_dict()})


async def log_context(request: web.Request) -> web.Response:
    """``GET /api/v1/activity-logs/{id}/context?before=N&after=N``: the entries around one entry,
    oldest first, the entry itself included; the filters, if any, apply to the neighbours."""
    query = request.query
    _check_known(query, {*FILTER_PARAMS, "before", "after"})
    log_filter = parse_filter(query)
    before = _int(query, "before", default=DEFAULT_CONTEXT_ENTRIES, high=MAX_PER_PAGE)
    after = _int(query, "after", default=DEFAULT_CONTEXT_ENTRIES, high=MAX_PER_PAGE)
    assert before is not None and after is not None
    log_id = path_int(request, "log_id")
    principal = principal_of(request)
    async with _runtime(request).pool.acquire() as conn:
        scope = await load_scope(conn, principal)
        anchor = await repository.get_log(conn, log_id, scope, shortened=True)
        if anchor is None:
            raise NotFound(f"no activity log entry {log_id}")
        older, newer = await repository.context_logs(conn, log_id, log_filter, scope, before=before, after=after)
    return web.json_response({
        "data": _data(older + [anchor] + newer),
        "meta": {"anchor_id": log_id, "before": len(older), "after": len(newer)},
    })  # fmt: skip


async def trace(request: web.Request) -> web.Response:
    """``GET /api/v1/traces/{trace_id}``: every visible entry of a trace, oldest first."""
    _check_known(request.query, {"limit"})
    try:
        trace_id = normalise_trace_id(request.match_info["trace_id"])
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    limit = _int(request.query, "limit", default=DEFAULT_TRACE_ENTRIES, low=1, high=MAX_TRACE_ENTRIES)
    assert limit is not None
    principal = principal_of(request)
    entries: list[bytes] = []  # each entry's view, serialised once (ActivityRow.json)
    size = 0
    truncated = False
    async with _runtime(request).pool.acquire() as conn:
        scope = await load_scope(conn, principal)
        # In slices, within a byte budget like a page's: a trace of 10,000 shortened entries
        # would otherwise be a response of a gigabyte, built in memory.
        last_id: int | None = None
        while not truncated:
            page_filter = LogFilter(trace_id=trace_id, newer_than_id=last_id)
            rows = await repository.query_logs(conn, page_filter, scope, limit=TRACE_SLICE, oldest_first=True)
            for row in rows:
                entry = row.json()
                size += len(entry)
                if len(entries) == limit or (entries and size > TRACE_MAX_BYTES):
                    truncated = True
                    break
                entries.append(entry)
            if len(rows) < TRACE_SLICE:
                break
            last_id = rows[-1].id
    meta = dumps({"trace_id": trace_id, "count": len(entries), "truncated": truncated})
    body = b"".join((b'{"data":[', b",".join(entries), b'],"meta":', meta, b"}"))
    return web.Response(body=body, content_type="application/json")


async def _open_range(conn: asyncpg.Connection, log_filter: LogFilter, scope: Scope) -> tuple[datetime, datetime]:
    """The histogram's range when ``from`` or ``to`` is open: the range the table shows, i.e. from
    the oldest matching entry (no further back than the longest retention, so one stray ancient
    timestamp cannot squash every bar into the right edge) to now (or the newest entry, if it is
    later). Without a matching entry: the last ``DEFAULT_HISTOGRAM_SPAN`` before ``to``."""
    now = datetime.now(timezone.utc)
    oldest, newest = await repository.time_bounds(conn, log_filter, scope)
    until = log_filter.until
    if until is None:
        until = now
        if newest is not None and newest >= now:
            until = _later(newest, timedelta(microseconds=1))  # [from, to) must hold the newest
    since = log_filter.since
    if since is None:
        if oldest is None:
            since = _earlier(until, DEFAULT_HISTOGRAM_SPAN)
        else:
            settings = await repository.get_settings(conn)
            longest = max(settings[f"retention_days_{level}"] for level in LEVELS)
            since = max(oldest, _earlier(now, timedelta(days=longest)))
            # A single entry, or a burst within a second, still gets a readable span.
            since = min(since, _earlier(until, HISTOGRAM_MIN_SPAN))
    return since, until


def _earlier(instant: datetime, span: timedelta) -> datetime:
    try:
        return instant - span
    except OverflowError:
        return datetime.min.replace(tzinfo=timezone.utc)


def _later(instant: datetime, span: timedelta) -> datetime:
    try:
        return instant + span
    except OverflowError:
        return datetime.max.replace(tzinfo=timezone.utc)


async def log_histogram(request: web.Request) -> web.Response:
    """``GET /api/v1/activity-logs/histogram?…&buckets=N``: counts per equal time bucket and
    level over [from, to); an open end covers what the table shows (``_open_range``)."""
    query = request.query
    _check_known(query, {*FILTER_PARAMS, "buckets"})
    log_filter = parse_filter(query)
    buckets = _int(query, "buckets", default=DEFAULT_BUCKETS, low=1, high=MAX_BUCKETS)
    assert buckets is not None
    principal = principal_of(request)
    async with _runtime(request).pool.acquire() as conn:
        scope = await load_scope(conn, principal)
        since, until = log_filter.since, log_filter.until
        if since is None or until is None:
            since, until = await _open_range(conn, log_filter, scope)
        if until <= since:
            raise BadRequest("from must be before to")
        counts = await repository.histogram(conn, log_filter, scope, since=since, until=until, buckets=buckets)
    width = (until - since) / buckets
    data = [
        {"start": format_timestamp(since + width * i), "end": format_timestamp(since + width * (i + 1)),
         "total": 0, "counts": dict.fromkeys(LEVELS, 0)}
        for i in range(buckets)
    ]  # fmt: skip
    for bucket, level, entries in counts:
        data[bucket]["counts"][level] = entries
        data[bucket]["total"] += entries
    meta = {"from": format_timestamp(since), "to": format_timestamp(until), "buckets": buckets,
            "bucket_seconds": width.total_seconds()}  # fmt: skip
    return web.json_response({"data": data, "meta": meta})


# --- export ------------------------------------------------------------------------------------


# Characters a viewer may take as the end of a line or as a terminal command: C0 and C1 controls,
# DEL, and Unicode's line and paragraph separators. In the text export they are escaped wherever
# they occur (message, keys, values), so that one entry is always one line of plain text.
_UNSAFE_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escape_text(text: str) -> str:
    def escape(match: re.Match[str]) -> str:
        char = match.group()
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char) or f"\\u{ord(char):04x}"

    return _UNSAFE_TEXT.sub(escape, text.replace("\\", "\\\\"))


def _escaped_json(value: Any) -> str:
    """Compact JSON with the characters JSON itself leaves raw (C1 controls, DEL, U+2028/2029)
    escaped too."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return _UNSAFE_TEXT.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _text_token(value: str) -> str:
    """A key or a string value: bare when it is one plain word, else JSON-quoted and escaped."""
    if _BARE_VALUE.match(value) and not _UNSAFE_TEXT.search(value):
        return value
    return _escaped_json(value)


def _text_value(value: Any) -> str:
    return _text_token(value) if isinstance(value, str) else _escaped_json(value)


def text_line(row: ActivityRow) -> str:
    """``timestamp level source message key=value…``: one line per entry (line breaks and control
    characters anywhere are escaped), then the non-empty columns, then the fields."""
    message = _escape_text(row.message)
    pairs: list[tuple[str, Any]] = [("id", row.id), ("category", row.category)]
    if row.entity_type is not None:
        pairs.append(("entity", f"{row.entity_type}:{row.entity_id}" if row.entity_id is not None else row.entity_type))
    for key in ("user_id", "job_id", "project_id", "trace_id", "span_id", "service_name"):
        value = getattr(row, key)
        if value is not None:
            pairs.append((key, value))
    pairs.extend(row.fields.items())
    rest = " ".join(f"{_text_token(str(key))}={_text_value(value)}" for key, value in pairs)
    return f"{format_timestamp(row.timestamp)} {row.level} {row.source} {message} {rest}\n"


@dataclass(frozen=True)
class ExportFormat:
    content_type: str
    extension: str


EXPORT_FORMATS = {
    "json": ExportFormat("application/x-ndjson", "ndjson"),  # one JSON entry per line
    "text": ExportFormat("text/plain; charset=utf-8", "log"),
}


def _export_params(query: MultiDictProxy[str]) -> tuple[LogFilter, str]:
    """The filter and format of an export's query string, checked (400 otherwise)."""
    _check_known(query, {*FILTER_PARAMS, "format"})
    format_name = _single(query, "format") or "json"
    if format_name not in EXPORT_FORMATS:
        raise BadRequest(f"unknown format {format_name!r}; expected json or text")
    return parse_filter(query), format_name


async def export_logs(request: web.Request) -> web.StreamResponse:
    """``GET /api/v1/activity-logs/export?format=json|text&…filters``: every matching entry,
    oldest first, streamed from a server-side cursor (constant memory). ``json`` is NDJSON."""
    log_filter, format_name = _export_params(request.query)
    principal = principal_of(request)
    with request.app[EXPORT_SLOTS].take(principal.user_id):
        return await _export(request, principal, log_filter, format_name)


async def _export(request: web.Request, principal: Principal, log_filter: LogFilter,
                  format_name: str) -> web.StreamResponse:  # fmt: skip
    """Streams the export of ``principal`` (whose slot is taken), in their scope as it is now."""
    export_format = EXPORT_FORMATS[format_name]
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    runtime = _runtime(request)
    slots = request.app[EXPORT_SLOTS]
    response = web.StreamResponse(headers={
        "Content-Type": export_format.content_type,
        "Content-Disposition": f'attachment; filename="activity-logs-{stamp}.{export_format.extension}"',
        "Cache-Control": "no-store",
    })  # fmt: skip
    async with runtime.pool.acquire() as conn:
        scope = await load_scope(conn, principal)
    async with runtime.export_pool.acquire() as conn:
        await response.prepare(request)
        try:
            await _stream_export(conn, response, log_filter, scope, format_name, slots.write_timeout_s)
        except ConnectionResetError:
            raise  # the client went away; the cursor's transaction is already closed
        except TimeoutError:
            # The client stopped reading: end it now rather than hold the connection, the
            # database session and its snapshot for as long as it stalls.
            log.info("export by user %d ended: the client did not read for %.0f s",
                     principal.user_id, slots.write_timeout_s)  # fmt: skip
            if request.transport is not None:
                request.transport.abort()
            return response
        except Exception:
            # The status line is sent: the only way left to signal failure is to end the
            # connection without the final chunk, which clients report as an incomplete body.
            log.exception("export failed after it started")
            if request.transport is not None:
                request.transport.close()
            return response
    await response.write_eof()
    return response


async def _estimate(conn: asyncpg.Connection, log_filter: LogFilter, scope: Scope) -> dict[str, Any]:
    """``RowEstimate``: exact when counting is cheap, else the planner's figure."""
    counted = await repository.count_logs(conn, log_filter, scope, cap=ESTIMATE_COUNT_CAP + 1,
                                          timeout_ms=ESTIMATE_COUNT_TIMEOUT_MS)  # fmt: skip
    if counted is not None and counted <= ESTIMATE_COUNT_CAP:
        return {"rows": counted, "exact": True}
    planned = await repository.estimate_logs(conn, log_filter, scope)
    return {"rows": max(planned, counted or 0), "exact": False}


async def export_estimate(request: web.Request) -> web.Response:
    """``GET /api/v1/activity-logs/export/estimate?…filters``: how many entries the export with
    these filters would hold, in the caller's scope."""
    log_filter, _ = _export_params(request.query)
    principal = principal_of(request)
    async with _runtime(request).pool.acquire() as conn:
        scope = await load_scope(conn, principal)
        return web.json_response(await _estimate(conn, log_filter, scope))


class ExportLinks:
    """One-time download links for exports, for browsers that cannot stream a response into a
    file themselves: a plain link cannot carry the bearer token, so the link is the credential.

    A link is a JWT signed with a key derived from the API token key (so neither can stand for the
    other), bound to its creator's user id and to the export's query string, valid
    ``EXPORT_LINK_TTL_S`` and once. "Once" is kept in this process's memory: with several API
    replicas behind a load balancer, a link could be used once per replica within its minute."""

    def __init__(self, secret: str, ttl_s: int = EXPORT_LINK_TTL_S):
        self._key = hmac.new(secret.encode(), b"activity-console export links", hashlib.sha256).hexdigest()
        self.ttl_s = ttl_s
        self._used: dict[str, float] = {}  # link id -> its expiry (Unix seconds)

    def mint(self, user_id: int, params: list[tuple[str, str]], *, now: float | None = None) -> tuple[str, int]:
        issued = int(time.time() if now is None else now)
        expires = issued + self.ttl_s
        claims = {"sub": str(user_id), "aud": _EXPORT_LINK_AUDIENCE, "iat": issued, "exp": expires,
                  "jti": secrets.token_urlsafe(16), "params": params}  # fmt: skip
        return jwt.encode(claims, self._key, algorithm=JWT_ALGORITHM), expires

    def verify(self, token: str) -> tuple[int, str, MultiDict[str]]:
        """(user id, link id, query string) of a well-signed, unexpired link; 410 or 403 otherwise."""
        try:
            claims = jwt.decode(token, self._key, algorithms=[JWT_ALGORITHM], audience=_EXPORT_LINK_AUDIENCE,
                                options={"require": ["sub", "exp", "jti", "aud"]})  # fmt: skip
            user_id = int(claims["sub"])
            params = MultiDict((str(key), str(value)) for key, value in claims.get("params", []))
            link_id = str(claims["jti"])
        except jwt.ExpiredSignatureError:
            raise Gone("this export link has expired (links last 60 s); start the export again") from None
        except (jwt.InvalidTokenError, TypeError, ValueError):
            raise Forbidden("this is not a valid export link") from None
        return user_id, link_id, params

    def consume(self, link_id: str, expires: float) -> None:
        """Marks the link used, or refuses it (410) if it was. Synchronous, so two requests for the
        same link within this process cannot both pass: no await separates the check and the mark."""
        now = time.time()
        for stale in [key for key, until in self._used.items() if until < now]:
            del self._used[stale]
        if link_id in self._used:
            raise Gone("this export link was already used; start the export again")
        self._used[link_id] = expires


EXPORT_LINKS = web.AppKey("export_links", ExportLinks)


async def create_export_link(request: web.Request) -> web.Response:
    """``POST /api/v1/activity-logs/export-links?format=…&…filters``: a one-time download link for
    that export (the filters are checked now: bad ones are a 400 and no link)."""
    _export_params(request.query)
    principal = principal_of(request)
    token, expires = request.app[EXPORT_LINKS].mint(principal.user_id, list(request.query.items()))
    body = {"url": EXPORT_LINK_PREFIX + token, "expires_at": format_timestamp(datetime.fromtimestamp(expires, timezone.utc))}
    return web.json_response(body, status=201, headers={"Cache-Control": "no-store"})


async def download_export_link(request: web.Request) -> web.StreamResponse:
    """``GET /api/v1/activity-logs/export-links/{link}`` (no token: the link is one): the export,
    once, with the scope its creator has now (a narrowed role or a deleted account applies)."""
    links = request.app[EXPORT_LINKS]
    user_id, link_id, params = links.verify(request.match_info["link"])
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        # Sent with someone's token, the link must be theirs: it cannot act for another user.
        caller = verify_token(request.app, bearer_from_header(authorization))
        if caller.user_id != user_id:
            raise Forbidden("this export link belongs to another user")
    log_filter, format_name = _export_params(MultiDictProxy(params))
    with request.app[EXPORT_SLOTS].take(user_id):
        links.consume(link_id, time.time() + links.ttl_s)
        try:
            principal = await current_principal(_runtime(request).pool, Principal(user_id, "", "creator"))
        except InvalidToken:
            raise Gone("the account this export link was made for no longer exists") from None
        return await _export(request, principal, log_filter, format_name)


async def _stream_export(conn: asyncpg.Connection, response: web.StreamResponse, log_filter: LogFilter,
                         scope: Scope, format_name: str, write_timeout_s: float) -> None:  # fmt: skip
    buffer: list[bytes] = []
    size = 0
    async with contextlib.aclosing(repository.iter_logs(conn, log_filter, scope)) as rows:
        async for row in rows:
            chunk = row.full_json() + b"\n" if format_name == "json" else text_line(row).encode()
            buffer.append(chunk)
            size += len(chunk)
            if size >= EXPORT_CHUNK_BYTES:
                async with asyncio.timeout(write_timeout_s):
                    await response.write(b"".join(buffer))
                buffer, size = [], 0
    if buffer:
        async with asyncio.timeout(write_timeout_s):
            await response.write(b"".join(buffer))


class ExportSlots:
    """How many exports stream at once: ``total`` server-wide (the export pool's size) and
    ``per_user``. A request beyond either is answered 429 at once, not queued: a queued export
    would hold its HTTP connection while waiting, and a user's third concurrent export is more
    likely a runaway script than someone waiting for it."""

    def __init__(self, total: int, per_user: int, write_timeout_s: float):
        self.total = total
        self.per_user = per_user
        self.write_timeout_s = write_timeout_s
        self.running: dict[int, int] = {}

    @contextlib.contextmanager
    def take(self, user_id: int) -> Iterator[None]:
        if self.running.get(user_id, 0) >= self.per_user:
            raise TooManyRequests(f"you already have {self.per_user} exports running; wait for one to finish",
                                  retry_after=5)  # fmt: skip
        if sum(self.running.values()) >= self.total:
            raise TooManyRequests("the server is running as many exports as it allows; retry shortly", retry_after=5)
        self.running[user_id] = self.running.get(user_id, 0) + 1
        try:
            yield
        finally:
            self.running[user_id] -= 1
            if not self.running[user_id]:
                del self.running[user_id]


EXPORT_SLOTS = web.AppKey("export_slots", ExportSlots)


# --- admin -------------------------------------------------------------------------------------


def _settings_json(settings: dict[str, Any]) -> dict[str, Any]:
    updated = settings.get("updated_at")
    return {**settings, "updated_at": format_timestamp(updated) if updated else None}


async def get_settings(request: web.Request) -> web.Response:
    require_admin(request)
    async with _runtime(request).pool.acquire() as conn:
        return web.json_response(_settings_json(await repository.get_settings(conn)))


async def update_settings(request: web.Request) -> web.Response:
    require_admin(request)
    body = await parse_body(request, SettingsUpdate)
    runtime = _runtime(request)
    async with runtime.pool.acquire() as conn:
        settings = await repository.update_settings(conn, body.model_dump(include=body.model_fields_set))
    runtime.writer.apply_settings(settings["batch_size"], settings["flush_interval_ms"])
    return web.json_response(_settings_json(settings))


async def purge_logs(request: web.Request) -> web.Response:
    """``DELETE /api/v1/admin/activity-logs?before=…[&level=…]``: delete older entries now."""
    principal = require_admin(request)
    query = request.query
    _check_known(query, {"before", "level"})
    before = _timestamp(query, "before")
    if before is None:
        raise BadRequest("before is required (an RFC 3339 timestamp)")
    levels = _levels(query)
    runtime = _runtime(request)
    deleted: dict[str, int] = {}
    async with runtime.pool.acquire() as conn:
        for level in levels:
            deleted[level] = (await partitions.purge_older_than(conn, level, before)).rows
    total = sum(deleted.values())
    message = f"manual purge by {principal.email} deleted {total} entries older than {format_timestamp(before)}"
    fields = {"deleted": deleted, "before": format_timestamp(before), "job": "manual-purge"}
    runtime.writer.submit_nowait([curated_api_entry(message, fields, scope_name=__name__, user_id=principal.user_id)])
    return web.json_response({"deleted": total, "by_level": deleted, "before": format_timestamp(before)})


async def purge_estimate(request: web.Request) -> web.Response:
    """``GET /api/v1/admin/activity-logs/purge-estimate?before=…[&level=…]``: how many entries a
    purge with these parameters would delete now."""
    require_admin(request)
    query = request.query
    _check_known(query, {"before", "level"})
    before = _timestamp(query, "before")
    if before is None:
        raise BadRequest("before is required (an RFC 3339 timestamp)")
    log_filter = LogFilter(levels=_levels(query), until=before)
    async with _runtime(request).pool.acquire() as conn:
        return web.json_response(await _estimate(conn, log_filter, Scope.admin()))


def setup(app: web.Application, settings: Settings) -> None:
    app[EXPORT_SLOTS] = ExportSlots(settings.export_concurrency, settings.exports_per_user, settings.export_write_timeout_s)
    app[EXPORT_LINKS] = ExportLinks(app[TOKEN_SIGNER].secret)
    r = app.router
    r.add_get("/api/v1/activity-logs", list_logs)
    r.add_get("/api/v1/activity-logs/export", export_logs)
    r.add_get("/api/v1/activity-logs/export/estimate", export_estimate)
    r.add_post("/api/v1/activity-logs/export-links", create_export_link)
    # GET only: a HEAD (a link checker, a preview) would otherwise use up the one-time link.
    r.add_get(EXPORT_LINK_PREFIX + "{link}", download_export_link, allow_head=False)
    r.add_get("/api/v1/activity-logs/histogram", log_histogram)
    r.add_get(r"/api/v1/activity-logs/{log_id:\d+}", get_entry)
    r.add_get(r"/api/v1/activity-logs/{log_id:\d+}/context", log_context)
    r.add_get("/api/v1/traces/{trace_id}", trace)
    r.add_get("/api/v1/admin/activity-logs/settings", get_settings)
    r.add_put("/api/v1/admin/activity-logs/settings", update_settings)
    r.add_delete("/api/v1/admin/activity-logs", purge_logs)
    r.add_get("/api/v1/admin/activity-logs/purge-estimate", purge_estimate)
