"""Users, projects, memberships and ingest tokens: the database side of ``api.accounts``.
The SQL is in ``collector/db/queries.sql`` (section ``API``)."""

from __future__ import annotations

from typing import Any

import asyncpg

from api.errors import Conflict, NotFound
from collector.auth import create_token
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


async def list_project_ids(conn: asyncpg.Connection, user_id: int) -> list[int]:
    return [r["project_id"] for r in await conn.fetch(q("list_user_project_ids"), user_id)]


async def create_project(conn: asyncpg.Connection, name: str) -> dict[str, Any]:
    try:
        row = await conn.fetchrow(q("insert_project"), name)
    except asyncpg.UniqueViolationError:
        raise Conflict(f"a project named {name!r} already exists") from None
    return {**as_json(row), "member_ids": []}


async def list_projects(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    return [{**as_json(r), "member_ids": list(r["member_ids"])} for r in await conn.fetch(q("list_projects"))]


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
    token, row = await create_token(conn, name)
    return {**as_json(row), "token": token}


async def revoke_ingest_token(conn: asyncpg.Connection, token_id: int) -> dict[str, Any]:
    rows = await conn.fetch(q("revoke_ingest_token"), token_id, None)
    if not rows:
        raise NotFound(f"no active ingest token with id {token_id}")
    return as_json(rows[0])
