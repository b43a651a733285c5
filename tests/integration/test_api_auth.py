"""Accounts and authentication: login, tokens (bad, expired, alg none), roles, rate limiting, the
admin endpoints, the error shape, and the first admin created at start-up."""

from __future__ import annotations

import base64
import json
import time

import aiohttp
import jwt
import pytest

from api.security import TOKEN_SIGNER
from tests.support.api import PASSWORD, auth, call, make_project, make_user
from tests.support.server import start_server

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as client:
        yield client


async def test_login_me_and_wrong_password(server, db, session):
    await make_user(db, "Ada@Example.com", "creator")
    status, body, _ = await call(session, server, "POST", "/api/v1/auth/login",
                                 json={"email": "ada@example.com", "password": PASSWORD})  # fmt: skip
    assert status == 200, body
    assert body["user"]["email"] == "Ada@Example.com" and body["user"]["role"] == "creator"
    assert "password_hash" not in body["user"]
    header = jwt.get_unverified_header(body["token"])
    assert header["alg"] == "HS256"
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["sub"] == str(body["user"]["id"]) and claims["role"] == "creator"
    assert 11 * 3600 < claims["exp"] - time.time() <= 12 * 3600

    status, me, _ = await call(session, server, "GET", "/api/v1/auth/me",
                               headers={"Authorization": f"Bearer {body['token']}"})  # fmt: skip
    assert status == 200 and me["user"]["id"] == body["user"]["id"] and me["user"]["project_ids"] == []

    status, body, _ = await call(session, server, "POST", "/api/v1/auth/login",
                                 json={"email": "ada@example.com", "password": "wrong"})  # fmt: skip
    assert status == 401 and body["error"]["code"] == "unauthenticated"
    status, body, _ = await call(session, server, "POST", "/api/v1/auth/login",
                                 json={"email": "nobody@example.com", "password": PASSWORD})  # fmt: skip
    assert status == 401 and body["error"]["message"] == "invalid email or password"


async def test_missing_bad_expired_and_alg_none_tokens_are_refused(server, db, session):
    creator = await make_user(db, "c@example.com")
    now = int(time.time())
    secret = server.app[TOKEN_SIGNER].secret
    good_claims = {"sub": str(creator.user_id), "email": creator.email, "role": "admin", "iat": now,
                   "exp": now + 600}  # fmt: skip

    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    tokens = {
        "missing": None,
        "garbage": "not-a-jwt",
        "wrong key": jwt.encode(good_claims, "another-secret-of-at-least-32-bytes!!", algorithm="HS256"),
        "expired": jwt.encode({**good_claims, "iat": now - 7200, "exp": now - 3600}, secret, algorithm="HS256"),
        # Claims escalating the creator to admin, unsigned: must not be trusted.
        "alg none": f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(good_claims)}.",
        "HS512": jwt.encode(good_claims, secret, algorithm="HS512"),
        "no exp": jwt.encode({k: v for k, v in good_claims.items() if k != "exp"}, secret, algorithm="HS256"),
        "bad role": jwt.encode({**good_claims, "role": "root"}, secret, algorithm="HS256"),
    }
    for name, token in tokens.items():
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        status, body, response_headers = await call(session, server, "GET", "/api/v1/admin/users", headers=headers)
        assert status == 401, (name, body)
        assert body["error"]["code"] == "unauthenticated", name
        assert response_headers["WWW-Authenticate"].startswith("Bearer")
    status, body, _ = await call(session, server, "GET", "/api/v1/activity-logs",
                                 headers={"Authorization": f"Bearer {tokens['expired']}"})  # fmt: skip
    assert "expired" in body["error"]["message"]
    # The same claims correctly signed are accepted: the refusals above are about the token.
    valid = jwt.encode(good_claims, secret, algorithm="HS256")
    status, _, _ = await call(session, server, "GET", "/api/v1/activity-logs", headers={"Authorization": f"Bearer {valid}"})
    assert status == 200
    # ...but the role is the account's, not the token's: signed "admin" claims don't make an admin.
    status, _, _ = await call(session, server, "GET", "/api/v1/admin/users", headers={"Authorization": f"Bearer {valid}"})
    assert status == 403


