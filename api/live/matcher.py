"""Which entries a live-tail client receives: ``EntryMatcher``, the in-process twin of
``collector.db.repository.where_clause``.

Filters mean exactly what they mean in the REST API: every condition ``where_clause`` builds from a
``LogFilter`` has its check here (an empty ``levels`` or ``sources`` list means "any", as in SQL),
and so does the creator scope, including entries that carry only a job id, which are scoped through
their job's project (``JobProjects``). Change the two together:
``tests/integration/test_live_ws.py::test_entry_matcher_agrees_with_sql`` compares them row by row.
A query (``q``) is compiled by ``api.live.query_match``, the twin of ``collector.db.query_sql``
(``tests/integration/test_query_twin.py``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any, Callable, Hashable, Iterable, Mapping

import asyncpg

from api.live.query_match import compile_query, reads_attributes
from collector.db.queries import q
from collector.db.repository import LogFilter, Scope
from collector.model import ActivityRow
from collector.query import parse_query


class JobProjects:
    """Job id → project id, for scoping entries that carry only a job id (the SQL joins ``jobs``).

    ``lookup`` answers for every id it is asked about, from the cache when fresh (``ttl_s``, so a
    job moved to another project is seen within that time) and with one query for the rest.
    Concurrent lookups are serialised so that many clients receiving the same rows cost one query.
    Callers decide with the mapping ``lookup`` returns, never with a later read of the cache: the
    cache may be cleared or expire between two awaits.
    """

    def __init__(self, pool: asyncpg.Pool, *, ttl_s: float = 30.0, max_entries: int = 100_000):
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
    - ``__call__`` is the hub's predicate (``collector.hub.RowMatcher``). It runs inside ``LiveHub.publish`` for every row and
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
        # The hub keeps fields and resource on live rows only while some subscriber reads them.
        self.reads_attributes = bool(log_filter.q) and reads_attributes(parse_query(log_filter.q))
        # Matchers with equal keys select the same rows: the hub evaluates one per batch for all.
        self.share_key: Hashable | None = (
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
    if f.q:
        query = parse_query(f.q)
        if query is not None:
            checks.append(compile_query(query))
    if f.after_id is not None:
        after_id = f.after_id
        checks.append(lambda row: row.id is not None and row.id > after_id)
    if f.through_id is not None:
        through_id = f.through_id
        checks.append(lambda row: row.id is not None and row.id <= through_id)
    # before_id is a history cursor; the live tail never sets it.
    return tuple(checks)
