"""The WebSocket live tail: ``GET /ws/activity-logs`` (issue 3 item 5, seed Task 6.1).

Protocol (every frame is a JSON text frame)::

    client → {"action": "auth", "token": "<JWT>"}           first message, within live_auth_timeout_s (5 s)
    client → {"action": "subscribe", "levels": [...], "sources": [...], "mode": "curated"|"verbose",
              "entity_type"?, "entity_id"?, "job_id"?, "user_id"?, "project_id"?, "trace_id"?,
              "search"?, "after_id"?}
    client → {"action": "update_filter", <any filter field of subscribe except after_id>}
    server → {"type": "subscribed", "filter": {...}}         a subscription (or its new filter) is in force
    server → {"type": "entries", "entries": [<entry>, ...]}  entries in id (commit) order, batched to
                                                              save frames; same shape as the REST API
    server → {"type": "lagged", "skipped": N}                 N matching entries were dropped because this
                                                              client read too slowly; they are between the
                                                              entries received before and after it
    server → {"type": "error", "message": "..."}              a malformed or unknown message; the
                                                              connection stays open

- The token travels in the first message, never in the URL (URLs end up in access logs).
- ``Origin``, when the browser sends one, must be one of ``Settings.allowed_origins`` (default: the
  server's own origin, ``http(s)://<Host>``): cross-site WebSocket hijacking (NOTES §4).
- A foreign origin, a missing/invalid/expired token or a first message other than ``auth`` closes
  the connection with 1008 (policy violation). Server shutdown closes with 1001 (going away).
- The account behind an open connection is re-read every ``live_recheck_s`` (10 s): a deleted
  account is closed with 1008, a changed role or project membership re-scopes the connection (what
  is still queued too); the connection is closed with 1008 when its token expires. A user holds at
  most ``live_tails_per_user`` connections (20); more are closed with 1008.
- A client that does not accept a frame within ``live_send_timeout_s`` (10 s) is disconnected: its
  socket is aborted, which frees the kernel buffers a client that never reads would pin.
- Refused origins and failed authentications are counted into one admin-only report per minute
  (api/security_events.py), never an entry each.
- Filters mean exactly what they mean in the REST API: ``EntryMatcher`` is the Python twin of
  ``repository.where_clause`` (an empty ``levels`` or ``sources`` list means "any", as in SQL),
  including the creator scope and job-only entries scoped through their job's project.
- ``update_filter`` is a partial change: fields present replace the current ones (``null`` clears
  one), absent fields stay. It applies to entries committed from then on.
- Resume: ``subscribe`` with ``after_id`` first replays the stored entries with a larger id that
  match the filter and scope, then continues live, with no gap and no duplicate at the seam.

Each client has its own bounded hub subscription and a sender task that drains it, so a client
that reads slowly only loses its own oldest entries (and is told with ``lagged``); publishing and
other clients never wait for it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import logging
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Annotated, Any, AsyncIterator, Callable, Iterable, Literal, Mapping, Union

import asyncpg
from aiohttp import WSCloseCode, WSMsgType, web
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from api import security
from api.background import background
from api.security_events import SECURITY_EVENTS, SecurityEvents
from collector.db.queries import q
from collector.db.repository import LogFilter, Scope, query_logs
from collector.hub import LiveHub, Subscription
from collector.model import ActivityRow

log = logging.getLogger(__name__)

PATH = "/ws/activity-logs"
REPLAY_PAGE_ROWS = 500
# A frame carries at most this many entries or about this many bytes, whichever comes first, so
# that a burst never makes one huge frame (browsers and aiohttp cap message sizes).
FRAME_MAX_ENTRIES = 1000
FRAME_MAX_BYTES = 512 * 1024
CLIENT_MESSAGE_MAX_BYTES = 64 * 1024
SHARED_FRAMES_KEPT = 512
HEARTBEAT_S = 30.0
CLOSE_TIMEOUT_S = 2.0  # how long a close waits for the client's close frame before dropping it

INT64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


# --- client messages ---------------------------------------------------------------------------


class _FilterFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    levels: list[Literal["debug", "info", "warn", "error"]] | None = None
    sources: list[Literal["api", "comfyui", "worker", "agent", "pipeline"]] | None = None
    mode: Literal["curated", "verbose"] | None = None
    entity_type: str | None = Field(None, max_length=200)
    entity_id: INT64 | None = None
    job_id: INT64 | None = None
    user_id: INT64 | None = None
    project_id: INT64 | None = None
    trace_id: str | None = Field(None, pattern=r"^[0-9a-f]{32}$")
    search: str | None = Field(None, max_length=500)


class AuthMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["auth"]
    token: str = Field(max_length=8192)


class SubscribeMessage(_FilterFields):
    action: Literal["subscribe"]
    after_id: Annotated[int, Field(ge=0, le=2**63 - 1)] | None = None


class UpdateFilterMessage(_FilterFields):
    action: Literal["update_filter"]


ClientMessage = Annotated[Union[AuthMessage, SubscribeMessage, UpdateFilterMessage], Field(discriminator="action")]
CLIENT_MESSAGE = TypeAdapter(ClientMessage)
FILTER_FIELDS = tuple(_FilterFields.model_fields)


def parse_client_message(text: str) -> AuthMessage | SubscribeMessage | UpdateFilterMessage:
    """The validated message, else ``ValueError`` with a message fit for the client."""
    try:
        return CLIENT_MESSAGE.validate_json(text)
    except ValidationError as exc:
        problems = []
        for error in exc.errors()[:3]:
            where = ".".join(str(part) for part in error["loc"])
            problems.append(f"{where}: {error['msg']}" if where else error["msg"])
        raise ValueError("; ".join(problems)) from None


def filter_from_fields(fields: dict[str, Any], base: LogFilter | None = None) -> LogFilter:
    return dataclasses.replace(base or LogFilter(), **{k: v for k, v in fields.items() if k in FILTER_FIELDS})


def describe_filter(log_filter: LogFilter) -> dict[str, Any]:
    return {name: getattr(log_filter, name) for name in FILTER_FIELDS}


# --- the Python twin of repository.where_clause -------------------------------------------------


class JobProjects:
    """Job id → project id, for scoping entries that carry only a job id (the SQL joins ``jobs``).

    ``lookup`` answers for every id it is asked about, from the cache when fresh (``ttl_s``, so a
    job moved to another project is seen within that time) and with one query for the rest.
    Concurrent lookups are serialised so that many clients receiving the same rows cost one query.
    Callers decide with the mapping ``lookup`` returns, never with a later read of the cache: the
    cache may be cleared or expire between two awaits.
    """

    def __init__(self, pool: asyncpg.Pool | None, *, ttl_s: float = 30.0, max_entries: int = 100_000):
        self._pool = pool
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        # job id → (project id or None when the job has none or does not exist, fetched at)
        self._projects: dict[int, tuple[int | None, float]] = {}
        self._lock = asyncio.Lock()

    def cached(self, job_id: int) -> tuple[bool, int | None]:
        """(known, project): whether a fresh answer is cached, and the job's project if so."""
        entry = self._projects.get(job_id)
        if entry is None or time.monotonic() - entry[1] >= self.ttl_s:
            return False, None
        return True, entry[0]

    def remember(self, job_projects: dict[int, int | None], looked_up: Iterable[int] = ()) -> None:
        now = time.monotonic()
        if len(self._projects) + len(job_projects) > self.max_entries:
            self._projects.clear()  # a cache, not a mirror of the table: start over rather than grow
        for job_id in looked_up:
            self._projects[job_id] = (None, now)
        for job_id, project_id in job_projects.items():
            self._projects[job_id] = (project_id, now)

    async def lookup(self, job_ids: Iterable[int]) -> dict[int, int | None]:
        """The project of each job (None: the job has none or does not exist), for every id given."""
        answer: dict[int, int | None] = {}
        missing: list[int] = []
        for job_id in set(job_ids):
            known, project = self.cached(job_id)
            if known:
                answer[job_id] = project
            else:
                missing.append(job_id)
        if not missing:
            return answer
        async with self._lock:
            still_missing = []
            for job_id in missing:  # another lookup may have answered while this one waited
                known, project = self.cached(job_id)
                if known:
                    answer[job_id] = project
                else:
                    still_missing.append(job_id)
            if still_missing:
                if self._pool is None:
                    raise RuntimeError("no database to look jobs up in")
                async with self._pool.acquire() as conn:
                    records = await conn.fetch(q("live_job_projects"), still_missing)
                found = {r["id"]: r["project_id"] for r in records}
                self.remember(found, looked_up=still_missing)
                for job_id in still_missing:
                    answer[job_id] = found.get(job_id)
        return answer