async def test_login_is_rate_limited_per_email_and_address(database_url, tmp_path, db, session):
    server = await start_server(database_url, tmp_path, login_max_failures=3, login_failure_window_s=300)
    try:
        await make_user(db, "target@example.com")
        await make_user(db, "other@example.com")
        login = {"email": "target@example.com", "password": "guess"}
        for _ in range(3):
            status, _, _ = await call(session, server, "POST", "/api/v1/auth/login", json=login)
            assert status == 401
        status, body, headers = await call(session, server, "POST", "/api/v1/auth/login", json=login)
        assert status == 429 and body["error"]["code"] == "too_many_requests"
        assert 1 <= int(headers["Retry-After"]) <= 300
        # Locked out even with the right password until the window passes...
        status, _, _ = await call(session, server, "POST", "/api/v1/auth/login",
                                  json={**login, "password": PASSWORD})  # fmt: skip
        assert status == 429
        # ...while another account from the same address is not affected.
        status, _, _ = await call(session, server, "POST", "/api/v1/auth/login",
                                  json={"email": "other@example.com", "password": PASSWORD})  # fmt: skip
        assert status == 200
    finally:
        await server.stop()


async def test_admin_endpoints_and_creator_is_forbidden(server, db, session):
    admin = await make_user(db, "root@example.com", "admin")
    creator = await make_user(db, "creator@example.com", "creator")

    status, user, _ = await call(session, server, "POST", "/api/v1/admin/users", admin,
                                 json={"email": "new@example.com", "password": "long enough to pass", "role": "creator"})  # fmt: skip
    assert status == 201 and user["id"] and user["role"] == "creator" and "password_hash" not in user
    status, body, _ = await call(session, server, "POST", "/api/v1/admin/users", admin,
                                 json={"email": "NEW@example.com", "password": "long enough to pass", "role": "creator"})  # fmt: skip
    assert status == 409 and body["error"]["code"] == "conflict"
    status, body, _ = await call(session, server, "POST", "/api/v1/admin/users", admin,
                                 json={"email": "x@example.com", "password": "short", "role": "god"})  # fmt: skip
    assert status == 400 and "password" in body["error"]["message"] and "role" in body["error"]["message"]
    # The new user can log in.
    status, _, _ = await call(session, server, "POST", "/api/v1/auth/login",
                              json={"email": "new@example.com", "password": "long enough to pass"})  # fmt: skip
    assert status == 200

    status, project, _ = await call(session, server, "POST", "/api/v1/admin/projects", admin, json={"name": "Film"})
    assert status == 201 and project["name"] == "Film"
    members = f"/api/v1/admin/projects/{project['id']}/members"
    status, _, _ = await call(session, server, "POST", members, admin, json={"user_id": user["id"]})
    assert status == 201
    status, body, _ = await call(session, server, "POST", members, admin, json={"user_id": 999999})
    assert status == 404, body
    status, projects, _ = await call(session, server, "GET", "/api/v1/admin/projects", admin)
    assert projects["data"] == [{**project, "member_ids": [user["id"]]}]
    status, _, _ = await call(session, server, "DELETE", f"{members}/{user['id']}", admin)
    assert status == 200
    status, _, _ = await call(session, server, "DELETE", f"{members}/{user['id']}", admin)
    assert status == 404

    status, users, _ = await call(session, server, "GET", "/api/v1/admin/users", admin)
    assert {u["email"] for u in users["data"]} == {"root@example.com", "creator@example.com", "new@example.com"}

    for method, path, body in [
        ("GET", "/api/v1/admin/users", None),
        ("POST", "/api/v1/admin/users", {"email": "a@b.c", "password": "long enough to pass", "role": "admin"}),
        ("GET", "/api/v1/admin/projects", None),
        ("POST", members, {"user_id": creator.user_id}),
        ("GET", "/api/v1/admin/ingest-tokens", None),
        ("POST", "/api/v1/admin/ingest-tokens", {"name": "sneaky"}),
        ("DELETE", "/api/v1/admin/ingest-tokens/1", None),
    ]:
        status, answer, _ = await call(session, server, method, path, creator, json=body)
        assert status == 403 and answer["error"]["code"] == "forbidden", (method, path)


async def test_ingest_token_lifecycle_revocation_is_immediate(server, session):
    admin = await make_user_on(server, "root@example.com", "admin")
    status, created, _ = await call(session, server, "POST", "/api/v1/admin/ingest-tokens", admin,
                                    json={"name": "ci"})  # fmt: skip
    assert status == 201 and created["token"].startswith("ac_")
    status, listed, _ = await call(session, server, "GET", "/api/v1/admin/ingest-tokens", admin)
    assert all("token" not in t and "token_hash" not in t for t in listed["data"])
    assert created["id"] in [t["id"] for t in listed["data"]]

    otlp = {"Content-Type": "application/json", "Authorization": f"Bearer {created['token']}"}
    async with aiohttp.ClientSession() as client:
        async with client.post(server.otlp_http_url, data=b'{"resourceLogs": []}', headers=otlp) as response:
            assert response.status == 200  # the verdict is now cached by the receiver
        status, revoked, _ = await call(session, server, "DELETE", f"/api/v1/admin/ingest-tokens/{created['id']}", admin)
        assert status == 200 and revoked["id"] == created["id"]
        async with client.post(server.otlp_http_url, data=b'{"resourceLogs": []}', headers=otlp) as response:
            assert response.status == 401
    status, _, _ = await call(session, server, "DELETE", f"/api/v1/admin/ingest-tokens/{created['id']}", admin)
    assert status == 404


