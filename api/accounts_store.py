"""Users, projects, memberships and ingest tokens: the database side of ``api.accounts``.
The SQL is in ``collector/db/queries.sql`` (section ``API``)."""

from __future__ import annotations

from typing import Any

import asyncpg

from api.errors import Conflict, NotFound
from collector.auth import DuplicateTokenName, create_token
from collector.db.queries import q
from collector.model import format_timestamp


def as_json(record: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    """A row as JSON-ready values (timestamps in RFC 3339 UTC); never a password hash."""
    out = {}
    for key, value in dict(record).items():
        if key in ("password_hash", "token_hash"):
            continue
        out[key] = format_timestamp(value) if hasattr(value, "astimezone") else value
    return out


async def find_user_by_email(conn: asyncpg.Connection, email: str) -> asyncpg.Record | None:
    """The user with this email (case-insensitive), password hash included, or None."""
    return await conn.fetchrow(q("get_user_by_email"), email)


async def get_user(conn: asyncpg.Connection, user_id: int) -> dict[str, Any] | None:
    row = await conn.fetchrow(q("get_user"), user_id)
    return as_json(row) if row is not None else None


async def list_users(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    return [as_json(r) for r in await conn.fetch(q("list_users"))]


async def create_user(conn: asyncpg.Connection, email: str, password_hash: str, role: str) -> dict[str, Any]:
    try:
        row = await conn.fetchrow(q("insert_user"), email, password_hash, role)
    except asyncpg.UniqueViolationError:
        raise Conflict(f"a user with email {email!r} already exists") from None
    return as_json(row)


async def _lock_admins_and_user(conn: asyncpg.Connection, user_id: int) -> tuple[list[int], asyncpg.Record]:
    """The admins' ids and the user's row, all locked (call inside a transaction); ``NotFound``
    when there is no such user."""
    admin_ids = [r["id"] for r in await conn.fetch(q("lock_admins"))]
    user = await conn.fetchrow(q("get_user_for_update"), user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    return admin_ids, user


async def set_user_role(conn: asyncpg.Connection, user_id: int, role: str) -> dict[str, Any]:
    """Change a user's role; ``Conflict`` when it would leave no admin."""
    async with conn.transaction():
        admin_ids, user = await _lock_admins_and_user(conn, user_id)
        if user["role"] == "admin" and role != "admin" and admin_ids == [user_id]:
            raise Conflict(f"{user['email']} is the last admin and cannot be demoted; make another user admin first")
        return as_json(await conn.fetchrow(q("set_user_role"), user_id, role))


async def get_user_email(conn: asyncpg.Connection, user_id: int) -> str:
    """The user's email; ``NotFound`` when there is no such user."""
    user = await conn.fetchrow(q("get_user"), user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    return user["email"]


async def set_user_password(conn: asyncpg.Connection, user_id: int, password_hash: str) -> dict[str, Any]:
    row = await conn.fetchrow(q("set_user_password"), user_id, password_hash)
    if row is None:
        raise NotFound(f"no user with id {user_id}")
    return as_json(row)


async def delete_user(conn: asyncpg.Connection, user_id: int, deleted_by: int) -> dict[str, Any]:
    """Delete a user; ``Conflict`` for the caller's own account and for the last admin."""
    if user_id == deleted_by:
        raise Conflict("you cannot delete your own account; another admin can")
    async with conn.transaction():
        admin_ids, user = await _lock_admins_and_user(conn, user_id)
        if user["role"] == "admin" and admin_ids == [user_id]:
            raise Conflict(f"{user['email']} is the last admin and cannot be deleted")
        return as_json(await conn.fetchrow(q("delete_user"), user_id))


async def list_user_projects(conn: asyncpg.Connection, user_id: int) -> list[dict[str, Any]]:
    return [{"id": r["id"], "name": r["name"]} for r in await conn.fetch(q("list_user_projects"), user_id)]


async def create_project(conn: asyncpg.Connection, name: str) -> dict[str, Any]:
    try:
        row = await conn.fetchrow(q("insert_project"), name)
    except asyncpg.UniqueViolationError:
        raise Conflict(f"a project named {name!r} already exists") from None
    return {**as_json(row), "member_ids": []}


async def list_projects(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    return [{**as_json(r), "member_ids": list(r["member_ids"])} for r in await conn.fetch(q("list_projects"))]


async def rename_project(conn: asyncpg.Connection, project_id: int, name: str) -> dict[str, Any]:
    try:
        row = await conn.fetchrow(q("rename_project"), project_id, name)
    except asyncpg.UniqueViolationError:
        raise Conflict(f"a project named {name!r} already exists") from None
    if row is None:
        raise NotFound(f"no project with id {project_id}")
    return {**as_json(row), "member_ids": list(row["member_ids"])}


async def delete_project(conn: asyncpg.Connection, project_id: int) -> dict[str, Any]:
    row = await conn.fetchrow(q("delete_project"), project_id)
    if row is None:
        raise NotFound(f"no project with id {project_id}")
    return as_json(row)


async def add_member(conn: asyncpg.Connection, project_id: int, user_id: int) -> dict[str, Any]:
    try:
        row = await conn.fetchrow(q("insert_project_member"), project_id, user_id)
    except asyncpg.ForeignKeyViolationError as exc:
        what = "project" if "project_id" in (exc.detail or "") else "user"
        raise NotFound(f"no such {what}") from None
    return as_json(row)


async def remove_member(conn: asyncpg.Connection, project_id: int, user_id: int) -> None:
    if await conn.fetchrow(q("delete_project_member"), project_id, user_id) is None:
        raise NotFound(f"user {user_id} is not a member of project {project_id}")


async def list_ingest_tokens(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    return [as_json(r) for r in await conn.fetch(q("list_ingest_tokens"))]


async def create_ingest_token(conn: asyncpg.Connection, name: str) -> dict[str, Any]:
    """A new token; the plaintext is in the result, and only there."""
    try:
        token, row = await create_token(conn, name)
    except DuplicateTokenName:
        raise Conflict(f"an active ingest token named {name!r} already exists; choose another name or revoke it first") from None
    return {**as_json(row), "token": token}


async def revoke_ingest_token(conn: asyncpg.Connection, token_id: int) -> dict[str, Any]:
    rows = await conn.fetch(q("revoke_ingest_token"), token_id, None)
    if not rows:
        raise NotFound(f"no active ingest token with id {token_id}")
    return as_json(rows[0])
