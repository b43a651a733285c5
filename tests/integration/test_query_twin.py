"""The query language's two compilers agree: random queries over random entries stored in a real
PostgreSQL select the same ids in SQL (``collector.db.query_sql`` through ``where_clause``) as
in the live matcher (``api.live.query_match`` through ``EntryMatcher``), for an admin and for a
creator, on the rows as the live tail holds them (before storage) and as read back. Whatever the
query, a creator's result stays within their scope."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.live.matcher import EntryMatcher, JobProjects
from collector.contract import CATEGORIES, LEVEL_IDS, LEVELS, SOURCE_IDS, SOURCES
from collector.db.repository import LogFilter, Scope, query_logs
from collector.model import ActivityRow, format_timestamp
from collector.query import QueryError, parse_query

pytestmark = pytest.mark.timeout(300)

BASE = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
CREATOR = Scope(is_admin=False, user_id=1, project_ids=[1])
SCOPES = (Scope.admin(), CREATOR)
# Jobs of the creator's project (1), of a foreign one (2), of none (3); job 4 does not exist.
JOBS = {1: 1, 2: 2, 3: None}
# What JobProjects.lookup answers for them: an unknown job has no project.
JOB_PROJECTS = {**JOBS, 4: None}

ATTRIBUTE_KEYS = ("gpu", "http.status_code", "ok")
RESOURCE_KEYS = ("host.name", "gpu")
# Whole words, parts of words ("isk", "don"), words joined by punctuation, non-ASCII letters
# (which split words: "Éclair" holds the word "clair").
WORDS = ("disk", "FULL", "Disk full", "50%", "50%_done", "_", "\\", "oom", "a", "isk", "don", "clair", "disk-full",
         "oom2")
# Every kind of value an attribute holds: integers, floats, strings that spell numbers and
# booleans or not, booleans, null, arrays and maps.
VALUE_EXAMPLES = (
    -3, 0, 1, 2, 500, 503, 600, 0.5, 1.0, 2.5, -0.1, 1e16, 503.0, 0.1,
    "1", "01", "1.0", "true", "false", "abc", "ab", "Abc", "", "a b", "503",
    True, False, None, [1], {"a": 1},
)
ATTRIBUTE_VALUES = st.one_of(st.integers(-3, 600), st.sampled_from(VALUE_EXAMPLES))
IDS = st.one_of(st.none(), st.integers(1, 4))

ENTRIES = st.builds(
    dict,
    level=st.sampled_from(LEVELS),
    source=st.sampled_from(SOURCES),
    category=st.sampled_from(CATEGORIES),
    message=st.lists(st.sampled_from(WORDS + ("É", "Éclair", "done", "Disk-Full!", "xoom2")), max_size=4).map(" ".join),
    service_name=st.sampled_from([None, "render-worker", "Render", "api"]),
    entity_type=st.sampled_from([None, "scene", "job"]),
    entity_id=IDS,
    user_id=IDS,
    job_id=IDS,
    project_id=IDS,
    trace_id=st.sampled_from([None, "a" * 32, "ab" * 16]),
    scope_name=st.sampled_from([None, "lib", "lib.sub"]),
    admin_only=st.booleans(),
    seconds=st.integers(0, 100),
    fields=st.dictionaries(st.sampled_from(ATTRIBUTE_KEYS), ATTRIBUTE_VALUES, max_size=4),
    resource=st.dictionaries(st.sampled_from(RESOURCE_KEYS), ATTRIBUTE_VALUES, max_size=2),
)

_NUMBERS = ("1", "01", "1.0", "0.5", "-0.1", "500", "1e16", "503", "0", "-3")
_VALUES = _NUMBERS + ("true", "false", "abc", "ab*", "Ab*", "*", '"a b"', '""', '"1"', "5*")
TERMS = st.one_of(
    st.sampled_from(WORDS).map(lambda w: f'"{w}"' if " " in w else w),
    st.builds("{}:{}".format, st.sampled_from(ATTRIBUTE_KEYS), st.sampled_from(_VALUES)),
    st.builds("resource.{}:{}".format, st.sampled_from(RESOURCE_KEYS), st.sampled_from(_VALUES)),
    st.builds("{}{}{}".format, st.sampled_from(ATTRIBUTE_KEYS + tuple(f"resource.{k}" for k in RESOURCE_KEYS)),
              st.sampled_from([">", ">=", "<", "<="]), st.sampled_from(_NUMBERS)),
    st.builds("level{}{}".format, st.sampled_from([":", ">", ">=", "<", "<="]), st.sampled_from(LEVELS)),
    st.builds("{}:{}".format, st.sampled_from(["source", "mode", "category"]),
              st.sampled_from(SOURCES + CATEGORIES + ("w*", "c*"))),
    st.builds("{}{}{}".format, st.sampled_from(["project", "user", "job", "activity.entity.id"]),
              st.sampled_from([":", ">", ">=", "<", "<="]), st.sampled_from(["1", "2", "3", "4", "0"])),
    st.builds("{}:{}".format, st.sampled_from(["project", "user", "job", "service", "entity", "trace", "scope.name"]),
              st.just("*")),
    st.builds("service:{}".format, st.sampled_from(["render-worker", "Render*", "render*", "api", '"Render"'])),
    st.builds("entity:{}".format, st.sampled_from(["scene", "job", "sc*"])),
    st.builds("trace:{}".format, st.sampled_from(["a" * 32, "AB*", "ab" * 16])),
    st.builds("scope.name:{}".format, st.sampled_from(["lib", "lib*", "lib.sub"])),
    st.builds("time{}{}".format, st.sampled_from([">", ">=", "<", "<="]),
              st.integers(0, 100).map(lambda s: format_timestamp(BASE + timedelta(seconds=s)))),
)
QUERIES = st.recursive(
    TERMS,
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=3).map(" ".join),
        st.lists(inner, min_size=2, max_size=3).map(" OR ".join),
        st.lists(inner, min_size=2, max_size=3).map(" AND ".join),
        inner.map("({})".format),
        inner.map("-({})".format),
        inner.map("NOT {}".format),
        TERMS.map("-{}".format),
    ),
    max_leaves=8,
)


def _rows(entries: list[dict]) -> list[ActivityRow]:
    rows = []
    for entry in entries:
        values = dict(entry)
        seconds = values.pop("seconds")
        rows.append(ActivityRow(timestamp=BASE + timedelta(seconds=seconds), **values))
    return rows


async def _insert(conn, row: ActivityRow) -> int:
    return await conn.fetchval(
        """INSERT INTO activity_logs (timestamp, level_id, source_id, message, category, service_name, entity_type,
               entity_id, user_id, job_id, project_id, trace_id, scope_name, admin_only, fields, resource)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id""",
        row.timestamp, LEVEL_IDS[row.level], SOURCE_IDS[row.source], row.message, row.category, row.service_name,
        row.entity_type, row.entity_id, row.user_id, row.job_id, row.project_id, row.trace_id, row.scope_name,
        row.admin_only, row.fields, row.resource,
    )  # fmt: skip


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(entries=st.lists(ENTRIES, min_size=1, max_size=12), queries=st.lists(QUERIES, min_size=1, max_size=4))
async def test_sql_and_live_matcher_select_the_same_entries(db, entries, queries):
    rows = _rows(entries)
    jobs = JobProjects(None)  # type: ignore[arg-type]  # decide() is given the jobs' projects
    transaction = db.transaction()
    await transaction.start()
    try:
        await db.execute("INSERT INTO projects (id, name) VALUES (1, 'mine'), (2, 'foreign')")
        await db.executemany("INSERT INTO jobs (id, project_id) VALUES ($1, $2)", list(JOBS.items()))
        for row in rows:
            row.id = await _insert(db, row)
        stored = await query_logs(db, LogFilter(after_id=0), Scope.admin(), limit=100, shortened=False)
        assert [r.id for r in stored] == [r.id for r in rows]
        visible = {r.id for r in await query_logs(db, LogFilter(after_id=0), CREATOR, limit=100)}
        for text in queries:
            try:
                parse_query(text)
            except QueryError:
                continue  # only nesting beyond the limit: valid terms are generated
            for scope in SCOPES:
                log_filter = LogFilter(q=text)
                sql_ids = [r.id for r in await query_logs(db, LogFilter(q=text, after_id=0), scope, limit=100)]
                matcher = EntryMatcher(log_filter, scope, jobs)
                for candidates in (rows, stored):
                    live_ids = [r.id for r in candidates if matcher.decide(r, JOB_PROJECTS)]
                    assert live_ids == sql_ids, (text, scope, candidates is rows)
                    # The hub's admission never refuses what the exact rule lets through.
                    assert set(live_ids) <= {r.id for r in candidates if matcher(r)}
                if not scope.is_admin:
                    assert set(sql_ids) <= visible, text
    finally:
        await transaction.rollback()


async def test_every_attribute_term_over_every_kind_of_value(db):
    """Exhaustively, what the random test may rarely draw: each attribute term, and its negation,
    over one entry per kind of value, in fields and in the resource."""
    rows = [ActivityRow(timestamp=BASE, level="info", source="worker", message="m", fields={"gpu": value},
                       resource={"gpu": value}) for value in VALUE_EXAMPLES]  # fmt: skip
    rows.append(ActivityRow(timestamp=BASE, level="info", source="worker", message="without"))
    terms = [f"{key}:{value}" for key in ("gpu", "resource.gpu") for value in _VALUES]
    terms += [f"{key}{op}{number}" for key in ("gpu", "resource.gpu") for op in (">", ">=", "<", "<=")
              for number in _NUMBERS]  # fmt: skip
    jobs = JobProjects(None)  # type: ignore[arg-type]
    transaction = db.transaction()
    await transaction.start()
    try:
        for row in rows:
            row.id = await _insert(db, row)
        stored = await query_logs(db, LogFilter(after_id=0), Scope.admin(), limit=100, shortened=False)
        selected = 0
        for text in terms + [f"-{term}" for term in terms]:
            sql_ids = [r.id for r in await query_logs(db, LogFilter(q=text, after_id=0), Scope.admin(), limit=100)]
            matcher = EntryMatcher(LogFilter(q=text), Scope.admin(), jobs)
            for candidates in (rows, stored):
                assert [r.id for r in candidates if matcher.decide(r, {})] == sql_ids, (text, candidates is rows)
            selected += len(sql_ids)
        assert selected > len(terms)  # not all empty
    finally:
        await transaction.rollback()


# Free text against the messages that tell a whole word from a part of one.
TEXT_MESSAGES = ("done", "Éclair", "disk-full", "Disk full!", "xoom2", "oom2 at 50%_done", "DONE.", "don't")
TEXT_TERMS = {
    "don": {"don't"}, "done": {"done", "DONE.", "oom2 at 50%_done"}, "clair": {"Éclair"}, "disk": {"disk-full", "Disk full!"},
    "oom2": {"oom2 at 50%_done"}, '"disk full"': {"Disk full!"}, "disk-full": {"disk-full"}, "50%": {"oom2 at 50%_done"},
    "_done": {"oom2 at 50%_done"}, "t": {"don't"}, "É": {"Éclair"},
}  # fmt: skip


async def test_free_text_matches_whole_words_in_sql_and_live(db):
    """What each free-text term selects, written out: the substring, and each of its words as a
    whole word (runs of ASCII letters and digits); the same in SQL and in the live matcher."""
    rows = [ActivityRow(timestamp=BASE, level="info", source="worker", message=message) for message in TEXT_MESSAGES]
    jobs = JobProjects(None)  # type: ignore[arg-type]
    transaction = db.transaction()
    await transaction.start()
    try:
        for row in rows:
            row.id = await _insert(db, row)
        for text, expected in TEXT_TERMS.items():
            sql = {r.message for r in await query_logs(db, LogFilter(q=text, after_id=0), Scope.admin(), limit=100)}
            matcher = EntryMatcher(LogFilter(q=text), Scope.admin(), jobs)
            assert sql == expected, text
            assert {r.message for r in rows if matcher.decide(r, {})} == expected, text
    finally:
        await transaction.rollback()