async def make_user_on(server, email: str, role: str):
    async with server.runtime.pool.acquire() as conn:
        return await make_user(conn, email, role)


async def test_one_error_shape_for_unknown_routes_methods_and_bodies(server, session):
    admin = await make_user_on(server, "root@example.com", "admin")
    cases = [
        ("GET", "/api/v1/nothing-here", 404, "not_found"),
        ("PATCH", "/api/v1/admin/users", 405, "method_not_allowed"),
        ("GET", "/api/v1/activity-logs/abc/context", 404, "not_found"),
        ("GET", "/api/v1/activity-logs/99999999999999999999/context", 404, "not_found"),
    ]
    for method, path, expected, code in cases:
        status, body, _ = await call(session, server, method, path, admin)
        assert (status, body["error"]["code"]) == (expected, code), (method, path, body)
    async with session.post(server.api_url + "/api/v1/admin/projects", data=b"{not json",
                            headers={**auth(server, admin), "Content-Type": "application/json"}) as response:  # fmt: skip
        assert response.status == 400 and (await response.json())["error"]["code"] == "bad_request"
    status, body, _ = await call(session, server, "POST", "/api/v1/admin/projects", admin, json=["a list"])
    assert status == 400 and "object" in body["error"]["message"]
    status, body, _ = await call(session, server, "POST", "/api/v1/admin/projects", admin, json={"nom": "x"})
    assert status == 400 and "name" in body["error"]["message"]


async def test_first_admin_from_environment_can_log_in(database_url, tmp_path, session, monkeypatch):
    monkeypatch.setenv("ACTIVITY_ADMIN_EMAIL", "boss@example.com")
    monkeypatch.setenv("ACTIVITY_ADMIN_PASSWORD", "chief of the console 9")
    server = await start_server(database_url, tmp_path, bootstrap=True)
    try:
        status, body, _ = await call(session, server, "POST", "/api/v1/auth/login",
                                     json={"email": "boss@example.com", "password": "chief of the console 9"})  # fmt: skip
        assert status == 200 and body["user"]["role"] == "admin"
    finally:
        await server.stop()


