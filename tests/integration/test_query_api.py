"""``q`` (docs/query.md) through every read that takes a filter: REST list, export, histogram and
context, and the live tail's subscribe/update_filter; bad queries answered with their position;
a creator never sees a foreign entry whatever the query."""

from __future__ import annotations

import json
from datetime import timedelta

import aiohttp
import pytest

from collector.model import format_timestamp
from tests.support.api import NOW, auth, call, make_project, make_user, row, store
from tests.support.live import connect, entries_until, ingest, receive_json
from tests.support.live import row as live_row

pytestmark = pytest.mark.timeout(90)

LIST = "/api/v1/activity-logs"


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def world(server, db):
    mine, theirs = await make_project(db, "mine"), await make_project(db, "theirs")
    creator = await make_user(db, "creator@example.com", project_ids=(mine,))
    other = await make_user(db, "other@example.com", project_ids=(theirs,))
    admin = await make_user(db, "admin@example.com", "admin")
    job_theirs = await db.fetchval("INSERT INTO jobs (project_id, name) VALUES ($1, 'theirs') RETURNING id", theirs)
    rows = [
        row("gpu one oom", project_id=mine, level="error", service_name="render-worker", minutes_ago=9,
            fields={"gpu": 1, "http.status_code": 503}, resource={"host.name": "box a"}),
        row("gpu one as text", project_id=mine, level="warn", service_name="render-worker", minutes_ago=8,
            fields={"gpu": "1", "http.status_code": 200}),
        row("gpu two", user_id=creator.user_id, level="info", service_name="api", minutes_ago=7,
            fields={"gpu": 2}, resource={"host.name": "box b"}),
        row("foreign gpu one oom", project_id=theirs, level="error", service_name="render-worker", minutes_ago=6,
            fields={"gpu": 1, "http.status_code": 503}),
        row("foreign user gpu one", user_id=other.user_id, level="error", minutes_ago=5, fields={"gpu": 1}),
        row("foreign job gpu one", job_id=job_theirs, level="error", minutes_ago=4, fields={"gpu": 1}),
        row("admin only gpu one", admin_only=True, level="error", minutes_ago=3, fields={"gpu": 1}),
    ]  # fmt: skip
    stored = await store(server, rows)
    return {"creator": creator, "other": other, "admin": admin, "mine": mine, "theirs": theirs,
            "job_theirs": job_theirs, "ids": {r.message: r.id for r in stored}}  # fmt: skip


FOREIGN = {"foreign gpu one oom", "foreign user gpu one", "foreign job gpu one", "admin only gpu one"}


async def _messages(session, server, who, q, **params) -> list[str]:
    status, body, _ = await call(session, server, "GET", LIST, who, params={"q": q, **params})
    assert status == 200, body
    return [entry["message"] for entry in body["data"]]


async def test_list_with_q(server, session, world):
    admin = world["admin"]
    assert await _messages(session, server, admin, "gpu:1 service:render-worker") == [
        "foreign gpu one oom", "gpu one as text", "gpu one oom"]
    assert await _messages(session, server, admin, "http.status_code>=500 -project:%d" % world["theirs"]) == [
        "gpu one oom"]
    assert await _messages(session, server, admin, 'resource.host.name:"box a" OR resource.host.name:box*') == [
        "gpu two", "gpu one oom"]
    assert await _messages(session, server, admin, '"ONE OOM" level>=error') == ["foreign gpu one oom", "gpu one oom"]
    # The other filters keep their meaning and are ANDed with q.
    assert await _messages(session, server, admin, "gpu:1", level="warn") == ["gpu one as text"]
    status, body, _ = await call(session, server, "GET", LIST, admin, params={"q": "gpu:*", "per_page": 2})
    assert body["meta"]["total"] == 7 and len(body["data"]) == 2


