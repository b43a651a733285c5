"""Login, the current user, and the admin endpoints for users, projects, memberships and ingest
tokens (``/api/v1/auth/*``, ``/api/v1/admin/{users,projects,ingest-tokens}``)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from api import accounts_store as store
from api.errors import TooManyRequests, Unauthorized, parse_body, path_int
from api.passwords import hash_password, verify_password
from api.security import Principal, issue_token, principal_of, require_admin

# Verified against when the email is unknown, so that a miss costs as much as a wrong password
# and response times do not tell which emails have accounts.
_DUMMY_HASH = hash_password("not-a-real-password")


class LoginRateLimiter:
    """At most ``max_failures`` failed logins per (email, client address) in ``window_s`` seconds.

    An attempt counts as a failure from the moment it starts and is forgiven when it succeeds, so
    that concurrent guesses cannot all slip in before the first one is counted. Memory is bounded:
    expired keys are pruned, and past ``max_keys`` the oldest keys are dropped."""

    def __init__(self, max_failures: int, window_s: float, *, max_keys: int = 10_000):
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_keys = max_keys
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def begin_attempt(self, key: tuple[str, str]) -> None:
        """Count one attempt; ``TooManyRequests`` (with the wait) when the key is locked out."""
        now = time.monotonic()
        times = self._recent(key, now)
        if len(times) >= self.max_failures:
            retry_after = times[0] + self.window_s - now
            raise TooManyRequests("too many failed logins; try again later", retry_after=int(retry_after) + 1)
        if len(self._failures) >= self.max_keys:
            self._prune(now)
        self._failures.setdefault(key, times).append(now)

    def succeeded(self, key: tuple[str, str]) -> None:
        self._failures.pop(key, None)

    def _prune(self, now: float) -> None:
        for key in list(self._failures):
            self._recent(key, now)
        while len(self._failures) >= self.max_keys:
            self._failures.pop(next(iter(self._failures)))


LOGIN_LIMITER = web.AppKey("login_limiter", LoginRateLimiter)


def _runtime(request: web.Request):  # noqa: ANN202 - api.app imports this module
    from api.app import RUNTIME

    return request.app[RUNTIME]


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    password: str = Field(min_length=8, max_length=1024)
    role: Literal["admin", "creator"]


class NewProject(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)


class NewMember(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: int = Field(ge=1)


class NewIngestToken(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)


async def login(request: web.Request) -> web.Response:
    body = await parse_body(request, LoginBody)
    limiter = request.app[LOGIN_LIMITER]
    key = (body.email.strip().lower(), request.remote or "")
    limiter.begin_attempt(key)
    async with _runtime(request).pool.acquire() as conn:
        user = await store.find_user_by_email(conn, body.email.strip())
    # argon2 takes tens of milliseconds of CPU: keep it off the event loop.
    ok = await asyncio.to_thread(verify_password, user["password_hash"] if user else _DUMMY_HASH, body.password)
    if user is None or not ok:
        raise Unauthorized("invalid email or password")
    limiter.succeeded(key)
    principal = Principal(user_id=user["id"], email=user["email"], role=user["role"])
    token, expires = issue_token(request.app, principal)
    user_json = store.as_json({k: user[k] for k in ("id", "email", "role", "created_at")})
    return web.json_response({"token": token, "token_type": "Bearer", "expires_at": expires, "user": user_json})


async def me(request: web.Request) -> web.Response:
    principal = principal_of(request)
    async with _runtime(request).pool.acquire() as conn:
        user = await store.get_user(conn, principal.user_id)
        if user is None:
            raise Unauthorized("this account no longer exists")
        project_ids = [] if principal.is_admin else await store.list_project_ids(conn, principal.user_id)
    return web.json_response({"user": {**user, "project_ids": project_ids}})


async def create_user(request: web.Request) -> web.Response:
    require_admin(request)
    body = await parse_body(request, NewUser)
    password_hash = await asyncio.to_thread(hash_password, body.password)
    async with _runtime(request).pool.acquire() as conn:
        user = await store.create_user(conn, body.email, password_hash, body.role)
    return web.json_response(user, status=201)


async def list_users(request: web.Request) -> web.Response:
    require_admin(request)
    async with _runtime(request).pool.acquire() as conn:
        return web.json_response({"data": await store.list_users(conn)})


async def create_project(request: web.Request) -> web.Response:
    require_admin(request)
    body = await parse_body(request, NewProject)
    async with _runtime(request).pool.acquire() as conn:
        return web.json_response(await store.create_project(conn, body.name), status=201)


async def list_projects(request: web.Request) -> web.Response:
    require_admin(request)
    async with _runtime(request).pool.acquire() as conn:
        return web.json_response({"data": await store.list_projects(conn)})


async def add_member(request: web.Request) -> web.Response:
    require_admin(request)
    body = await parse_body(request, NewMember)
    project_id = path_int(request, "project_id")
    async with _runtime(request).pool.acquire() as conn:
        return web.json_response(await store.add_member(conn, project_id, body.user_id), status=201)


async def remove_member(request: web.Request) -> web.Response:
    require_admin(request)
    project_id, user_id = path_int(request, "project_id"), path_int(request, "user_id")
    async with _runtime(request).pool.acquire() as conn:
        await store.remove_member(conn, project_id, user_id)
    return web.json_response({"project_id": project_id, "user_id": user_id, "removed": True})


async def list_ingest_tokens(request: web.Request) -> web.Response:
    require_admin(request)
    async with _runtime(request).pool.acquire() as conn:
        return web.json_response({"data": await store.list_ingest_tokens(conn)})


async def create_ingest_token(request: web.Request) -> web.Response:
    require_admin(request)
    body = await parse_body(request, NewIngestToken)
    async with _runtime(request).pool.acquire() as conn:
        return web.json_response(await store.create_ingest_token(conn, body.name), status=201)


async def revoke_ingest_token(request: web.Request) -> web.Response:
    require_admin(request)
    runtime = _runtime(request)
    async with runtime.pool.acquire() as conn:
        revoked: dict[str, Any] = await store.revoke_ingest_token(conn, path_int(request, "token_id"))
    if runtime.ingest_auth is not None:
        runtime.ingest_auth.forget()  # the receivers cache verdicts; make the revocation immediate
    return web.json_response(revoked)


def setup(app: web.Application, max_failures: int, window_s: float) -> None:
    """Register the routes and the login rate limiter."""
    app[LOGIN_LIMITER] = LoginRateLimiter(max_failures, window_s)
    r = app.router
    r.add_post("/api/v1/auth/login", login)
    r.add_get("/api/v1/auth/me", me)
    r.add_post("/api/v1/admin/users", create_user)
    r.add_get("/api/v1/admin/users", list_users)
    r.add_post("/api/v1/admin/projects", create_project)
    r.add_get("/api/v1/admin/projects", list_projects)
    r.add_post(r"/api/v1/admin/projects/{project_id:\d+}/members", add_member)
    r.add_delete(r"/api/v1/admin/projects/{project_id:\d+}/members/{user_id:\d+}", remove_member)
    r.add_get("/api/v1/admin/ingest-tokens", list_ingest_tokens)
    r.add_post("/api/v1/admin/ingest-tokens", create_ingest_token)
    r.add_delete(r"/api/v1/admin/ingest-tokens/{token_id:\d+}", revoke_ingest_token)