async def test_generated_first_admin_can_log_in_and_jwt_secret_persists(database_url, tmp_path, session, monkeypatch):
    monkeypatch.delenv("ACTIVITY_ADMIN_EMAIL", raising=False)
    monkeypatch.delenv("ACTIVITY_ADMIN_PASSWORD", raising=False)
    server = await start_server(database_url, tmp_path, bootstrap=True)
    try:
        first = server.runtime.first_run
        assert first is not None and first.admin_email == "admin@localhost" and first.admin_password
        status, body, _ = await call(session, server, "POST", "/api/v1/auth/login",
                                     json={"email": first.admin_email, "password": first.admin_password})  # fmt: skip
        assert status == 200
        token = body["token"]
    finally:
        await server.stop()
    secret_file = tmp_path / "jwt-secret"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    # A restart with the same data directory keeps accepting the token.
    server = await start_server(database_url, tmp_path)
    try:
        status, _, _ = await call(session, server, "GET", "/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert status == 200
    finally:
        await server.stop()


async def test_creator_me_lists_projects(server, db, session):
    project = await make_project(db, "P")
    creator = await make_user(db, "c@example.com", project_ids=(project,))
    status, body, _ = await call(session, server, "GET", "/api/v1/auth/me", creator)
    assert status == 200 and body["user"]["project_ids"] == [project]
    assert body["user"]["projects"] == [{"id": project, "name": "P"}]


async def test_me_names_a_creators_projects_and_only_theirs(server, db, session):
    """The console's "What you can see" note reads the names here: a creator gets their own
    projects by name (ordered by name), never another project; an admin gets none."""
    zeta = await make_project(db, "Zeta film")
    alpha = await make_project(db, "Alpha film")
    await make_project(db, "Someone else's")
    creator = await make_user(db, "c2@example.com", project_ids=(zeta, alpha))
    await make_user(db, "other@example.com", project_ids=())
    status, body, _ = await call(session, server, "GET", "/api/v1/auth/me", creator)
    assert status == 200
    assert body["user"]["projects"] == [{"id": alpha, "name": "Alpha film"}, {"id": zeta, "name": "Zeta film"}]
    assert body["user"]["project_ids"] == sorted([zeta, alpha])
    admin = await make_user(db, "boss@example.com", role="admin")
    status, body, _ = await call(session, server, "GET", "/api/v1/auth/me", admin)
    assert status == 200 and body["user"]["projects"] == [] and body["user"]["project_ids"] == []


async def test_a_token_follows_the_account_as_it_is_now(server, db, session):
    """A role change applies at once and a deleted account is refused, before the token expires."""
    admin = await make_user(db, "demoted@example.com", role="admin")
    status, _, _ = await call(session, server, "GET", "/api/v1/admin/users", admin)
    assert status == 200
    await db.execute("UPDATE users SET role = 'creator' WHERE id = $1", admin.user_id)
    status, body, _ = await call(session, server, "GET", "/api/v1/admin/users", admin)
    assert status == 403 and body["error"]["code"] == "forbidden"
    await db.execute("DELETE FROM users WHERE id = $1", admin.user_id)
    status, body, _ = await call(session, server, "GET", "/api/v1/activity-logs", admin)
    assert status == 401 and "no longer exists" in body["error"]["message"]


def test_password_policy_rules():
    from api.passwords import generate_password, password_problem

    assert password_problem("a fine passphrase 42") is None
    assert password_problem("a fine passphrase 42", "someone@example.com") is None
    too_short = password_problem("Xk9#mq2!Lp4")  # 11 characters
    assert too_short is not None and "12" in too_short
    assert password_problem("Xk9#mq2!Lp4z") is None  # 12
    too_long = password_problem("Xk9#mq2!Lp4z" * 86)  # 1032 characters
    assert too_long is not None and "1024" in too_long
    assert password_problem(("Xk9#mq2!Lp4z" * 86)[:1024]) is None
    few = password_problem("abababababababab")
    assert few is not None and "different" in few
    assert password_problem("abcdabcdabcdabcd") is not None  # 4 distinct
    assert password_problem("abcdeabcdeabcde") is None  # 5 distinct
    for common in ("password1234", "PASSWORD1234", "qwertyuiop123", "123456789012", "iloveyou1234"):
        problem = password_problem(common)
        assert problem is not None and "common" in problem, common
    named = password_problem("xyz-Margaret-2024!", "margaret@example.com")
    assert named is not None and "e-mail" in named
    assert password_problem("xyz-MARGARET-2024!", "Margaret@example.com") is not None
    assert password_problem("xyz-bob-2024!!", "bob@example.com") is None  # 3 letters: too short to matter
    assert password_problem("xyz-margaret-2024!", None) is None
    for _ in range(200):
        assert password_problem(generate_password()) is None
        assert password_problem(generate_password("admin@localhost"), "admin@localhost") is None


async def test_admin_user_creation_enforces_the_password_policy(server, db, session):
    admin = await make_user(db, "root@example.com", "admin")
    for password, reason in [("short pass", "12"), ("password1234", "common"), ("aaaaaaaaaaaabbbb", "different"),
                             ("my name is alexandra!", "e-mail"), ("Xk9#mq2!Lp4z" * 86, "1024")]:  # fmt: skip
        new_user = {"email": "alexandra@example.com", "password": password, "role": "creator"}
        status, body, _ = await call(session, server, "POST", "/api/v1/admin/users", admin, json=new_user)
        assert status == 400 and body["error"]["code"] == "bad_request", (password, body)
        assert "password" in body["error"]["message"] and reason in body["error"]["message"], (password, body)
    _, users, _ = await call(session, server, "GET", "/api/v1/admin/users", admin)
    assert "alexandra@example.com" not in {u["email"] for u in users["data"]}


async def test_a_weak_first_admin_password_from_the_environment_refuses_to_start(database_url, tmp_path, monkeypatch):
    from collector.errors import ConfigurationError

    monkeypatch.setenv("ACTIVITY_ADMIN_EMAIL", "boss@example.com")
    for weak in ("boss password", "Tiny1!", "password1234"):
        monkeypatch.setenv("ACTIVITY_ADMIN_PASSWORD", weak)
        with pytest.raises(ConfigurationError) as refused:
            server = await start_server(database_url, tmp_path, bootstrap=True)
            await server.stop()
        assert "ACTIVITY_ADMIN_PASSWORD" in str(refused.value) and weak not in str(refused.value)
