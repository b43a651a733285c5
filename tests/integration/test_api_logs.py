"""REST reads of activity_logs: envelope and pagination, filters,
cursor form, search with SQL/LIKE metacharacters, export, context, trace, histogram, and the
creator's scope through every one of them; the admin settings and the manual purge."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
import pytest

from api.security import Principal
from api import logs as logs_module
from collector.db.repository import LEVEL_IDS, SOURCE_IDS, LogFilter, Scope, count_logs
from collector.model import format_timestamp
from tests.support.api import NOW, call, make_project, make_user, row, store

pytestmark = pytest.mark.timeout(60)

TRACE = "0af7651916cd43dd8448eb211c80319c"
OTHER_TRACE = "1bf7651916cd43dd8448eb211c80319d"


@dataclass
class World:
    admin: Principal
    creator: Principal
    other: Principal
    p1: int
    p2: int
    visible: set[str]  # messages the creator may see
    hidden: set[str]  # messages only an admin sees
    ids: dict[str, int]

    @property
    def everything(self) -> set[str]:
        return self.visible | self.hidden


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def world(server, db) -> World:
    p1, p2 = await make_project(db, "mine"), await make_project(db, "theirs")
    creator = await make_user(db, "creator@example.com", project_ids=(p1,))
    other = await make_user(db, "other@example.com", project_ids=(p2,))
    admin = await make_user(db, "admin@example.com", "admin")
    job_mine = await db.fetchval("INSERT INTO jobs (project_id, name) VALUES ($1, 'mine') RETURNING id", p1)
    job_theirs = await db.fetchval("INSERT INTO jobs (project_id, name) VALUES ($1, 'theirs') RETURNING id", p2)
    unknown_job = job_theirs + 1000
    visible_rows = [
        row("own entry", user_id=creator.user_id, level="info", category="curated", minutes_ago=10),
        row("my project", project_id=p1, level="warn", source="api", minutes_ago=9,
            entity_type="scene", entity_id=7),
        row("system entry", level="debug", source="comfyui", minutes_ago=8),
        row("job in my project", job_id=job_mine, level="error", minutes_ago=7),
        row("job nobody knows", job_id=unknown_job, level="info", source="agent", minutes_ago=6),
        row("trace start", trace_id=TRACE, span_id="00f067aa0ba902b7", project_id=p1, minutes_ago=5),
        row("trace end", trace_id=TRACE, span_id="00f067aa0ba902b8", minutes_ago=3),
    ]  # fmt: skip
    hidden_rows = [
        row("their project", project_id=p2, level="error", minutes_ago=9.5),
        row("job in their project", job_id=job_theirs, level="info", minutes_ago=6.5),
        row("their user", user_id=other.user_id, level="warn", category="curated", minutes_ago=5.5),
        row("trace middle", trace_id=TRACE, span_id="00f067aa0ba902b9", project_id=p2, minutes_ago=4),
        row("other trace", trace_id=OTHER_TRACE, project_id=p2, minutes_ago=2),
    ]
    stored = await store(server, visible_rows + hidden_rows)
    return World(
        admin=admin, creator=creator, other=other, p1=p1, p2=p2,
        visible={r.message for r in visible_rows}, hidden={r.message for r in hidden_rows},
        ids={r.message: r.id for r in stored},
    )  # fmt: skip


def messages(body) -> list[str]:
    return [entry["message"] for entry in body["data"]]


async def list_messages(session, server, who, params) -> list[str]:
    status, body, _ = await call(session, server, "GET", "/api/v1/activity-logs", who, params=params)
    assert status == 200, body
    return messages(body)


async def test_paginated_envelope_newest_first(server, session, world):
    status, body, _ = await call(session, server, "GET", "/api/v1/activity-logs", world.admin)
    assert status == 200
    assert body["meta"] == {"page": 1, "per_page": 25, "total": 12, "total_exact": True}
    timestamps = [entry["timestamp"] for entry in body["data"]]
    assert timestamps == sorted(timestamps, reverse=True)
    assert set(messages(body)) == world.everything
    entry = body["data"][0]
    assert entry["message"] == "other trace" and entry["level"] == "info" and entry["source"] == "worker"
    assert entry["id"] == world.ids["other trace"] and entry["trace_id"] == OTHER_TRACE

    pages = []
    for page in (1, 2, 3, 4):
        status, body, _ = await call(session, server, "GET", "/api/v1/activity-logs", world.admin,
                                     params={"page": page, "per_page": 5})  # fmt: skip
        assert body["meta"] == {"page": page, "per_page": 5, "total": 12, "total_exact": True}
        pages.append(messages(body))
    assert [len(p) for p in pages] == [5, 5, 2, 0]
    assert sum(pages, []) == messages((await call(session, server, "GET", "/api/v1/activity-logs", world.admin))[1])

    for bad in ({"per_page": 101}, {"per_page": 0}, {"page": 0}, {"page": "x"}, {"page": 100_000, "per_page": 100}):
        status, body, _ = await call(session, server, "GET", "/api/v1/activity-logs", world.admin, params=bad)
        assert status == 400 and body["error"]["code"] == "bad_request", bad


async def test_total_is_capped(server, session, world, monkeypatch):
    monkeypatch.setattr(logs_module, "COUNT_CAP", 11)
    status, body, _ = await call(session, server, "GET", "/api/v1/activity-logs", world.admin, params={"per_page": 2})
    assert body["meta"] == {"page": 1, "per_page": 2, "total": 11, "total_exact": False}
    status, body, _ = await call(session, server, "GET", "/api/v1/activity-logs", world.creator, params={"per_page": 2})
    assert body["meta"] == {"page": 1, "per_page": 2, "total": 7, "total_exact": True}


async def test_a_slow_total_gives_way_to_the_page(server, session, db, world, monkeypatch):
    """A count that overruns its time budget does not hold the page back: the total becomes a
    lower bound (what is known, plus one when the page is full) marked inexact."""
    await db.execute(
        "INSERT INTO activity_logs (timestamp, level_id, source_id, message) "
        "SELECT now() - g * interval '1 ms', 2, 1, 'bulk ' || g FROM generate_series(1, 300000) g"
    )
    async with server.runtime.pool.acquire() as conn:
        assert await count_logs(conn, LogFilter(search="bulk"), Scope.admin(), cap=500_000, timeout_ms=1) is None
        assert await count_logs(conn, LogFilter(search="bulk"), Scope.admin(), cap=500_000) == 300_000
    monkeypatch.setattr(logs_module, "COUNT_TIMEOUT_MS", 1)
    monkeypatch.setattr(logs_module, "COUNT_CAP", 500_000)
    status, body, _ = await call(session, server, "GET", "/api/v1/activity-logs", world.admin,
                                 params={"search": "bulk", "per_page": 10, "page": 3})  # fmt: skip
    assert status == 200 and len(body["data"]) == 10
    assert body["meta"] == {"page": 3, "per_page": 10, "total": 31, "total_exact": False}


async def test_lookup_ids_match_the_database(db):
    assert {r["name"]: r["id"] for r in await db.fetch("SELECT id, name FROM activity_log_levels")} == LEVEL_IDS
    assert {r["name"]: r["id"] for r in await db.fetch("SELECT id, name FROM activity_log_sources")} == SOURCE_IDS


async def test_filters_return_the_right_subsets(server, session, world):
    admin = world.admin
    cases = [
        ([("level", "error")], {"job in my project", "their project"}),
        ([("level", "error"), ("level", "debug")], {"job in my project", "their project", "system entry"}),
        ([("level", "error,debug")], {"job in my project", "their project", "system entry"}),
        ([("source", "api,comfyui")], {"my project", "system entry"}),
        ([("source", "agent"), ("level", "info")], {"job nobody knows"}),
        ([("mode", "curated")], {"own entry", "their user"}),
        ([("mode", "curated"), ("level", "warn")], {"their user"}),
        ([("entity_type", "scene"), ("entity_id", "7")], {"my project"}),
        ([("project_id", str(world.p2))], {"their project", "trace middle", "other trace"}),
        ([("user_id", str(world.creator.user_id))], {"own entry"}),
        ([("trace_id", TRACE.upper())], {"trace start", "trace middle", "trace end"}),
        ([("from", format_timestamp(NOW - timedelta(minutes=4))), ("to", format_timestamp(NOW - timedelta(minutes=2)))],
         {"trace middle", "trace end"}),
        ([("from", (NOW - timedelta(minutes=3)).isoformat())], {"trace end", "other trace"}),
    ]  # fmt: skip
    for params, expected in cases:
        assert set(await list_messages(session, server, admin, params)) == expected, params
    job_id = (await call(session, server, "GET", "/api/v1/activity-logs", admin,
                         params={"search": "job in my project"}))[1]["data"][0]["job_id"]  # fmt: skip
    assert set(await list_messages(session, server, admin, {"job_id": job_id})) == {"job in my project"}

    bad_params = [
        {"level": "fatal"}, {"level": "info,nope"}, {"source": "kernel"}, {"mode": "everything"},
        {"from": "yesterday"}, {"to": "2026-13-45T00:00:00Z"}, {"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        {"trace_id": "xyz"}, {"entity_id": "seven"}, {"levels": "info"}, {"search": "a\x00b"},
        {"before_id": "1", "after_id": "2"},
    ]  # fmt: skip
    for params in bad_params:
        status, body, _ = await call(session, server, "GET", "/api/v1/activity-logs", admin, params=params)
        assert status == 400 and body["error"]["code"] == "bad_request" and body["error"]["message"], params


async def test_search_escapes_like_and_sql_metacharacters(server, session, world):
    texts = ["100% done", "1000 done", "file_name", "fileXname", "it's here", "its here", "back\\slash",
             "backslash", "a\\%b", "a%b", "'); DROP TABLE activity_logs; --"]  # fmt: skip
    await store(server, [row(text) for text in texts])
    admin = world.admin
    expectations = {
        "%": {"100% done", "a\\%b", "a%b"},
        "0%": {"100% done"},
        "_": {"file_name", "'); DROP TABLE activity_logs; --"},
        "e_n": {"file_name"},
        "'": {"it's here", "'); DROP TABLE activity_logs; --"},
        "\\": {"back\\slash", "a\\%b"},
        "\\%": {"a\\%b"},
        "DROP TABLE": {"'); DROP TABLE activity_logs; --"},
        "FILE_NAME": {"file_name"},  # case-insensitive
    }
    for search, expected in expectations.items():
        assert set(await list_messages(session, server, admin, {"search": search})) == expected, search
    status, body, _ = await call(session, server, "GET", "/api/v1/activity-logs", admin, params={"per_page": 1})
    assert body["meta"]["total"] == 12 + len(texts)  # the table is still there


async def test_cursor_form(server, session, world):
    admin = world.admin
    all_newest_first = await list_messages(session, server, admin, {"per_page": 100})
    seen, before_id = [], None
    while True:
        params = {"per_page": 5, **({"before_id": before_id} if before_id else {"before_id": 2**62})}
        status, body, _ = await call(session, server, "GET", "/api/v1/activity-logs", admin, params=params)
        assert status == 200, body
        seen += messages(body)
        before_id = body["meta"]["next_before_id"]
        if not body["meta"]["has_more"]:
            assert before_id is None
            break
    # before_id of an id that does not exist returns nothing rather than everything.
    assert seen == []
    first = await call(session, server, "GET", "/api/v1/activity-logs", admin, params={"per_page": 5})
    before_id = first[1]["data"][-1]["id"]
    seen = messages(first[1])
    while before_id is not None:
        body = (await call(session, server, "GET", "/api/v1/activity-logs", admin,
                           params={"per_page": 5, "before_id": before_id}))[1]  # fmt: skip
        seen += messages(body)
        before_id = body["meta"]["next_before_id"]
    assert seen == all_newest_first

    # after_id: committed after the id, in commit order, resumable without gap or duplicate.
    ids = sorted(world.ids.values())
    body = (await call(session, server, "GET", "/api/v1/activity-logs", admin,
                       params={"after_id": ids[3], "per_page": 4}))[1]  # fmt: skip
    assert [e["id"] for e in body["data"]] == ids[4:8] and body["meta"]["has_more"]
    body = (await call(session, server, "GET", "/api/v1/activity-logs", admin,
                       params={"after_id": body["meta"]["next_after_id"], "per_page": 4}))[1]  # fmt: skip
    assert [e["id"] for e in body["data"]] == ids[8:12] and not body["meta"]["has_more"]
    status, body, _ = await call(session, server, "GET", "/api/v1/activity-logs", admin,
                                 params={"after_id": ids[0], "page": 2})  # fmt: skip
    assert status == 400


async def test_creator_scope_in_every_read_path(server, session, world):
    creator, admin = world.creator, world.admin
    # List (and its total), also through the cursor form.
    for who, expected in ((creator, world.visible), (admin, world.everything)):
        status, body, _ = await call(session, server, "GET", "/api/v1/activity-logs", who)
        assert set(messages(body)) == expected and body["meta"]["total"] == len(expected)
        assert set(await list_messages(session, server, who, {"after_id": 0, "per_page": 100})) == expected
    # A creator's explicit filter for another project still returns nothing of it.
    assert await list_messages(session, server, creator, {"project_id": world.p2}) == []

    # Export, both formats.
    for who, expected in ((creator, world.visible), (admin, world.everything)):
        status, text, headers = await call(session, server, "GET", "/api/v1/activity-logs/export", who)
        assert status == 200
        exported = [json.loads(line) for line in text.splitlines()]
        assert {e["message"] for e in exported} == expected
        status, text, _ = await call(session, server, "GET", "/api/v1/activity-logs/export", who, params={"format": "text"})
        assert len(text.splitlines()) == len(expected)
        assert not any(message in text for message in (world.everything - expected))

    # Context: around a visible entry, the hidden neighbours are skipped; a hidden anchor is a 404.
    anchor = world.ids["job in my project"]
    status, body, _ = await call(session, server, "GET", f"/api/v1/activity-logs/{anchor}/context", creator,
                                 params={"before": 2, "after": 2})  # fmt: skip
    assert status == 200
    assert messages(body) == ["my project", "system entry", "job in my project", "job nobody knows", "trace start"]
    assert body["meta"] == {"anchor_id": anchor, "before": 2, "after": 2}
    status, body, _ = await call(session, server, "GET", f"/api/v1/activity-logs/{anchor}/context", admin,
                                 params={"before": 2, "after": 2})  # fmt: skip
    assert messages(body) == ["my project", "system entry", "job in my project", "job in their project",
                              "job nobody knows"]  # fmt: skip
    for hidden in world.hidden:
        status, body, _ = await call(session, server, "GET", f"/api/v1/activity-logs/{world.ids[hidden]}/context", creator)
        assert status == 404 and body["error"]["code"] == "not_found", hidden

    # Trace: oldest first, with span ids; the creator does not see the other project's span.
    status, body, _ = await call(session, server, "GET", f"/api/v1/traces/{TRACE}", creator)
    assert messages(body) == ["trace start", "trace end"]
    assert [e["span_id"] for e in body["data"]] == ["00f067aa0ba902b7", "00f067aa0ba902b8"]
    status, body, _ = await call(session, server, "GET", f"/api/v1/traces/{TRACE}", admin)
    assert messages(body) == ["trace start", "trace middle", "trace end"]
    assert body["meta"] == {"trace_id": TRACE, "count": 3, "truncated": False}
    status, body, _ = await call(session, server, "GET", f"/api/v1/traces/{OTHER_TRACE}", creator)
    assert status == 200 and body["data"] == []

    # Histogram: totals per level follow the scope.
    params = {"from": format_timestamp(NOW - timedelta(minutes=20)), "to": format_timestamp(NOW + timedelta(minutes=1)),
              "buckets": 21}  # fmt: skip
    for who, expected in ((creator, world.visible), (admin, world.everything)):
        status, body, _ = await call(session, server, "GET", "/api/v1/activity-logs/histogram", who, params=params)
        assert status == 200 and len(body["data"]) == 21
        assert sum(bucket["total"] for bucket in body["data"]) == len(expected)
    status, body, _ = await call(session, server, "GET", "/api/v1/activity-logs/histogram", creator, params=params)
    errors = sum(bucket["counts"]["error"] for bucket in body["data"])
    assert errors == 1  # "job in my project"; not "their project"


async def test_histogram_buckets(server, session, world):
    params = {"from": format_timestamp(NOW - timedelta(minutes=10)), "to": format_timestamp(NOW),
              "buckets": 10, "level": "info,error"}  # fmt: skip
    status, body, _ = await call(session, server, "GET", "/api/v1/activity-logs/histogram", world.admin, params=params)
    assert status == 200
    assert body["meta"]["bucket_seconds"] == 60.0 and body["meta"]["buckets"] == 10
    by_start = {b["start"]: b for b in body["data"]}
    # "own entry" is exactly 10 minutes ago (first bucket), "their project" 9.5 (still the first).
    first = by_start[format_timestamp(NOW - timedelta(minutes=10))]
    assert first["counts"] == {"debug": 0, "info": 1, "warn": 0, "error": 1} and first["total"] == 2
    # Entries at "to" and later are outside [from, to).
    assert sum(b["total"] for b in body["data"]) == 9
    for bad in ({"buckets": 0}, {"buckets": 1001}, {"from": "x"}, {"from": format_timestamp(NOW), "to": format_timestamp(NOW)}):
        status, _, _ = await call(session, server, "GET", "/api/v1/activity-logs/histogram", world.admin, params=bad)
        assert status == 400, bad


async def test_export_formats_and_headers(server, session, world):
    await store(server, [row("multi\nline", fields={"path": "a b", "n": 3}, entity_type="scene", entity_id=1,
                             minutes_ago=-1)])  # fmt: skip
    async with session.get(server.api_url + "/api/v1/activity-logs/export",
                           headers=auth_header(server, world.admin)) as response:  # fmt: skip
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/x-ndjson"
        assert response.headers["Content-Disposition"].startswith('attachment; filename="activity-logs-')
        assert response.headers["Content-Disposition"].endswith('.ndjson"')
        lines = (await response.text()).splitlines()
    entries = [json.loads(line) for line in lines]
    assert len(entries) == 13
    timestamps = [e["timestamp"] for e in entries]
    assert timestamps == sorted(timestamps)  # oldest first, like a log file
    assert entries[-1]["message"] == "multi\nline" and entries[-1]["fields"] == {"path": "a b", "n": 3}

    async with session.get(server.api_url + "/api/v1/activity-logs/export", params={"format": "text", "level": "debug,info"},
                           headers=auth_header(server, world.admin)) as response:  # fmt: skip
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert response.headers["Content-Disposition"].endswith('.log"')
        lines = (await response.text()).splitlines()
    assert len(lines) == 9
    last = lines[-1]
    assert last.startswith(format_timestamp(NOW + timedelta(minutes=1)) + " info worker multi\\nline id=")
    assert 'entity=scene:1' in last and 'path="a b"' in last and "n=3" in last

    status, body, _ = await call(session, server, "GET", "/api/v1/activity-logs/export", world.admin,
                                 params={"format": "xml"})  # fmt: skip
    assert status == 400 and body["error"]["code"] == "bad_request"
    status, body, _ = await call(session, server, "GET", "/api/v1/activity-logs/export", None)
    assert status == 401


def auth_header(server, principal):
    from tests.support.api import auth

    return auth(server, principal)


async def test_export_streams_many_rows(server, session, world):
    many = [row(f"bulk {i}", minutes_ago=60 + i / 1000) for i in range(5000)]
    await store(server, many)
    count = 0
    async with session.get(server.api_url + "/api/v1/activity-logs/export", params={"search": "bulk"},
                           headers=auth_header(server, world.admin)) as response:  # fmt: skip
        assert response.headers.get("Transfer-Encoding") == "chunked"
        async for _ in response.content:
            count += 1
    assert count == 5000


async def test_settings_admin_only_and_minimums(server, session, world):
    path = "/api/v1/admin/activity-logs/settings"
    for method, body in (("GET", None), ("PUT", {"retention_days_info": 10})):
        status, answer, _ = await call(session, server, method, path, world.creator, json=body)
        assert status == 403 and answer["error"]["code"] == "forbidden"
    status, settings, _ = await call(session, server, "GET", path, world.admin)
    assert status == 200
    assert {k: settings[k] for k in ("retention_days_debug", "retention_days_info", "retention_days_warn",
                                     "retention_days_error")} == {  # fmt: skip
        "retention_days_debug": 7, "retention_days_info": 30, "retention_days_warn": 30, "retention_days_error": 90}

    for bad in ({"retention_days_debug": 0}, {"retention_days_error": 6}, {"retention_days_info": -1},
                {"batch_size": 0}, {"batch_size": 10_001}, {"flush_interval_ms": 5}, {"flush_interval_ms": 60_001},
                {"retention_days_debug": None}, {"retention_days_debug": "seven"}, {"unknown": 1}, {}):  # fmt: skip
        status, answer, _ = await call(session, server, "PUT", path, world.admin, json=bad)
        assert status == 400 and answer["error"]["code"] == "bad_request", bad
    status, unchanged, _ = await call(session, server, "GET", path, world.admin)
    assert unchanged == settings

    status, updated, _ = await call(session, server, "PUT", path, world.admin,
                                    json={"retention_days_debug": 1, "retention_days_error": 7, "batch_size": 250,
                                          "flush_interval_ms": 200})  # fmt: skip
    assert status == 200
    assert updated["retention_days_debug"] == 1 and updated["retention_days_error"] == 7
    assert updated["retention_days_info"] == 30  # partial update keeps the rest
    writer = server.runtime.writer
    assert writer.batch_size == 250 and writer.flush_interval == 0.2  # applied without a restart


async def test_purge_admin_only_and_exact(server, session, world, db):
    path = "/api/v1/admin/activity-logs"
    before = format_timestamp(NOW - timedelta(minutes=6))
    status, body, _ = await call(session, server, "DELETE", path, world.creator, params={"before": before})
    assert status == 403
    assert await db.fetchval("SELECT count(*) FROM activity_logs") == 12  # nothing deleted

    # info entries older than 6 minutes: "own entry" (10), "job in their project" (6.5).
    status, body, _ = await call(session, server, "DELETE", path, world.admin, params={"before": before, "level": "info"})
    assert status == 200 and body["deleted"] == 2 and body["by_level"] == {"info": 2}
    assert await count_logs(db, LogFilter(until=NOW - timedelta(minutes=6)), Scope.admin()) == 4
    status, body, _ = await call(session, server, "DELETE", path, world.admin, params={"before": before})
    assert status == 200 and body["deleted"] == 4
    assert body["by_level"] == {"debug": 1, "info": 0, "warn": 1, "error": 2}
    assert await count_logs(db, LogFilter(until=NOW - timedelta(minutes=6)), Scope.admin()) == 0
    # Nothing at or after the cutoff was touched.
    assert await count_logs(db, LogFilter(since=NOW - timedelta(minutes=6), until=NOW), Scope.admin()) == 6
    for bad in ({}, {"before": "soon"}, {"before": before, "level": "loud"}):
        status, _, _ = await call(session, server, "DELETE", path, world.admin, params=bad)
        assert status == 400, bad


async def test_openapi_document_describes_every_route(server, session):
    status, document, _ = await call(session, server, "GET", "/api/v1/openapi.json")
    assert status == 200 and document["openapi"].startswith("3.1")
    described = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    registered = set()
    for resource in server.app.router.resources():
        info = resource.get_info()
        path = info.get("path") or info.get("formatter")
        if not path or not path.startswith("/api/v1/"):
            continue
        for route in resource:
            if route.method != "HEAD":
                registered.add((path, route.method))
    assert registered == described
    export = document["paths"]["/api/v1/activity-logs/export"]["get"]
    assert "application/x-ndjson" in export["responses"]["200"]["content"]


async def test_histogram_open_range_covers_what_the_table_shows(server, session, world):
    """Without from/to the histogram spans the matching entries (the table's range), each caller's
    own: a hidden older entry neither widens a creator's range nor shows in its counts."""
    await store(server, [row("older, their project", project_id=world.p2, level="error", minutes_ago=30)])
    url = "/api/v1/activity-logs/histogram"
    status, body, _ = await call(session, server, "GET", url, world.admin, params={"buckets": 30})
    assert status == 200, body
    assert body["meta"]["from"] == format_timestamp(NOW - timedelta(minutes=30))
    assert sum(b["total"] for b in body["data"]) == len(world.everything) + 1
    # Old clients still get every field they know.
    assert set(body["data"][0]) == {"start", "end", "total", "counts"}
    status, body, _ = await call(session, server, "GET", url, world.creator, params={"buckets": 30})
    assert status == 200, body
    assert body["meta"]["from"] == format_timestamp(NOW - timedelta(minutes=10))  # "own entry"
    assert sum(b["total"] for b in body["data"]) == len(world.visible)
    assert sum(b["counts"]["error"] for b in body["data"]) == 1
    # A filter narrows the range to its own entries; "to" alone keeps its end.
    status, body, _ = await call(session, server, "GET", url, world.admin, params={"level": "debug"})
    assert body["meta"]["from"] == format_timestamp(NOW - timedelta(minutes=8))  # "system entry"
    until = format_timestamp(NOW - timedelta(minutes=6))
    status, body, _ = await call(session, server, "GET", url, world.admin, params={"to": until, "buckets": 4})
    assert status == 200 and body["meta"]["to"] == until
    assert body["meta"]["from"] == format_timestamp(NOW - timedelta(minutes=30))
    # Nothing matches: the last 24 hours, as before.
    status, body, _ = await call(session, server, "GET", url, world.admin, params={"search": "no such words"})
    assert status == 200 and sum(b["total"] for b in body["data"]) == 0
    span = body["meta"]["bucket_seconds"] * body["meta"]["buckets"]
    assert span == pytest.approx(24 * 3600)


async def test_histogram_open_range_stops_at_the_longest_retention(server, session, world):
    settings = {"retention_days_debug": 7, "retention_days_info": 7, "retention_days_warn": 7, "retention_days_error": 7}
    status, body, _ = await call(session, server, "PUT", "/api/v1/admin/activity-logs/settings", world.admin, json=settings)
    assert status == 200, body
    await store(server, [row("a stray ancient timestamp", minutes_ago=60 * 24 * 200)])
    status, body, _ = await call(session, server, "GET", "/api/v1/activity-logs/histogram", world.admin)
    assert status == 200, body
    since = body["meta"]["from"]
    assert format_timestamp(NOW - timedelta(days=7, minutes=1)) < since < format_timestamp(NOW - timedelta(days=6))


async def test_histogram_open_to_reaches_an_entry_stamped_in_the_future(server, session, world):
    # A sender's clock ahead of ours: the table lists the entry, so the histogram must count it.
    await store(server, [row("from a fast clock", minutes_ago=-5)])
    status, body, _ = await call(session, server, "GET", "/api/v1/activity-logs/histogram", world.admin)
    assert status == 200, body
    assert body["meta"]["to"] > format_timestamp(NOW + timedelta(minutes=5))
    assert sum(b["total"] for b in body["data"]) == len(world.everything) + 1