@pytest.mark.parametrize("hostile", [
    "project:{theirs}", "project:{theirs} OR project:{mine}", "-project:{mine}", "NOT project:{mine}",
    "user:{other}", "job:{job_theirs}", "project:* OR -project:*", "gpu:1 OR -gpu:1", "(a OR -a) OR project>=0",
    "-(project:{mine})", "project>0 OR project<=0 OR -project:*",
])  # fmt: skip
async def test_a_creator_never_sees_a_foreign_entry_whatever_the_query(server, session, world, hostile):
    q = hostile.format(theirs=world["theirs"], mine=world["mine"], other=world["other"].user_id,
                       job_theirs=world["job_theirs"])  # fmt: skip
    seen = set(await _messages(session, server, world["creator"], q, per_page=100))
    assert not seen & FOREIGN, (q, seen)
    everything = set(await _messages(session, server, world["admin"], q, per_page=100))
    assert seen <= everything
    # The query itself is not refused or emptied: the creator sees their part of it, if any.
    if q in ("gpu:1 OR -gpu:1", "project:* OR -project:*"):
        assert seen >= {"gpu one oom", "gpu one as text", "gpu two"}


async def test_bad_query_is_a_400_with_its_position(server, session, world):
    status, body, _ = await call(session, server, "GET", LIST, world["admin"], params={"q": "gpu:1 level>loud"})
    assert status == 400
    assert body["error"]["code"] == "bad_query" and body["error"]["position"] == 12
    assert "expected a level" in body["error"]["message"]
    for path in (LIST + "/export", LIST + "/histogram", f"{LIST}/{world['ids']['gpu two']}/context"):
        status, body, _ = await call(session, server, "GET", path, world["admin"], params={"q": "(gpu:1"})
        assert status == 400 and body["error"] == {
            "code": "bad_query", "message": "q: expected ')' to close the group opened at position 0 (at position 6)",
            "position": 6}, path  # fmt: skip
    for bad, wording in (("x" * 2001, "q is limited to 2000 characters"), ("a\x00", "q must not contain NUL")):
        status, body, _ = await call(session, server, "GET", LIST, world["admin"], params={"q": bad})
        assert status == 400 and wording in body["error"]["message"]


async def test_export_histogram_and_context_with_q(server, session, world):
    async with session.get(server.api_url + LIST + "/export", params={"q": "gpu:1 -project:*", "format": "json"},
                           headers=auth(server, world["creator"])) as response:  # fmt: skip
        assert response.status == 200
        exported = [json.loads(line)["message"] for line in (await response.text()).splitlines()]
    assert exported == []  # the creator's own gpu:1 entries all carry a project
    async with session.get(server.api_url + LIST + "/export", params={"q": "gpu:1"},
                           headers=auth(server, world["creator"])) as response:  # fmt: skip
        exported = [json.loads(line)["message"] for line in (await response.text()).splitlines()]
    assert exported == ["gpu one oom", "gpu one as text"]

    params = {"from": format_timestamp(NOW - timedelta(minutes=10)), "to": format_timestamp(NOW), "buckets": 1}
    for who, q, expected in ((world["admin"], "gpu:1 level:error", 5), (world["creator"], "gpu:1 level:error", 1),
                             (world["admin"], "-gpu:*", 0)):  # fmt: skip
        status, body, _ = await call(session, server, "GET", LIST + "/histogram", who, params={**params, "q": q})
        assert status == 200 and body["data"][0]["total"] == expected, (q, body)

    anchor = world["ids"]["gpu one as text"]
    status, body, _ = await call(session, server, "GET", f"{LIST}/{anchor}/context", world["admin"],
                                 params={"q": "level:error"})  # fmt: skip
    assert status == 200
    assert [e["message"] for e in body["data"]] == ["gpu one oom", "gpu one as text", "foreign gpu one oom",
                                                   "foreign user gpu one", "foreign job gpu one", "admin only gpu one"]


