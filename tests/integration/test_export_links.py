"""Export's row estimate, the one-time export links (a browser's own download of an export) and
the purge estimate: exact counts, scope, expiry, single use, tampering, and a creator's link never
reaching another project's entries."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import aiohttp
import pytest

from api import logs as logs_module
from api.security import Principal
from tests.support.api import NOW, auth, call, make_project, make_user, row, store

pytestmark = pytest.mark.timeout(60)


@dataclass
class World:
    admin: Principal
    creator: Principal
    other: Principal
    p1: int
    p2: int


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
    await store(server, [
        row("mine 1", project_id=p1, level="error", minutes_ago=10),
        row("mine 2", project_id=p1, level="info", minutes_ago=9),
        row("system", level="info", minutes_ago=8),
        row("theirs 1", project_id=p2, level="error", minutes_ago=7),
        row("theirs 2", project_id=p2, level="info", minutes_ago=6),
        row("old debug", level="debug", minutes_ago=60 * 24 * 3),
    ])  # fmt: skip
    return World(admin=admin, creator=creator, other=other, p1=p1, p2=p2)


async def estimate(session, server, who, params=None):
    return await call(session, server, "GET", "/api/v1/activity-logs/export/estimate", who, params=params)


async def mint(session, server, who, params=None) -> str:
    status, body, headers = await call(session, server, "POST", "/api/v1/activity-logs/export-links", who, params=params)
    assert status == 201, body
    assert headers["Cache-Control"] == "no-store"
    assert body["url"].startswith("/api/v1/activity-logs/export-links/")
    return body["url"]


async def fetch(session, server, url, headers=None) -> tuple[int, str, dict]:
    async with session.get(server.api_url + url, headers=headers or {}) as response:
        return response.status, await response.text(), dict(response.headers)


def lines_of(text: str) -> list[str]:
    return [json.loads(line)["message"] for line in text.splitlines()]


async def test_estimate_counts_the_matching_entries_in_scope(server, session, world):
    assert (await estimate(session, server, world.admin))[1] == {"rows": 6, "exact": True}
    assert (await estimate(session, server, world.admin, {"level": "error"}))[1] == {"rows": 2, "exact": True}
    assert (await estimate(session, server, world.admin, {"q": "theirs"}))[1] == {"rows": 2, "exact": True}
    # The creator's own scope: their project and system entries only.
    assert (await estimate(session, server, world.creator))[1] == {"rows": 4, "exact": True}
    assert (await estimate(session, server, world.creator, {"project_id": world.p2}))[1] == {"rows": 0, "exact": True}
    status, body, _ = await estimate(session, server, world.admin, {"level": "loud"})
    assert status == 400 and "level" in body["error"]["message"]
    status, body, _ = await estimate(session, server, world.admin, {"q": "level:("})
    assert status == 400 and body["error"]["code"] == "bad_query"
    assert (await estimate(session, server, None))[0] == 401


async def test_estimate_falls_back_to_the_planner_beyond_the_cap(server, session, world, monkeypatch):
    monkeypatch.setattr(logs_module, "ESTIMATE_COUNT_CAP", 3)
    status, body, _ = await estimate(session, server, world.admin)
    assert status == 200 and body["exact"] is False
    assert body["rows"] >= 4  # at least what was counted before giving up


async def test_link_streams_the_export_once(server, session, world):
    url = await mint(session, server, world.admin, {"level": "error", "format": "json"})
    status, text, headers = await fetch(session, server, url)  # no token: the link is the credential
    assert status == 200
    assert headers["Content-Disposition"].startswith('attachment; filename="activity-logs-')
    assert headers["Content-Type"] == "application/x-ndjson"
    assert lines_of(text) == ["mine 1", "theirs 1"]
    status, text, _ = await fetch(session, server, url)
    assert status == 410 and "already used" in text


async def test_head_does_not_use_up_a_link(server, session, world):
    url = await mint(session, server, world.admin)
    async with session.head(server.api_url + url) as response:
        assert response.status in (401, 405)
    status, text, _ = await fetch(session, server, url)
    assert status == 200 and len(text.splitlines()) == 6


async def test_link_text_format(server, session, world):
    url = await mint(session, server, world.admin, {"format": "text", "level": "debug"})
    status, text, headers = await fetch(session, server, url)
    assert status == 200 and headers["Content-Disposition"].endswith('.log"')
    assert len(text.splitlines()) == 1 and " debug " in text


async def test_concurrent_uses_of_one_link_stream_once(server, session, world):
    url = await mint(session, server, world.admin)
    results = await asyncio.gather(*(fetch(session, server, url) for _ in range(6)))
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [200, 410, 410, 410, 410, 410]


async def test_expired_link_is_refused(server, session, world, monkeypatch):
    links = server.app[logs_module.EXPORT_LINKS]
    token, _ = links.mint(world.admin.user_id, [("format", "json")], now=NOW.timestamp() - 10 * 60)
    status, text, _ = await fetch(session, server, logs_module.EXPORT_LINK_PREFIX + token)
    assert status == 410 and "expired" in text


async def test_tampered_link_is_refused(server, session, world):
    url = await mint(session, server, world.creator, {"project_id": world.p1})
    header, payload, signature = url.removeprefix(logs_module.EXPORT_LINK_PREFIX).split(".")
    # Another user id in an otherwise intact link: the signature no longer matches.
    import base64

    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = str(world.admin.user_id)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    for bad in (f"{header}.{forged}.{signature}", f"{header}.{payload}.{signature[:-2]}AA", "not-a-link"):
        status, text, _ = await fetch(session, server, logs_module.EXPORT_LINK_PREFIX + bad)
        assert status == 403, (bad, text)
    # An API token is not a link either (another key, another audience).
    api_token = auth(server, world.admin)["Authorization"].removeprefix("Bearer ")
    status, _, _ = await fetch(session, server, logs_module.EXPORT_LINK_PREFIX + api_token)
    assert status == 403
    # The untampered link still works: refusing forgeries did not consume it.
    status, text, _ = await fetch(session, server, url)
    assert status == 200 and set(lines_of(text)) == {"mine 1", "mine 2"}


async def test_another_users_link_is_useless_to_them(server, session, world):
    url = await mint(session, server, world.creator)
    status, text, _ = await fetch(session, server, url, auth(server, world.admin))
    assert status == 403 and "another user" in text
    # Fetched as the creator (or without a token), it is the creator's export, never wider.
    status, text, _ = await fetch(session, server, url, auth(server, world.creator))
    assert status == 200 and set(lines_of(text)) == {"mine 1", "mine 2", "system", "old debug"}


async def test_creators_link_never_yields_a_foreign_project(server, session, world):
    url = await mint(session, server, world.creator, {"project_id": world.p2})
    status, text, _ = await fetch(session, server, url)
    assert status == 200 and text == ""
    url = await mint(session, server, world.creator, {"q": "theirs"})
    status, text, _ = await fetch(session, server, url)
    assert status == 200 and text == ""


async def test_link_applies_the_scope_at_download_time(server, session, world, db):
    # An admin's link, then the admin becomes a creator of p1 only: the download is as a creator.
    url = await mint(session, server, world.admin)
    await db.execute("UPDATE users SET role = 'creator' WHERE id = $1", world.admin.user_id)
    await db.execute("INSERT INTO project_members (project_id, user_id) VALUES ($1, $2)", world.p1, world.admin.user_id)
    status, text, _ = await fetch(session, server, url)
    assert status == 200 and set(lines_of(text)) == {"mine 1", "mine 2", "system", "old debug"}
    # A deleted account's link yields nothing.
    url = await mint(session, server, world.other)
    await db.execute("DELETE FROM project_members WHERE user_id = $1", world.other.user_id)
    await db.execute("DELETE FROM users WHERE id = $1", world.other.user_id)
    status, text, _ = await fetch(session, server, url)
    assert status == 410 and "no longer exists" in text


async def test_bad_filters_mint_no_link(server, session, world):
    for bad in ({"level": "loud"}, {"format": "xml"}, {"q": "level:("}, {"levels": "error"}, {"from": "yesterday"}):
        status, body, _ = await call(session, server, "POST", "/api/v1/activity-logs/export-links", world.admin,
                                     params=bad)  # fmt: skip
        assert status == 400, bad
        assert "url" not in body
    status, _, _ = await call(session, server, "POST", "/api/v1/activity-logs/export-links", None)
    assert status == 401


async def test_purge_estimate(server, session, world):
    cutoff = (NOW.replace(microsecond=0)).isoformat().replace("+00:00", "Z")
    path = "/api/v1/admin/activity-logs/purge-estimate"
    status, body, _ = await call(session, server, "GET", path, world.admin, params={"before": cutoff})
    assert status == 200 and body == {"rows": 6, "exact": True}
    status, body, _ = await call(session, server, "GET", path, world.admin, params={"before": cutoff, "level": "debug"})
    assert body == {"rows": 1, "exact": True}
    day_ago = (NOW.replace(microsecond=0)).timestamp() - 86400
    from datetime import datetime, timezone

    earlier = datetime.fromtimestamp(day_ago, timezone.utc).isoformat().replace("+00:00", "Z")
    status, body, _ = await call(session, server, "GET", path, world.admin, params={"before": earlier})
    assert body == {"rows": 1, "exact": True}
    # The estimate matches what the purge then deletes.
    status, purged, _ = await call(session, server, "DELETE", "/api/v1/admin/activity-logs", world.admin,
                                   params={"before": earlier})  # fmt: skip
    assert status == 200 and purged["deleted"] == 1
    assert (await call(session, server, "GET", path, world.creator, params={"before": cutoff}))[0] == 403
    assert (await call(session, server, "GET", path, world.admin))[0] == 400
    assert (await call(session, server, "GET", path, world.admin, params={"before": "soon"}))[0] == 400