def is_job_only(row: ActivityRow) -> bool:
    """An entry whose only owner is a job: its visibility follows the job's project."""
    return row.job_id is not None and row.user_id is None and row.project_id is None


class EntryMatcher:
    """Does an entry match a filter and a scope? Exactly ``repository.where_clause``, in Python.

    Two steps, because an entry that carries only a job id is visible to a creator only when the
    job's project is (the SQL joins ``jobs``), and the job may not be known yet when the row is
    published:
    - ``__call__`` is the hub's predicate. It runs inside ``LiveHub.publish`` for every row and
      every subscriber, so the filter is compiled once into a short tuple of checks. For a creator
      it admits job-only rows whose job is not cached (yet) and refuses those cached as foreign.
    - ``decide`` is the exact rule, given the projects of the rows' jobs (``JobProjects.lookup`` of
      ``job_ids_to_decide``). The sender applies it to every job-only row before sending it, so a
      row admitted while its job was unknown is never sent on the strength of that admission.
    """

    def __init__(self, log_filter: LogFilter, scope: Scope, jobs: JobProjects):
        self.log_filter = log_filter
        self.scope = scope
        self.jobs = jobs
        self._projects = frozenset(scope.project_ids)
        self._checks = _compile_filter(log_filter)
        # Matchers with equal keys select the same rows: the hub evaluates one per batch for all.
        self.share_key = (
            "EntryMatcher", id(jobs), scope.is_admin, scope.user_id, tuple(sorted(scope.project_ids)),
            *((name, tuple(value) if isinstance(value, list) else value) for name, value in _filter_items(log_filter)),
        )  # fmt: skip

    def _filter_allows(self, row: ActivityRow) -> bool:
        for check in self._checks:
            if not check(row):
                return False
        return True

    def _owner_allows(self, row: ActivityRow) -> bool | None:
        """The scope's verdict from the row's own columns; None when it depends on the row's job."""
        scope = self.scope
        if scope.is_admin:
            return True
        if row.admin_only:
            return False
        if scope.user_id is not None and row.user_id == scope.user_id:
            return True
        if row.project_id is not None and row.project_id in self._projects:
            return True
        if row.user_id is not None or row.project_id is not None:
            return False
        if row.job_id is None:
            return True  # a system entry
        return None

    def __call__(self, row: ActivityRow) -> bool:
        """Admission into the subscriber's queue (see the class docstring)."""
        if not self._filter_allows(row):
            return False
        verdict = self._owner_allows(row)
        if verdict is not None:
            return verdict
        known, project = self.jobs.cached(row.job_id)  # type: ignore[arg-type]
        return not known or project is None or project in self._projects

    @property
    def pending_owner(self) -> Callable[[ActivityRow], int | None] | None:
        """For the hub: the job whose project decides a row for this scope; None for an admin,
        for whom no row waits on its job."""
        if self.scope.is_admin:
            return None
        return lambda row: row.job_id if is_job_only(row) else None

    def job_visible(self, project_id: int | None) -> bool:
        """Whether a job-only entry of a job in ``project_id`` (None: no project) is in scope."""
        return self.scope.is_admin or project_id is None or project_id in self._projects

    def job_ids_to_decide(self, rows: Iterable[ActivityRow]) -> set[int]:
        """The jobs whose projects ``decide`` needs for these rows (none for an admin)."""
        if self.scope.is_admin:
            return set()
        return {row.job_id for row in rows if is_job_only(row)}  # type: ignore[misc]

    def decide(self, row: ActivityRow, job_projects: Mapping[int, int | None]) -> bool:
        """The exact rule. A job-only row whose job is not in ``job_projects`` is refused."""
        if not self._filter_allows(row):
            return False
        verdict = self._owner_allows(row)
        if verdict is not None:
            return verdict
        if row.job_id not in job_projects:
            return False
        return self.job_visible(job_projects[row.job_id])  # type: ignore[index]


