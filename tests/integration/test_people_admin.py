"""The People admin endpoints: a user's role, password and deletion; projects renamed and deleted;
the last admin kept; no self-deletion; creators refused everywhere; role changes and deletions
applied from the account's next request; active ingest token names unique (migration 0008)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import aiohttp
import asyncpg
import pytest

from collector.db import migrate
from collector.db.connect import connect, with_database
from tests.support.api import PASSWORD, call, make_project, make_user

pytestmark = pytest.mark.timeout(60)

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as client:
        yield client


async def login(session, server, email: str, password: str) -> tuple[int, dict]:
    status, body, _ = await call(session, server, "POST", "/api/v1/auth/login",
                                 json={"email": email, "password": password})  # fmt: skip
    return status, body


def bearer(body: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {body['token']}"}


async def test_role_change_password_reset_and_delete(server, db, session):
    admin = await make_user(db, "root@example.com", "admin")
    creator = await make_user(db, "ada-lovelace@example.com", "creator")
    path = f"/api/v1/admin/users/{creator.user_id}"

    status, user, _ = await call(session, server, "PATCH", path, admin, json={"role": "admin"})
    assert status == 200 and user["role"] == "admin" and user["email"] == "ada-lovelace@example.com", user
    status, user, _ = await call(session, server, "PATCH", path, admin, json={"role": "creator"})
    assert status == 200 and user["role"] == "creator"
    status, body, _ = await call(session, server, "PATCH", path, admin, json={"role": "root"})
    assert status == 400 and "role" in body["error"]["message"]
    status, body, _ = await call(session, server, "PATCH", path, admin, json={"role": "admin", "email": "x@y"})
    assert status == 400, body
    status, body, _ = await call(session, server, "PATCH", "/api/v1/admin/users/999999", admin, json={"role": "admin"})
    assert status == 404 and body["error"]["code"] == "not_found"

    # Reset: the same rules as at creation, the email's name included; then only the new one works.
    for weak, problem in [("short", "at least"), ("my name is ada-lovelace", "name of the e-mail")]:
        status, body, _ = await call(session, server, "PUT", f"{path}/password", admin, json={"password": weak})
        assert status == 400 and problem in body["error"]["message"], body
    status, body, _ = await call(session, server, "PUT", "/api/v1/admin/users/999999/password", admin,
                                 json={"password": NEW_PASSWORD})  # fmt: skip
    assert status == 404, body
    status, user, _ = await call(session, server, "PUT", f"{path}/password", admin, json={"password": NEW_PASSWORD})
    assert status == 200 and user["id"] == creator.user_id and "password_hash" not in user
    assert (await login(session, server, "ada-lovelace@example.com", PASSWORD))[0] == 401
    status, logged_in = await login(session, server, "ada-lovelace@example.com", NEW_PASSWORD)
    assert status == 200

    project_id = await make_project(db, "Film")
    await call(session, server, "POST", f"/api/v1/admin/projects/{project_id}/members", admin,
               json={"user_id": creator.user_id})  # fmt: skip
    status, deleted, _ = await call(session, server, "DELETE", path, admin)
    assert status == 200 and deleted == {"id": creator.user_id, "email": "ada-lovelace@example.com", "deleted": True}
    # Gone from the list and from its project; its session and password no longer work.
    _, users, _ = await call(session, server, "GET", "/api/v1/admin/users", admin)
    assert [u["email"] for u in users["data"]] == ["root@example.com"]
    _, projects, _ = await call(session, server, "GET", "/api/v1/admin/projects", admin)
    assert projects["data"][0]["member_ids"] == []
    status, _, _ = await call(session, server, "GET", "/api/v1/auth/me", headers=bearer(logged_in))
    assert status == 401
    assert (await login(session, server, "ada-lovelace@example.com", NEW_PASSWORD))[0] == 401
    status, body, _ = await call(session, server, "DELETE", path, admin)
    assert status == 404, body


async def test_the_last_admin_is_never_demoted_or_deleted(server, db, session):
    root = await make_user(db, "root@example.com", "admin")
    status, body, _ = await call(session, server, "PATCH", f"/api/v1/admin/users/{root.user_id}", root,
                                 json={"role": "creator"})  # fmt: skip
    assert status == 409 and body["error"]["code"] == "conflict"
    assert "last admin" in body["error"]["message"] and "root@example.com" in body["error"]["message"]
    # Setting the role it already has is not a demotion.
    status, _, _ = await call(session, server, "PATCH", f"/api/v1/admin/users/{root.user_id}", root,
                              json={"role": "admin"})  # fmt: skip
    assert status == 200

    # With a second admin, the first may step down; then the second is the last one.
    second = await make_user(db, "second@example.com", "admin")
    status, body, _ = await call(session, server, "PATCH", f"/api/v1/admin/users/{root.user_id}", root,
                                 json={"role": "creator"})  # fmt: skip
    assert status == 200 and body["role"] == "creator"
    status, body, _ = await call(session, server, "PATCH", f"/api/v1/admin/users/{second.user_id}", second,
                                 json={"role": "creator"})  # fmt: skip
    assert status == 409 and "last admin" in body["error"]["message"]
    assert await db.fetchval("SELECT count(*) FROM users WHERE role = 'admin'") == 1

    # The last admin cannot be deleted by anyone (here: a third admin made and deleted in turn).
    third = await make_user(db, "third@example.com", "admin")
    status, _, _ = await call(session, server, "DELETE", f"/api/v1/admin/users/{third.user_id}", second)
    assert status == 200
    await db.execute("UPDATE users SET role = 'admin' WHERE id = $1", root.user_id)
    status, _, _ = await call(session, server, "DELETE", f"/api/v1/admin/users/{second.user_id}", root)
    assert status == 200
    assert await db.fetchval("SELECT count(*) FROM users WHERE role = 'admin'") == 1


async def test_two_admins_demoting_each_other_at_once_leave_one(server, db, session):
    first = await make_user(db, "first@example.com", "admin")
    second = await make_user(db, "second@example.com", "admin")
    for _ in range(5):
        answers = await asyncio.gather(
            call(session, server, "PATCH", f"/api/v1/admin/users/{second.user_id}", first, json={"role": "creator"}),
            call(session, server, "PATCH", f"/api/v1/admin/users/{first.user_id}", second, json={"role": "creator"}),
        )  # fmt: skip
        statuses = sorted(status for status, _, _ in answers)
        # Whoever is demoted first can no longer act as admin (403), or the other is the last (409).
        assert statuses[0] == 200 and statuses[1] in (403, 409), answers
        assert await db.fetchval("SELECT count(*) FROM users WHERE role = 'admin'") == 1
        await db.execute("UPDATE users SET role = 'admin'")


async def test_an_admin_cannot_delete_themselves(server, db, session):
    root = await make_user(db, "root@example.com", "admin")
    await make_user(db, "other@example.com", "admin")
    status, body, _ = await call(session, server, "DELETE", f"/api/v1/admin/users/{root.user_id}", root)
    assert status == 409 and "your own account" in body["error"]["message"], body
    assert await db.fetchval("SELECT count(*) FROM users WHERE id = $1", root.user_id) == 1


async def test_projects_create_rename_delete_and_members(server, db, session):
    admin = await make_user(db, "root@example.com", "admin")
    creator = await make_user(db, "ada@example.com", "creator")
    status, film, _ = await call(session, server, "POST", "/api/v1/admin/projects", admin, json={"name": "Film"})
    assert status == 201
    status, _, _ = await call(session, server, "POST", "/api/v1/admin/projects", admin, json={"name": "Music"})
    assert status == 201
    path = f"/api/v1/admin/projects/{film['id']}"
    status, _, _ = await call(session, server, "POST", f"{path}/members", admin, json={"user_id": creator.user_id})
    assert status == 201

    status, renamed, _ = await call(session, server, "PATCH", path, admin, json={"name": "Feature film"})
    assert status == 200, renamed
    assert renamed == {**film, "name": "Feature film", "member_ids": [creator.user_id]}
    status, body, _ = await call(session, server, "PATCH", path, admin, json={"name": "Music"})
    assert status == 409 and "Music" in body["error"]["message"]
    for bad in ({"name": ""}, {"name": "x" * 201}, {"name": "a\x00b"}, {}, {"name": "ok", "id": 3}):
        status, body, _ = await call(session, server, "PATCH", path, admin, json=bad)
        assert status == 400 and body["error"]["code"] == "bad_request", (bad, body)
    status, _, _ = await call(session, server, "PATCH", "/api/v1/admin/projects/999999", admin, json={"name": "y"})
    assert status == 404

    status, me, _ = await call(session, server, "GET", "/api/v1/auth/me", creator)
    assert me["user"]["project_ids"] == [film["id"]]
    status, deleted, _ = await call(session, server, "DELETE", path, admin)
    assert status == 200 and deleted == {"id": film["id"], "name": "Feature film", "deleted": True}
    status, me, _ = await call(session, server, "GET", "/api/v1/auth/me", creator)
    assert me["user"]["project_ids"] == []
    _, projects, _ = await call(session, server, "GET", "/api/v1/admin/projects", admin)
    assert [p["name"] for p in projects["data"]] == ["Music"]
    status, _, _ = await call(session, server, "DELETE", path, admin)
    assert status == 404
    # A name freed by a delete can be used again.
    status, _, _ = await call(session, server, "POST", "/api/v1/admin/projects", admin, json={"name": "Feature film"})
    assert status == 201


async def test_a_creator_is_refused_every_people_endpoint(server, db, session):
    admin = await make_user(db, "root@example.com", "admin")
    creator = await make_user(db, "ada@example.com", "creator")
    project_id = await make_project(db, "Film")
    users = f"/api/v1/admin/users/{admin.user_id}"
    projects = f"/api/v1/admin/projects/{project_id}"
    for method, path, body in [
        ("GET", "/api/v1/admin/users", None),
        ("POST", "/api/v1/admin/users", {"email": "a@b.c", "password": NEW_PASSWORD, "role": "admin"}),
        ("PATCH", users, {"role": "creator"}),
        ("PATCH", f"/api/v1/admin/users/{creator.user_id}", {"role": "admin"}),  # promoting oneself
        ("PUT", f"{users}/password", {"password": NEW_PASSWORD}),
        ("DELETE", users, None),
        ("GET", "/api/v1/admin/projects", None),
        ("POST", "/api/v1/admin/projects", {"name": "Mine"}),
        ("PATCH", projects, {"name": "Mine"}),
        ("DELETE", projects, None),
        ("POST", f"{projects}/members", {"user_id": creator.user_id}),
        ("DELETE", f"{projects}/members/{creator.user_id}", None),
        ("POST", "/api/v1/admin/ingest-tokens", {"name": "sneaky"}),
    ]:
        status, answer, _ = await call(session, server, method, path, creator, json=body)
        assert status == 403 and answer["error"]["code"] == "forbidden", (method, path, answer)
    # Nothing changed.
    roles = {r["email"]: r["role"] for r in await db.fetch("SELECT email, role FROM users")}
    assert roles == {"root@example.com": "admin", "ada@example.com": "creator"}
    assert await db.fetchval("SELECT name FROM projects WHERE id = $1", project_id) == "Film"
    assert await db.fetchval("SELECT count(*) FROM project_members") == 0
    status, _ = await login(session, server, "root@example.com", NEW_PASSWORD)
    assert status == 401


async def test_a_demoted_or_deleted_admin_loses_admin_on_the_next_request(server, db, session):
    await make_user(db, "root@example.com", "admin")
    demoted = await make_user(db, "demoted@example.com", "admin")
    deleted = await make_user(db, "deleted@example.com", "admin")
    _, root_login = await login(session, server, "root@example.com", PASSWORD)
    _, demoted_login = await login(session, server, "demoted@example.com", PASSWORD)
    _, deleted_login = await login(session, server, "deleted@example.com", PASSWORD)
    for session_of in (demoted_login, deleted_login):
        status, _, _ = await call(session, server, "GET", "/api/v1/admin/users", headers=bearer(session_of))
        assert status == 200

    status, _, _ = await call(session, server, "PATCH", f"/api/v1/admin/users/{demoted.user_id}",
                              headers=bearer(root_login), json={"role": "creator"})  # fmt: skip
    assert status == 200
    # The token still says admin; the server believes the database.
    status, body, _ = await call(session, server, "GET", "/api/v1/admin/users", headers=bearer(demoted_login))
    assert status == 403 and body["error"]["code"] == "forbidden"
    status, body, _ = await call(session, server, "POST", "/api/v1/admin/users", headers=bearer(demoted_login),
                                 json={"email": "back@example.com", "password": NEW_PASSWORD, "role": "admin"})  # fmt: skip
    assert status == 403
    status, me, _ = await call(session, server, "GET", "/api/v1/auth/me", headers=bearer(demoted_login))
    assert status == 200 and me["user"]["role"] == "creator"

    status, _, _ = await call(session, server, "DELETE", f"/api/v1/admin/users/{deleted.user_id}",
                              headers=bearer(root_login))  # fmt: skip
    assert status == 200
    status, body, _ = await call(session, server, "GET", "/api/v1/admin/users", headers=bearer(deleted_login))
    assert status == 401 and "no longer exists" in body["error"]["message"]


async def test_active_ingest_token_names_are_unique(server, db, session):
    admin = await make_user(db, "root@example.com", "admin")
    tokens = "/api/v1/admin/ingest-tokens"
    status, first, _ = await call(session, server, "POST", tokens, admin, json={"name": "render farm"})
    assert status == 201
    status, body, _ = await call(session, server, "POST", tokens, admin, json={"name": "render farm"})
    assert status == 409 and body["error"]["code"] == "conflict" and "render farm" in body["error"]["message"]
    # Another name is fine, and a revoked token's name may be used again.
    status, _, _ = await call(session, server, "POST", tokens, admin, json={"name": "Render farm"})
    assert status == 201
    status, _, _ = await call(session, server, "DELETE", f"{tokens}/{first['id']}", admin)
    assert status == 200
    status, again, _ = await call(session, server, "POST", tokens, admin, json={"name": "render farm"})
    assert status == 201 and again["id"] != first["id"]


@pytest.fixture
async def empty_database(pg_admin_url):
    name = f"ac_people_{id(object())}"
    admin = await asyncpg.connect(pg_admin_url)
    await admin.execute(f"CREATE DATABASE {name}")
    try:
        yield with_database(pg_admin_url, name)
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


async def test_migration_0008_renames_duplicate_active_token_names(empty_database, tmp_path):
    for source in migrate.discover():
        if source.version < 8:
            (tmp_path / f"{source.version:04d}_{source.name}.sql").write_text(source.sql)
    conn = await connect(empty_database)
    try:
        await migrate.apply(conn, tmp_path)
        insert = "INSERT INTO ingest_tokens (name, token_hash, token_prefix, revoked_at) VALUES ($1, $2, 'ac_', $3)"
        names = ["farm", "farm", "farm", "farm (3)", "solo", "old", "old"]
        for number, name in enumerate(names, start=1):
            await conn.execute(insert, name, bytes([number]), None)
        await conn.execute(insert, "farm", b"revoked", datetime.now(timezone.utc))  # revoked: untouched

        await migrate.apply(conn)

        rows = await conn.fetch("SELECT id, name, revoked_at IS NULL AS active FROM ingest_tokens ORDER BY id")
        assert [(r["name"], r["active"]) for r in rows] == [
            ("farm", True), ("farm (2)", True), ("farm (3) (3)", True), ("farm (3)", True), ("solo", True),
            ("old", True), ("old (7)", True), ("farm", False),
        ]  # fmt: skip
        with pytest.raises(asyncpg.UniqueViolationError, match="ingest_tokens_active_name_key"):
            await conn.execute(insert, "solo", b"another", None)
    finally:
        await conn.close()
