"""Malformed input answers 400 (or 408) in the API's error shape, never 500: NUL characters,
ids beyond int64, deeply nested or huge-number JSON bodies, a body that never arrives, non-ASCII
or underscored integers in query strings, and timestamps at the ends of the calendar."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from tests.support.api import PASSWORD, call, make_user, row, store

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def admin(server, db):
    return await make_user(db, "root@example.com", "admin")


def assert_bad_request(status: int, body, what) -> None:
    assert status == 400, (what, status, body)
    assert isinstance(body, dict) and body["error"]["code"] == "bad_request", (what, body)
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], (what, body)


async def test_nul_characters_are_a_400(server, session, admin):
    cases = [
        ("/api/v1/auth/login", None, {"email": "root@example.com\x00", "password": PASSWORD}),
        ("/api/v1/auth/login", None, {"email": "root@example.com", "password": PASSWORD + "\x00"}),
        ("/api/v1/admin/users", admin, {"email": "new\x00@example.com", "password": "a fine passphrase 42",
                                        "role": "creator"}),
        ("/api/v1/admin/projects", admin, {"name": "film\x00"}),
        ("/api/v1/admin/ingest-tokens", admin, {"name": "\x00ci"}),
    ]  # fmt: skip
    for path, who, payload in cases:
        status, body, _ = await call(session, server, "POST", path, who, json=payload)
        assert_bad_request(status, body, (path, payload))
        assert "NUL" in body["error"]["message"], body


async def test_a_member_id_beyond_int64_is_a_400(server, session, admin):
    status, project, _ = await call(session, server, "POST", "/api/v1/admin/projects", admin, json={"name": "P"})
    assert status == 201
    for user_id in (2**63, 10**30):
        status, body, _ = await call(session, server, "POST", f"/api/v1/admin/projects/{project['id']}/members",
                                     admin, json={"user_id": user_id})  # fmt: skip
        assert_bad_request(status, body, user_id)


async def _post_raw(session, server, path: str, data: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    async with session.post(server.api_url + path, data=data,
                            headers={"Content-Type": "application/json", **headers}) as response:  # fmt: skip
        return response.status, await response.json()


async def test_deeply_nested_and_huge_number_bodies_are_a_400(server, session, admin):
    from tests.support.api import auth

    depth = 100_000
    bodies = {
        "nested array": b"[" * depth + b"]" * depth,
        "nested object": b'{"name":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}",
        "5000-digit number": b'{"name": "x", "n": ' + b"9" * 5000 + b"}",
        "unknown charset": b'{"name": "x"}',
    }
    for what, data in bodies.items():
        headers = auth(server, admin)
        if what == "unknown charset":
            headers["Content-Type"] = "application/json; charset=no-such-charset"
        for path in ("/api/v1/admin/projects", "/api/v1/auth/login"):
            status, body = await _post_raw(session, server, path, data, headers)
            assert_bad_request(status, body, (what, path))


async def test_a_body_that_does_not_arrive_in_time_is_a_408(server, admin, monkeypatch):
    from api import errors
    from tests.support.api import auth

    monkeypatch.setattr(errors, "BODY_READ_TIMEOUT_S", 0.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.http_port)
    try:
        head = (
            "POST /api/v1/admin/projects HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: {auth(server, admin)['Authorization']}\r\nContent-Length: 100\r\n\r\n"
        )
        writer.write(head.encode() + b'{"name": ')  # and then nothing more
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 30)
        assert status_line.split()[1] == b"408", status_line
        headers = {}
        while (line := await asyncio.wait_for(reader.readline(), 30)) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        body = json.loads(await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 30))
        assert body["error"]["code"] == "request_timeout" and body["error"]["message"]
    finally:
        writer.close()


async def test_query_integers_are_ascii_digits_only(server, session, admin):
    for params in ({"per_page": "١٢"}, {"page": "1_0"}, {"user_id": "٣"}, {"per_page": " 5"}, {"before_id": "1e3"},
                   {"per_page": "５"}):  # fmt: skip
        status, body, _ = await call(session, server, "GET", "/api/v1/activity-logs", admin, params=params)
        assert_bad_request(status, body, params)
    for params in ({"per_page": "5"}, {"user_id": "-3"}, {"per_page": "+7"}, {"page": "007"}):
        status, body, _ = await call(session, server, "GET", "/api/v1/activity-logs", admin, params=params)
        assert status == 200, (params, body)


async def test_timestamps_at_the_ends_of_the_calendar_never_give_500(server, session, admin):
    await store(server, [row("now"), row("an hour ago", minutes_ago=60)])
    year_one, far_future = "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"
    histogram = "/api/v1/activity-logs/histogram"
    # Before every possible entry: empty, not an error.
    status, body, _ = await call(session, server, "GET", histogram, admin, params={"to": year_one})
    assert status == 200, body
    assert sum(bucket["total"] for bucket in body["data"]) == 0
    status, body, _ = await call(session, server, "GET", "/api/v1/activity-logs", admin, params={"to": year_one})
    assert status == 200 and body["data"] == [], body
    # From the start of time: everything.
    status, body, _ = await call(session, server, "GET", "/api/v1/activity-logs", admin, params={"from": year_one})
    assert status == 200 and {e["message"] for e in body["data"]} == {"now", "an hour ago"}, body
    status, body, _ = await call(session, server, "GET", histogram, admin,
                                 params={"from": year_one, "to": far_future, "buckets": 5})  # fmt: skip
    assert status == 200 and sum(bucket["total"] for bucket in body["data"]) == 2, body
    # Offsets that push the instant past either end, and every endpoint that takes a time range.
    odd = ["0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00-14:00", "9999-12-31T23:59:59-14:00",
           "9999-12-31T23:59:59+14:00", year_one, far_future]  # fmt: skip
    for value in odd:
        for key in ("from", "to"):
            for path in (histogram, "/api/v1/activity-logs", "/api/v1/activity-logs/export"):
                status, body, _ = await call(session, server, "GET", path, admin, params={key: value})
                assert status in (200, 400), (path, key, value, status, body)
                if status == 400:
                    assert body["error"]["code"] == "bad_request"
        status, body, _ = await call(session, server, "DELETE", "/api/v1/admin/activity-logs", admin,
                                     params={"before": value, "level": "debug"})  # fmt: skip
        assert status in (200, 400), (value, status, body)
