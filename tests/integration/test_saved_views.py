"""Saved views (/api/v1/views): save, list, open, change, delete; a query that does not parse is
refused with its position; only admins share with a project, whose members then see the view,
read only; nobody sees or touches another user's unshared view; the bounds."""

from __future__ import annotations

import aiohttp
import pytest

from api import views as views_module
from tests.support.api import call, make_project, make_user

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def people(db):
    team, other_team = await make_project(db, "team"), await make_project(db, "other team")
    return {
        "admin": await make_user(db, "admin@example.com", "admin"),
        "alice": await make_user(db, "alice@example.com", project_ids=(team,)),
        "bob": await make_user(db, "bob@example.com", project_ids=(team,)),
        "carol": await make_user(db, "carol@example.com", project_ids=(other_team,)),
        "team": team, "other_team": other_team,
    }  # fmt: skip


def names(body) -> list[str]:
    return [v["name"] for v in body["data"]]


async def test_a_users_views_are_theirs(server, session, people):
    alice, bob = people["alice"], people["bob"]
    status, view, _ = await call(session, server, "POST", "/api/v1/views", alice,
                                 json={"name": " GPU errors ", "q": "gpu:1 level>=warn", "range_from": "now-1h",
                                       "mode": "curated"})  # fmt: skip
    assert status == 201, view
    assert view["name"] == "GPU errors" and view["q"] == "gpu:1 level>=warn" and view["range_from"] == "now-1h"
    assert view["owner_email"] == "alice@example.com" and view["project_id"] is None
    path = f"/api/v1/views/{view['id']}"
    assert names((await call(session, server, "GET", "/api/v1/views", alice))[1]) == ["GPU errors"]
    # Bob, in the same project, sees nothing of it until it is shared: a 404, not a 403.
    assert names((await call(session, server, "GET", "/api/v1/views", bob))[1]) == []
    for method, body in (("GET", None), ("PATCH", {"name": "mine now"}), ("DELETE", None)):
        status, _, _ = await call(session, server, method, path, bob, json=body)
        assert status == 404, method
    # The owner changes it; null clears a range end and the mode.
    status, changed, _ = await call(session, server, "PATCH", path, alice,
                                    json={"q": "service:api", "range_from": None, "mode": None})  # fmt: skip
    assert status == 200, changed
    assert (changed["q"], changed["range_from"], changed["mode"], changed["name"]) == ("service:api", None, None, "GPU errors")
    status, _, _ = await call(session, server, "POST", "/api/v1/views", alice, json={"name": "GPU errors"})
    assert status == 409
    status, _, _ = await call(session, server, "DELETE", path, alice)
    assert status == 200
    assert (await call(session, server, "GET", path, alice))[0] == 404


async def test_admins_share_with_a_project_read_only(server, session, people):
    admin, alice, bob, carol = people["admin"], people["alice"], people["bob"], people["carol"]
    status, _, _ = await call(session, server, "POST", "/api/v1/views", alice,
                              json={"name": "shared?", "project_id": people["team"]})  # fmt: skip
    assert status == 403
    status, view, _ = await call(session, server, "POST", "/api/v1/views", admin,
                                 json={"name": "Team errors", "q": "level:error", "project_id": people["team"]})  # fmt: skip
    assert status == 201 and view["project_name"] == "team"
    path = f"/api/v1/views/{view['id']}"
    for member in (alice, bob):
        assert names((await call(session, server, "GET", "/api/v1/views", member))[1]) == ["Team errors"]
        assert (await call(session, server, "GET", path, member))[0] == 200
        assert (await call(session, server, "PATCH", path, member, json={"q": "x"}))[0] == 403
        assert (await call(session, server, "DELETE", path, member))[0] == 403
    assert names((await call(session, server, "GET", "/api/v1/views", carol))[1]) == []
    assert (await call(session, server, "GET", path, carol))[0] == 404
    # A creator cannot move their own view into a project either.
    _, own, _ = await call(session, server, "POST", "/api/v1/views", carol, json={"name": "mine"})
    status, _, _ = await call(session, server, "PATCH", f"/api/v1/views/{own['id']}", carol,
                              json={"project_id": people["team"]})  # fmt: skip
    assert status == 403
    # Unsharing: the members no longer see it.
    status, _, _ = await call(session, server, "PATCH", path, admin, json={"project_id": None})
    assert status == 200
    assert names((await call(session, server, "GET", "/api/v1/views", alice))[1]) == []


@pytest.mark.parametrize("body", [
    {"name": ""}, {"name": "   "}, {"name": "x" * 101}, {"name": "a\x00"}, {"name": "v", "q": "level:"},
    {"name": "v", "q": "x" * 2001}, {"name": "v", "range_from": "yesterday"}, {"name": "v", "range_to": "now-5y"},
    {"name": "v", "mode": "all"}, {"name": "v", "unknown": 1}, {"name": "v", "project_id": 0},
])  # fmt: skip
async def test_bad_views_are_400(server, session, people, body):
    status, answer, _ = await call(session, server, "POST", "/api/v1/views", people["admin"], json=body)
    assert status == 400, answer


async def test_a_bad_query_says_where(server, session, people):
    status, answer, _ = await call(session, server, "POST", "/api/v1/views", people["alice"],
                                   json={"name": "v", "q": "gpu:1 OR"})  # fmt: skip
    assert status == 400 and answer["error"]["code"] == "bad_query" and answer["error"]["position"] == 8


async def test_views_per_user_are_bounded(server, session, people, monkeypatch):
    monkeypatch.setattr(views_module, "MAX_VIEWS_PER_USER", 2)
    for n in range(2):
        assert (await call(session, server, "POST", "/api/v1/views", people["bob"], json={"name": f"v{n}"}))[0] == 201
    status, answer, _ = await call(session, server, "POST", "/api/v1/views", people["bob"], json={"name": "v2"})
    assert status == 409 and "200" not in answer["error"]["message"]


async def test_sharing_with_a_missing_project_is_404(server, session, people):
    status, _, _ = await call(session, server, "POST", "/api/v1/views", people["admin"],
                              json={"name": "v", "project_id": 999999})  # fmt: skip
    assert status == 404


async def test_needs_a_token(server, session):
    assert (await call(session, server, "GET", "/api/v1/views"))[0] == 401
