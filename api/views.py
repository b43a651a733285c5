"""Saved views: a name for a query, a time range and a mode, per user (``/api/v1/views``).

A view belongs to the user who saved it; only they change it. An admin may share a view with a
project (``project_id``): its members then see it in their list and may open it, read only. An
admin sees every shared view and may delete any of them; nobody sees another user's unshared
views (a 404, as for a view that does not exist). Opening a view runs its query under the
opener's own scope: sharing a view never shares entries. The SQL is in ``queries.sql``."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

import asyncpg
from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from api.errors import BadQuery, Conflict, Forbidden, NotFound, parse_body, path_int
from api.runtime import RUNTIME
from api.security import principal_of
from collector.contract import QUERY_MAX_CHARS, parse_timestamp
from collector.db.queries import q
from collector.model import format_timestamp
from collector.query import QueryError, parse_query

MAX_VIEWS_PER_USER = 200
_RELATIVE = re.compile(r"^now(-[0-9]{1,6}[smhdw])?$")


def _range_end(value: str | None) -> str | None:
    """``now``, ``now-<n><s|m|h|d|w>`` or an RFC 3339 timestamp, as the console's URL keeps them."""
    if value is None or _RELATIVE.match(value):
        return value
    try:
        parse_timestamp(value)
    except ValueError:
        raise ValueError("must be now, now-<number><s|m|h|d|w> or an RFC 3339 timestamp") from None
    return value


def _name(value: str) -> str:
    value = value.strip()
    if not value or "\x00" in value:
        raise ValueError("must not be blank or contain NUL characters")
    return value


RangeEnd = Annotated[str | None, Field(max_length=64), AfterValidator(_range_end)]
ViewName = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_name)]
Mode = Literal["curated", "verbose"]


class NewView(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: ViewName
    q: str = Field("", max_length=QUERY_MAX_CHARS, description="the query (docs/query.md); empty: everything")
    range_from: RangeEnd = None
    range_to: RangeEnd = None
    mode: Mode | None = None
    project_id: int | None = Field(None, ge=1, description="share with this project (admins only)")


class ViewChange(BaseModel):
    """Only the fields given change; ``null`` clears a range end, the mode or the sharing."""

    model_config = ConfigDict(extra="forbid")
    name: ViewName | None = None
    q: str | None = Field(None, max_length=QUERY_MAX_CHARS)
    range_from: RangeEnd = None
    range_to: RangeEnd = None
    mode: Mode | None = None
    project_id: int | None = Field(None, ge=1)


class View(BaseModel):
    id: int
    owner_id: int
    owner_email: str
    name: str
    q: str
    range_from: str | None
    range_to: str | None
    mode: Mode | None
    project_id: int | None
    project_name: str | None
    created_at: datetime
    updated_at: datetime


class ViewList(BaseModel):
    data: list[View]


def _check_query(text: str | None) -> None:
    if not text:
        return
    try:
        parse_query(text)
    except QueryError as exc:
        raise BadQuery(f"q: {exc}", exc.position) from None


def _json(record: asyncpg.Record) -> dict[str, Any]:
    return {k: format_timestamp(v) if isinstance(v, datetime) else v for k, v in dict(record).items()}


async def _load(conn: asyncpg.Connection, view_id: int, user_id: int, is_admin: bool) -> dict[str, Any]:
    row = await conn.fetchrow(q("get_saved_view"), view_id, user_id, is_admin)
    if row is None:
        raise NotFound(f"no view {view_id}")
    return _json(row)


async def list_views(request: web.Request) -> web.Response:
    principal = principal_of(request)
    async with request.app[RUNTIME].pool.acquire() as conn:
        rows = await conn.fetch(q("list_saved_views"), principal.user_id, principal.is_admin)
    return web.json_response({"data": [_json(r) for r in rows]})


async def get_view(request: web.Request) -> web.Response:
    principal = principal_of(request)
    async with request.app[RUNTIME].pool.acquire() as conn:
        return web.json_response(await _load(conn, path_int(request, "view_id"), principal.user_id, principal.is_admin))


async def create_view(request: web.Request) -> web.Response:
    principal = principal_of(request)
    body = await parse_body(request, NewView)
    _check_query(body.q)
    if body.project_id is not None and not principal.is_admin:
        raise Forbidden("only admins share views with a project")
    async with request.app[RUNTIME].pool.acquire() as conn:
        async with conn.transaction():
            if await conn.fetchval(q("count_saved_views"), principal.user_id) >= MAX_VIEWS_PER_USER:
                raise Conflict(f"at most {MAX_VIEWS_PER_USER} saved views per user: delete one first")
            try:
                view_id = await conn.fetchval(q("insert_saved_view"), principal.user_id, body.name, body.q,
                                              body.range_from, body.range_to, body.mode, body.project_id)  # fmt: skip
            except asyncpg.UniqueViolationError:
                raise Conflict(f"you already have a view named {body.name!r}") from None
            except asyncpg.ForeignKeyViolationError:
                raise NotFound(f"no project {body.project_id}") from None
        view = await _load(conn, view_id, principal.user_id, principal.is_admin)
    return web.json_response(view, status=201)


async def change_view(request: web.Request) -> web.Response:
    principal = principal_of(request)
    view_id = path_int(request, "view_id")
    body = await parse_body(request, ViewChange)
    _check_query(body.q)
    given = body.model_fields_set
    if "project_id" in given and not principal.is_admin:
        raise Forbidden("only admins share views with a project")
    cleared = [name for name in ("range_from", "range_to", "mode", "project_id") if name in given
               and getattr(body, name) is None]  # fmt: skip
    async with request.app[RUNTIME].pool.acquire() as conn:
        current = await _load(conn, view_id, principal.user_id, principal.is_admin)
        if current["owner_id"] != principal.user_id:
            raise Forbidden("only the view's owner changes it")
        try:
            await conn.fetchval(q("update_saved_view"), view_id, principal.user_id, body.name, body.q,
                                body.range_from, body.range_to, body.mode, body.project_id, cleared)  # fmt: skip
        except asyncpg.UniqueViolationError:
            raise Conflict(f"you already have a view named {body.name!r}") from None
        except asyncpg.ForeignKeyViolationError:
            raise NotFound(f"no project {body.project_id}") from None
        return web.json_response(await _load(conn, view_id, principal.user_id, principal.is_admin))


async def delete_view(request: web.Request) -> web.Response:
    principal = principal_of(request)
    view_id = path_int(request, "view_id")
    async with request.app[RUNTIME].pool.acquire() as conn:
        current = await _load(conn, view_id, principal.user_id, principal.is_admin)
        if current["owner_id"] != principal.user_id and not principal.is_admin:
            raise Forbidden("only the view's owner or an admin deletes it")
        await conn.fetchval(q("delete_saved_view"), view_id, principal.user_id, principal.is_admin)
    return web.json_response({"id": view_id, "deleted": True})


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/views", list_views)
    r.add_post("/api/v1/views", create_view)
    r.add_get(r"/api/v1/views/{view_id:\d+}", get_view)
    r.add_patch(r"/api/v1/views/{view_id:\d+}", change_view)
    r.add_delete(r"/api/v1/views/{view_id:\d+}", delete_view)