def _filter_items(f: LogFilter) -> list[tuple[str, Any]]:
    return [(field.name, getattr(f, field.name)) for field in dataclasses.fields(f)]


def _compile_filter(f: LogFilter) -> tuple[Callable[[ActivityRow], bool], ...]:
    """One check per condition of ``where_clause`` that the filter sets (None compares like SQL
    NULL: a NULL column never equals a value, and an unset filter field adds no condition)."""
    checks: list[Callable[[ActivityRow], bool]] = []
    if f.levels:  # an empty list adds no condition, as in where_clause
        levels = frozenset(f.levels)
        checks.append(lambda row: row.level in levels)
    if f.sources:
        sources = frozenset(f.sources)
        checks.append(lambda row: row.source in sources)
    if f.mode:
        mode = f.mode
        checks.append(lambda row: row.category == mode)
    for column in ("entity_type", "entity_id", "job_id", "user_id", "project_id", "trace_id"):
        value = getattr(f, column)
        if value is not None:
            checks.append(lambda row, column=column, value=value: getattr(row, column) == value)
    if f.since is not None:
        since = f.since
        checks.append(lambda row: row.timestamp >= since)
    if f.until is not None:
        until = f.until
        checks.append(lambda row: row.timestamp < until)
    if f.search:
        # ILIKE '%text%' with the wildcards escaped: a case-insensitive substring test.
        needle = f.search.lower()
        checks.append(lambda row: needle in row.message.lower())
    if f.after_id is not None:
        after_id = f.after_id
        checks.append(lambda row: row.id is not None and row.id > after_id)
    # before_id is a history cursor; the live tail never sets it.
    return tuple(checks)


