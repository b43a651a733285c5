"""Helpers for the HTTP API tests: users, tokens and rows put straight into a running server."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp

from api import accounts_store, security
from api.passwords import hash_password
from api.security import Principal, issue_token
from collector.model import ActivityRow

NOW = datetime.now(timezone.utc).replace(microsecond=0)
PASSWORD = "correct horse battery"
_password_hash = hash_password(PASSWORD)  # argon2 is slow on purpose: hash once per session


async def make_user(db, email: str, role: str = "creator", project_ids: tuple[int, ...] = ()) -> Principal:
    user = await accounts_store.create_user(db, email, _password_hash, role)
    for project_id in project_ids:
        await accounts_store.add_member(db, project_id, user["id"])
    return Principal(user_id=user["id"], email=email, role=role)


async def make_project(db, name: str) -> int:
    return (await accounts_store.create_project(db, name))["id"]


def auth(server, principal: Principal) -> dict[str, str]:
    token, _ = issue_token(server.app, principal)
    return {"Authorization": f"Bearer {token}"}


def row(message: str, *, level: str = "info", source: str = "worker", minutes_ago: float = 0,
        at: datetime | None = None, **columns: Any) -> ActivityRow:  # fmt: skip
    timestamp = at or NOW - timedelta(minutes=minutes_ago)
    return ActivityRow(timestamp=timestamp, level=level, source=source, message=message, **columns)


async def store(server, rows: list[ActivityRow]) -> list[ActivityRow]:
    """Commit rows through the server's batch writer; they come back with their ids."""
    result = await server.runtime.writer.submit(rows)
    assert result.accepted == len(rows), result
    return rows


async def call(session: aiohttp.ClientSession, server, method: str, path: str, principal: Principal | None = None,
               *, params: Any = None, json: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:  # fmt: skip
    """(status, body — JSON when it is JSON, else text —, response headers)."""
    all_headers = {**(auth(server, principal) if principal else {}), **(headers or {})}
    async with session.request(method, server.api_url + path, params=params, json=json, headers=all_headers) as response:
        body = await response.json() if response.content_type == "application/json" else await response.text()
        return response.status, body, response.headers


async def token_for(server, user_id: int, role: str = "admin") -> str:
    """An API token for user ``user_id``, created in the database with ``role`` if missing (the
    server checks the account on every authentication)."""
    async with server.runtime.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO users (id, email, password_hash, role) VALUES ($1, $2, 'x', $3) ON CONFLICT (id) DO NOTHING",
            user_id, f"u{user_id}@x", role,
        )  # fmt: skip
    token, _ = security.issue_token(server.app, security.Principal(user_id=user_id, email=f"u{user_id}@x", role=role))
    return token