async def test_live_tail_with_q(server, db, session):
    mine = await make_project(db, "mine")
    theirs = await make_project(db, "theirs")
    creator = await make_user(db, "creator@example.com", project_ids=(mine,))
    admin = await make_user(db, "admin@example.com", "admin")
    tokens = {who: auth(server, p)["Authorization"].removeprefix("Bearer ") for who, p in
              (("creator", creator), ("admin", admin))}  # fmt: skip
    q = f"gpu:1 -resource.host.name:quiet (level>=warn OR project:{theirs})"
    live = await connect(session, server, tokens["admin"], q=q)
    # sources: the live tail's own "client connected" entries are not part of this test
    hostile = await connect(session, server, tokens["creator"], q=f"project:{theirs} OR -project:{mine} OR gpu:*",
                            sources=["worker"])  # fmt: skip

    # A bad query: an error frame with the position; the connection and its subscription stay.
    await live.send_json({"action": "update_filter", "q": "gpu:1 OR"})
    error = await receive_json(live)
    assert error == {"type": "error", "message": "q: expected a term after OR (at position 8)", "position": 8}
    await hostile.send_json({"action": "subscribe", "q": "level>"})
    error = await receive_json(hostile)
    assert error["type"] == "error" and error["position"] == 6

    await ingest(server, [
        live_row("warn gpu 1", level="warn", fields={"gpu": 1}, project_id=mine),
        live_row("warn gpu text 1", level="warn", fields={"gpu": "1"}, project_id=mine),
        live_row("info gpu 1", level="info", fields={"gpu": 1}, project_id=mine),
        live_row("info gpu 1 theirs", level="info", fields={"gpu": 1}, project_id=theirs),
        live_row("warn gpu 2", level="warn", fields={"gpu": 2}, project_id=mine),
        live_row("warn gpu 1 quiet", level="warn", fields={"gpu": 1}, resource={"host.name": "quiet"}),
        live_row("error gpu 1 loud", level="error", fields={"gpu": 1}, resource={"host.name": "loud"}),
        live_row("end", level="warn", fields={"gpu": 1, "end": True}),
    ])  # fmt: skip
    got = [e["message"] for e in await entries_until(live, "end")]
    assert got == ["warn gpu 1", "warn gpu text 1", "info gpu 1 theirs", "error gpu 1 loud", "end"]
    # The creator's OR and negation tricks reach no entry of the project they are not in.
    seen = [e["message"] for e in await entries_until(hostile, "end")]
    assert seen == ["warn gpu 1", "warn gpu text 1", "info gpu 1", "warn gpu 2", "warn gpu 1 quiet",
                    "error gpu 1 loud", "end"]  # fmt: skip

    # update_filter replaces q; the other filters stay ANDed with it.
    await live.send_json({"action": "update_filter", "q": "end:true", "levels": ["warn"]})
    subscribed = await receive_json(live)
    assert subscribed["type"] == "subscribed" and subscribed["filter"]["q"] == "end:true"
    await ingest(server, [live_row("not it", level="error", fields={"end": True}),
                          live_row("end 2", level="warn", fields={"end": True})])  # fmt: skip
    assert [e["message"] for e in await entries_until(live, "end 2")] == ["end 2"]

    # Replay (SQL) agrees with what was sent live (Python).
    replay = await connect(session, server, tokens["creator"], q=f"project:{theirs} OR -project:{mine} OR gpu:*",
                           sources=["worker"], after_id=0)  # fmt: skip
    assert [e["message"] for e in await entries_until(replay, "end 2")] == seen + ["not it", "end 2"]
    for ws in (live, hostile, replay):
        await ws.close()


async def test_values_are_bound_never_spliced(server, session, world):
    admin = world["admin"]
    for q in ('service:"x\' OR \'1\'=\'1"', "gpu:1'--", '"%"', '"_"', "service:render%", 'resource.host.name:"box a\\\\"',
              "http.status_code:503)", 'message:"$1"'):  # fmt: skip
        status, body, _ = await call(session, server, "GET", LIST, admin, params={"q": q})
        assert status in (200, 400), (q, body)
        if status == 200:
            assert body["data"] == [], q
    assert await _messages(session, server, admin, "http.status_code:503 -project:%d" % world["theirs"]) == ["gpu one oom"]
    status, _, _ = await call(session, server, "GET", LIST, admin, params={"q": "x"})
    assert status == 200  # the table is still there