def entries_frame(encoded_entries: list[bytes]) -> bytes:
    return b"".join((b'{"type":"entries","entries":[', b",".join(encoded_entries), b"]}"))


# --- one client --------------------------------------------------------------------------------


@dataclasses.dataclass
class LiveStats:
    delivered: int = 0
    skipped: int = 0
    frames: int = 0


class LiveConnection:
    """One authenticated WebSocket client: its filter, its hub subscription and its sender task.

    All frames to the client go out under ``_send_lock``: the sender task writes entries, the
    receiving handler writes ``subscribed`` and ``error`` replies.
    """

    def __init__(self, connection_id: int, ws: web.WebSocketResponse, registry: "LiveRegistry", remote: str | None,
                 transport: asyncio.BaseTransport | None = None):  # fmt: skip
        self.id = connection_id
        self.ws = ws
        self.registry = registry
        self.remote = remote
        self._transport = transport
        self.principal: security.Principal | None = None
        self.scope: Scope | None = None
        self.matcher: EntryMatcher | None = None
        self.subscription: Subscription | None = None
        self.sender: asyncio.Task[None] | None = None
        self.stats = LiveStats()
        self.connected_at = time.monotonic()
        self.finished = asyncio.Event()  # set when the handler has fully ended
        # The hub already applied the filter to queued rows; after a filter or scope change the
        # rows queued before it must be checked again, until the queue has been drained once.
        self._recheck = False
        self._send_lock = asyncio.Lock()

    # --- frames --------------------------------------------------------------------------------

    async def send_json(self, message: dict[str, Any]) -> None:
        await self._send(json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode())

    async def _send(self, payload: bytes) -> None:
        async with self._send_lock:
            try:
                async with asyncio.timeout(self.registry.send_timeout_s):
                    await self.ws.send_frame(payload, WSMsgType.TEXT)
            except TimeoutError:
                # A client that stopped reading: a close frame would queue behind what it does
                # not read, so the socket is aborted, which frees its kernel buffers at once.
                log.info("live tail %d: the client did not read for %.0f s; disconnecting", self.id,
                         self.registry.send_timeout_s)  # fmt: skip
                self.abort()
                raise ConnectionResetError("the live-tail client stopped reading") from None

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    async def send_entries(self, rows: list[ActivityRow], share_key: object = None) -> None:
        """Entries in frames of bounded size; each entry's JSON was serialised once for all clients,
        and with a ``share_key`` the whole frame too (see ``LiveRegistry.shared_frame``)."""
        if share_key is not None and len(rows) <= FRAME_MAX_ENTRIES:
            frame = self.registry.shared_frame(share_key, rows)
            if frame is not None:
                await self._send(frame)
                self.stats.frames += 1
                self.stats.delivered += len(rows)
                return
        encoded = [row.json() for row in rows]
        size = sum(map(len, encoded))
        per_frame = len(encoded)
        if per_frame > FRAME_MAX_ENTRIES or size > FRAME_MAX_BYTES:
            per_frame = max(1, min(FRAME_MAX_ENTRIES, len(encoded) * FRAME_MAX_BYTES // max(size, 1)))
        for start in range(0, len(encoded), per_frame):
            chunk = encoded[start:start + per_frame]
            await self._send(entries_frame(chunk))
            self.stats.frames += 1
            self.stats.delivered += len(chunk)

    async def send_lagged(self, skipped: int) -> None:
        self.stats.skipped += skipped
        await self.send_json({"type": "lagged", "skipped": skipped})

    # --- subscription --------------------------------------------------------------------------

    async def subscribe(self, message: SubscribeMessage) -> None:
        """(Re)start the subscription: the old sender stops before the new one starts, so that
        frames of the two never interleave."""
        await self.stop_sender()
        fields = message.model_dump(include=set(FILTER_FIELDS))
        self.matcher = EntryMatcher(filter_from_fields(fields), self.scope or Scope(is_admin=False), self.registry.jobs)
        # Subscribe to the hub BEFORE reading history: a row committed meanwhile is then either in
        # the replay or in the subscription (or both, and the id check drops the second copy).
        self.subscription = self.registry.hub.subscribe(
            self.matcher, capacity=self.registry.queue_capacity, pending_owner=self.matcher.pending_owner
        )
        self._recheck = False
        await self.send_json({"type": "subscribed", "filter": describe_filter(self.matcher.log_filter)})
        self.sender = asyncio.create_task(
            self._run_sender(self.subscription, message.after_id), name=f"live-tail-sender-{self.id}"
        )

    async def update_filter(self, message: UpdateFilterMessage) -> None:
        if self.matcher is None or self.subscription is None:
            raise ValueError("subscribe first")
        changes = message.model_dump(exclude_unset=True, include=set(FILTER_FIELDS))
        log_filter = filter_from_fields(changes, self.matcher.log_filter)
        self._use(EntryMatcher(log_filter, self.matcher.scope, self.registry.jobs))
        await self.send_json({"type": "subscribed", "filter": describe_filter(self.matcher.log_filter)})

    async def stop_sender(self) -> None:
        if self.subscription is not None:
            self.subscription.close()
        if self.sender is not None:
            self.sender.cancel()
            try:
                await self.sender
            except asyncio.CancelledError:
                if asyncio.current_task().cancelling():  # type: ignore[union-attr]
                    raise
            except Exception:  # noqa: BLE001 - the sender logged it; the connection is closing anyway
                pass
        self.sender = None
        self.subscription = None

    async def _run_sender(self, subscription: Subscription, after_id: int | None) -> None:
        try:
            last_id = await self._replay(after_id) if after_id is not None else None
            while not subscription.closed:
                rows, skipped = await subscription.get(self.registry.queue_capacity)
                skipped += await self._visible_drops(subscription.take_dropped_pending())
                if last_id is not None:
                    rows = [row for row in rows if row.id is not None and row.id > last_id]
                    if rows and subscription.pending() == 0:
                        last_id = None  # every row from now on is newer than the replay
                recheck = self._recheck
                if recheck and subscription.pending() == 0:
                    self._recheck = False  # the rows queued under the previous filter or scope are out
                matcher, visible, withheld = await self._visible(rows, recheck)
                skipped += withheld
                # Unless a row was removed here, the batch is exactly the rows the shared
                # predicate selected between its first and last id: its frame can be shared.
                share_key = matcher.share_key if last_id is None and len(visible) == len(rows) else None
                rows = visible
                if skipped:
                    await self.send_lagged(skipped)
                if rows:
                    await self.send_entries(rows, share_key)
        except (ConnectionResetError, ConnectionError):
            pass  # the client went away; the handler notices and cleans up
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("live tail sender %d failed", self.id)
            await self.ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"internal error")

    async def _visible(self, rows: list[ActivityRow], recheck: bool) -> tuple[EntryMatcher, list[ActivityRow], int]:
        """The rows of a batch this client may receive, the matcher that decided, and how many were
        withheld because their job could not be looked up (reported to the client as skipped).

        Job-only rows are always decided here with their jobs' projects, whatever the hub admitted:
        a row admitted while its job was unknown must not be sent because another connection has
        since looked the job up. With ``recheck`` (a filter or scope change), every row is decided
        again. Should the filter or scope change during the lookup, the newest matcher decides."""
        jobs_failed = False
        while True:
            matcher = self.matcher
            assert matcher is not None
            recheck = recheck or self._recheck
            job_ids = matcher.job_ids_to_decide(rows)
            if not job_ids and not recheck:
                return matcher, rows, 0
            projects: Mapping[int, int | None] = {}
            if job_ids:
                try:
                    projects = await self.registry.jobs.lookup(job_ids)
                except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("live tail %d: cannot look up jobs, withholding their entries: %s", self.id, exc)
                    jobs_failed = True
            if matcher is self.matcher:
                break
        if recheck:
            visible = [row for row in rows if matcher.decide(row, projects)]
        else:
            visible = [row for row in rows if not is_job_only(row) or matcher.decide(row, projects)]
        withheld = sum(1 for row in rows if is_job_only(row) and row.job_id not in projects) if jobs_failed else 0
        return matcher, visible, withheld

    async def _visible_drops(self, dropped: Counter[int]) -> int:
        """How many of the job-only rows dropped from this client's queue it was allowed to see:
        only those are reported in ``lagged`` (the others belong to other projects' jobs)."""
        if not dropped or self.matcher is None:
            return 0
        try:
            projects = await self.registry.jobs.lookup(dropped)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return 0  # unknown: better not reported than reported to a client that may not see them
        matcher = self.matcher
        return sum(count for job_id, count in dropped.items() if job_id in projects and matcher.job_visible(projects[job_id]))

    async def _replay(self, after_id: int) -> int:
        """Send the stored entries after ``after_id`` (filter and scope applied in SQL), page by
        page; returns the last id sent. The pool connection is released before each send, so a slow
        client never holds one."""
        last_id = after_id
        matcher = self.matcher
        assert matcher is not None and self.scope is not None
        while True:
            page_filter = dataclasses.replace(matcher.log_filter, after_id=last_id)
            async with self.registry.pool.acquire() as conn:
                rows = await query_logs(conn, page_filter, self.scope, limit=REPLAY_PAGE_ROWS)
            if rows:
                await self.send_entries(rows)
                last_id = rows[-1].id  # type: ignore[assignment]
            if len(rows) < REPLAY_PAGE_ROWS:
                return last_id

    async def load_scope(self) -> None:
        assert self.principal is not None
        async with self.registry.pool.acquire() as conn:
            self.scope = await security.load_scope(conn, self.principal)

    def rescope(self, principal: security.Principal, scope: Scope) -> None:
        """The account changed (role, memberships): entries from now on, and those still queued,
        follow the new scope."""
        self.principal, self.scope = principal, scope
        if self.matcher is not None:
            self._use(EntryMatcher(self.matcher.log_filter, scope, self.registry.jobs))

    def _use(self, matcher: EntryMatcher) -> None:
        """A new filter or scope for a running subscription: the hub admits by it from now on, the
        sender decides by it (``self.matcher``, read for each batch), and the rows queued under the
        previous one are decided again."""
        self.matcher = matcher
        if self.subscription is not None:
            self.subscription.predicate = matcher
            self.subscription.pending_owner = matcher.pending_owner
            self._recheck = True

    async def end(self, reason: bytes) -> None:
        """Close with 1008 (policy violation): the account is gone or the token has expired."""
        await self.stop_sender()
        await _close_socket(self.ws, WSCloseCode.POLICY_VIOLATION, reason)


# --- all clients -------------------------------------------------------------------------------


class LiveRegistry:
    """Every open live-tail connection of the server, so that shutdown can close them all."""

    def __init__(self, *, queue_capacity: int, auth_timeout_s: float, allowed_origins: list[str],
                 recheck_s: float = 10.0, send_timeout_s: float = 10.0, tails_per_user: int = 20):  # fmt: skip
        self.queue_capacity = queue_capacity
        self.auth_timeout_s = auth_timeout_s
        self.recheck_s = recheck_s
        self.send_timeout_s = send_timeout_s
        self.tails_per_user = tails_per_user
        self.allowed_origins = {origin.rstrip("/").lower() for origin in allowed_origins}
        self.connections: dict[int, LiveConnection] = {}
        self.closing = True  # until ``attach``: connections arriving before start-up ends are refused
        self._ids = itertools.count(1)
        self._frames: dict[tuple[object, int | None, int | None, int], bytes] = {}
        self.hub: LiveHub
        self.pool: asyncpg.Pool
        self.jobs: JobProjects
        self.log_row: Callable[[ActivityRow], None]
        self.events: SecurityEvents

    def shared_frame(self, share_key: object, rows: list[ActivityRow]) -> bytes | None:
        """The ``entries`` frame of a batch, built once for every client whose batch it is too.

        Subscribers with the same ``share_key`` receive the same rows from each publish, and drops
        only ever remove the oldest, so (key, first id, last id, count) identifies the batch."""
        key = (share_key, rows[0].id, rows[-1].id, len(rows))
        frame = self._frames.get(key)
        if frame is None:
            encoded = [row.json() for row in rows]
            if sum(map(len, encoded)) > FRAME_MAX_BYTES:
                return None
            if len(self._frames) >= SHARED_FRAMES_KEPT:
                self._frames.clear()  # a cache of the latest batches; old ones are not asked for again
            frame = self._frames[key] = entries_frame(encoded)
        return frame

    def attach(self, hub: LiveHub, pool: asyncpg.Pool, log_row: Callable[[ActivityRow], None],
               events: SecurityEvents) -> None:  # fmt: skip
        """Bind what exists only once the server has started (the pool, the writer)."""
        self.hub, self.pool, self.log_row, self.events = hub, pool, log_row, events
        self.jobs = JobProjects(pool)
        self.closing = False

    def open(self, ws: web.WebSocketResponse, request: web.Request) -> LiveConnection:
        connection = LiveConnection(next(self._ids), ws, self, request.remote, request.transport)
        self.connections[connection.id] = connection
        return connection

    def tails_of(self, user_id: int) -> int:
        return sum(1 for c in self.connections.values() if c.principal is not None and c.principal.user_id == user_id)

    async def watch_accounts(self) -> None:
        """Until cancelled: every ``recheck_s`` (and at each token's expiry) re-read the accounts
        behind the open connections. A deleted account or an expired token is closed with 1008;
        a changed role or membership re-scopes the connection. The API reads the account on every
        request; this is the same rule for connections that last hours."""
        while True:
            await asyncio.sleep(self._next_check_in())
            try:
                await self.recheck_accounts()
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("live tail: cannot re-read accounts now: %s", exc)

    def _next_check_in(self) -> float:
        expiries = [c.principal.expires_at for c in self.connections.values()
                    if c.principal is not None and c.principal.expires_at is not None]  # fmt: skip
        delay = self.recheck_s
        if expiries:
            delay = min(delay, min(expiries) - time.time())
        return max(delay, 0.05)

    async def recheck_accounts(self) -> None:
        connections = [c for c in self.connections.values() if c.principal is not None and c.scope is not None]
        now = time.time()
        ending: list[tuple[LiveConnection, bytes]] = []
        current = []
        for connection in connections:
            expires_at = connection.principal.expires_at  # type: ignore[union-attr]
            if expires_at is not None and expires_at <= now:
                ending.append((connection, b"token expired; log in again"))
            else:
                current.append(connection)
        if current:
            user_ids = sorted({c.principal.user_id for c in current})  # type: ignore[union-attr]
            async with self.pool.acquire() as conn:
                accounts = {r["id"]: r for r in await conn.fetch(q("live_accounts"), user_ids)}
                memberships: dict[int, list[int]] = {}
                for record in await conn.fetch(q("live_memberships"), user_ids):
                    memberships.setdefault(record["user_id"], []).append(record["project_id"])
            for connection in current:
                principal = connection.principal
                assert principal is not None
                account = accounts.get(principal.user_id)
                if account is None:
                    ending.append((connection, b"account deleted"))
                    continue
                now_principal = dataclasses.replace(principal, email=account["email"], role=account["role"])
                scope = (Scope.admin() if now_principal.is_admin else
                         Scope(is_admin=False, user_id=principal.user_id, project_ids=memberships.get(principal.user_id, [])))  # fmt: skip
                if now_principal != principal or scope != connection.scope:
                    connection.rescope(now_principal, scope)
        await asyncio.gather(*(connection.end(reason) for connection, reason in ending))

    def forget(self, connection: LiveConnection) -> None:
        self.connections.pop(connection.id, None)

    def origin_allowed(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:
            return True  # not a browser (browsers always send Origin on WebSocket handshakes)
        origin = origin.rstrip("/").lower()
        if self.allowed_origins:
            return origin in self.allowed_origins
        host = request.host.lower()
        return origin in (f"http://{host}", f"https://{host}")

    async def close_all(self, code: int = WSCloseCode.GOING_AWAY) -> None:
        """Close every socket (1001 on shutdown) and wait until each handler has ended."""
        self.closing = True
        connections = list(self.connections.values())
        for connection in connections:
            await connection.stop_sender()
        await asyncio.gather(*(_close_socket(c.ws, code, b"server shutting down") for c in connections))
        for connection in connections:
            try:
                await asyncio.wait_for(connection.finished.wait(), CLOSE_TIMEOUT_S + 1)
            except TimeoutError:
                log.warning("live tail connection %d did not end in time", connection.id)


async def _close_socket(ws: web.WebSocketResponse, code: int, reason: bytes) -> None:
    try:
        await asyncio.wait_for(ws.close(code=code, message=reason), CLOSE_TIMEOUT_S)
    except (TimeoutError, ConnectionError):
        pass  # a client that does not answer the close frame is dropped by the transport


# --- the handler -------------------------------------------------------------------------------

REGISTRY = web.AppKey("live_registry", LiveRegistry)


def _event_row(level: str, message: str, principal: security.Principal | None, fields: dict[str, Any]) -> ActivityRow:
    return ActivityRow(
        timestamp=datetime.now(timezone.utc), level=level, source="api", message=message, category="verbose",
        fields=fields, user_id=principal.user_id if principal else None, service_name="activity-console",
        scope_name=__name__,
        severity_number={"info": 9, "warn": 13}.get(level, 9), severity_text=level.upper(),
    )  # fmt: skip


async def handle_live_tail(request: web.Request) -> web.WebSocketResponse:
    registry = request.app[REGISTRY]
    ws = web.WebSocketResponse(
        heartbeat=HEARTBEAT_S, max_msg_size=CLIENT_MESSAGE_MAX_BYTES, compress=False, timeout=CLOSE_TIMEOUT_S
    )
    await ws.prepare(request)
    if registry.closing:
        await _close_socket(ws, WSCloseCode.GOING_AWAY, b"server shutting down")
        return ws
    if not registry.origin_allowed(request):
        registry.events.record("refused_origin", request.remote, request.headers.get("Origin"))
        await _close_socket(ws, WSCloseCode.POLICY_VIOLATION, b"origin not allowed")
        return ws
    connection = registry.open(ws, request)
    try:
        if await _authenticate(connection, request.app):
            registry.log_row(
                _event_row("info", "live tail client connected", connection.principal, {
                    "connection_id": connection.id, "remote": connection.remote,
                    "email": connection.principal.email if connection.principal else None,
                })  # fmt: skip
            )
            try:
                await _serve_messages(connection)
            finally:
                await connection.stop_sender()
                registry.log_row(
                    _event_row("info", "live tail client disconnected", connection.principal, {
                        "connection_id": connection.id, "remote": connection.remote,
                        "duration_s": round(time.monotonic() - connection.connected_at, 3),
                        "delivered": connection.stats.delivered, "skipped": connection.stats.skipped,
                        "close_code": ws.close_code,
                    })  # fmt: skip
                )
    finally:
        registry.forget(connection)
        connection.finished.set()
    return ws


async def _authenticate(connection: LiveConnection, app: web.Application) -> bool:
    ws = connection.ws
    try:
        first = await ws.receive(timeout=connection.registry.auth_timeout_s)
    except TimeoutError:
        await _close_socket(ws, WSCloseCode.POLICY_VIOLATION, b"authentication timeout")
        return False
    if first.type is not WSMsgType.TEXT:
        if first.type not in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            await _close_socket(ws, WSCloseCode.POLICY_VIOLATION, b"authenticate first")
        return False
    try:
        message = parse_client_message(first.data)
        if not isinstance(message, AuthMessage):
            raise ValueError("the first message must be {action: auth}")
        principal = security.verify_token(app, message.token)
        connection.principal = await security.current_principal(connection.registry.pool, principal)
    except (ValueError, security.InvalidToken) as exc:
        connection.registry.events.record("live_auth_failed", connection.remote, str(exc))
        await _close_socket(ws, WSCloseCode.POLICY_VIOLATION, b"authentication failed")
        return False
    registry = connection.registry
    if registry.tails_of(connection.principal.user_id) > registry.tails_per_user:
        await _close_socket(ws, WSCloseCode.POLICY_VIOLATION,
                            f"at most {registry.tails_per_user} live tails per user".encode())  # fmt: skip
        return False
    await connection.load_scope()
    return True


async def _serve_messages(connection: LiveConnection) -> None:
    async for frame in connection.ws:
        if frame.type is WSMsgType.BINARY:
            await connection.send_json({"type": "error", "message": "send JSON text frames"})
            continue
        if frame.type is not WSMsgType.TEXT:
            break  # ERROR: the connection is gone (CLOSE ends the iteration by itself)
        try:
            message = parse_client_message(frame.data)
            if isinstance(message, AuthMessage):
                raise ValueError("already authenticated")
            if isinstance(message, SubscribeMessage):
                await connection.subscribe(message)
            else:
                await connection.update_filter(message)
        except ValueError as exc:
            await connection.send_json({"type": "error", "message": str(exc)})


# --- wiring ------------------------------------------------------------------------------------


def live_tail_ctx(runtime_key: web.AppKey) -> Callable[[web.Application], AsyncIterator[None]]:
    """The cleanup_ctx step: creates the registry once the pool and writer run; unwinding closes
    whatever is still open (``on_shutdown`` has normally closed everything already)."""

    async def live_tail(app: web.Application) -> AsyncIterator[None]:
        runtime = app[runtime_key]

        registry = app[REGISTRY]
        registry.attach(runtime.hub, runtime.pool, runtime.submit_server_row, app[SECURITY_EVENTS])
        try:
            async with background(registry.watch_accounts(), "live-tail-accounts"):
                yield
        finally:
            await registry.close_all()

    return live_tail


async def close_live_tail(app: web.Application) -> None:
    """``on_shutdown``: aiohttp waits for running handlers (up to its shutdown timeout) before
    cleanup_ctx unwinds, so the sockets must be closed here for shutdown to be prompt."""
    registry = app.get(REGISTRY)
    if registry is not None:
        await registry.close_all()


def setup(app: web.Application, runtime_key: web.AppKey) -> Callable[[web.Application], AsyncIterator[None]]:
    """Add the route, the registry and the shutdown hook; returns the cleanup_ctx step for
    ``create_app`` to place after the writer's."""
    settings = app[runtime_key].settings
    app[REGISTRY] = LiveRegistry(
        queue_capacity=settings.live_queue_capacity, auth_timeout_s=settings.live_auth_timeout_s,
        allowed_origins=settings.allowed_origins, recheck_s=settings.live_recheck_s,
        send_timeout_s=settings.live_send_timeout_s, tails_per_user=settings.live_tails_per_user,
    )  # fmt: skip
    app.router.add_get(PATH, handle_live_tail)
    app.on_shutdown.append(close_live_tail)
    return live_tail_ctx(runtime_key)
