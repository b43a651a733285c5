"""Browser security headers on every response of the API and console server, and no-store on
API responses (the login response carries a token)."""

from __future__ import annotations

import aiohttp
import pytest

from tests.support.api import PASSWORD, call, make_user

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as client:
        yield client


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        if part.strip():
            name, *values = part.split()
            directives[name] = values
    return directives


def assert_browser_headers(headers, what: str) -> None:
    csp = csp_directives(headers.get("Content-Security-Policy", ""))
    assert csp.get("default-src") == ["'self'"], (what, csp)
    assert csp.get("script-src") == ["'self'"], (what, csp)
    assert csp.get("style-src") == ["'self'"], (what, csp)
    assert csp.get("connect-src") == ["'self'"], (what, csp)
    assert csp.get("img-src") == ["'self'", "data:"], (what, csp)
    assert csp.get("object-src") == ["'none'"], (what, csp)
    assert csp.get("base-uri") == ["'none'"], (what, csp)
    assert csp.get("frame-ancestors") == ["'none'"], (what, csp)
    assert csp.get("form-action") == ["'self'"], (what, csp)
    assert headers.get("X-Content-Type-Options") == "nosniff", what
    assert headers.get("X-Frame-Options") == "DENY", what
    assert headers.get("Referrer-Policy") == "no-referrer", what
    # Neither aiohttp's nor Python's version.
    assert headers.get("Server") == "activity-console", (what, headers.get("Server"))


async def test_login_response(server, db, session):
    await make_user(db, "ada@example.com")
    status, body, headers = await call(session, server, "POST", "/api/v1/auth/login",
                                       json={"email": "ada@example.com", "password": PASSWORD})  # fmt: skip
    assert status == 200 and body["token"]
    assert_browser_headers(headers, "login")
    assert headers["Cache-Control"] == "no-store"


async def test_api_errors(server, session):
    for method, path, expected in [("GET", "/api/v1/activity-logs", 401), ("GET", "/api/v1/no-such-thing", 401),
                                   ("POST", "/api/v1/auth/login", 400)]:  # fmt: skip
        status, body, headers = await call(session, server, method, path, json={} if method == "POST" else None)
        assert status == expected and body["error"]["code"], (path, body)
        assert_browser_headers(headers, path)
        assert headers["Cache-Control"] == "no-store", path


async def test_a_handlers_own_cache_control_is_kept(server, db, session):
    admin = await make_user(db, "root@example.com", "admin")
    status, _, headers = await call(session, server, "GET", "/api/v1/activity-logs/export", admin)
    assert status == 200 and headers["Cache-Control"] == "no-store"
    assert_browser_headers(headers, "export")
    status, _, headers = await call(session, server, "GET", "/api/v1/openapi.json")
    assert status == 200 and headers["Cache-Control"] == "no-store"


async def test_health_and_console(server, session):
    for path in ("/healthz", "/readyz"):
        status, _, headers = await call(session, server, "GET", path)
        assert status == 200
        assert_browser_headers(headers, path)
    for path in ("/", "/tools/activity-console"):
        async with session.get(server.api_url + path) as response:
            assert response.status in (200, 503)  # 503: the console is not built
            assert response.content_type == "text/html"
            assert_browser_headers(response.headers, path)
            assert response.headers["Cache-Control"] == "no-cache"  # the console's own
