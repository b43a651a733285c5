"""Login, the current user, and the admin endpoints for users, projects, memberships and ingest
tokens (``/api/v1/auth/*``, ``/api/v1/admin/{users,projects,ingest-tokens}``)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Callable, Hashable, Literal, TypeVar

from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from api import accounts_store as store
from api.errors import MAX_BIGINT, BadRequest, ServiceUnavailable, TooManyRequests, Unauthorized, parse_body, path_int
from api.passwords import hash_password, password_problem, verify_password
from api.security import Principal, issue_token, principal_of, require_admin
from api.security_events import SECURITY_EVENTS
from api.runtime import RUNTIME, Runtime

ResultT = TypeVar("ResultT")

# Verified against when the email is unknown, so that a miss costs as much as a wrong password
# and response times do not tell which emails have accounts.
_DUMMY_HASH = hash_password("not-a-real-password")


class FailureWindow:
    """Failure times per key over the last ``window_s`` seconds; a key with ``limit`` of them is
    locked out. Memory is bounded: expired keys are pruned, and past ``max_keys`` the oldest keys
    are dropped (a tenth at a time, so that a full table is not walked on every attempt)."""

    def __init__(self, limit: int, window_s: float, max_keys: int):
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._times: dict[Hashable, deque[float]] = {}

    def __len__(self) -> int:
        return len(self._times)

    def _recent(self, key: Hashable, now: float) -> deque[float]:
        times = self._times.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._times[key]
        return times

    def wait_s(self, key: Hashable, now: float) -> float | None:
        """Seconds until ``key`` may try again, or None when it may now."""
        times = self._recent(key, now)
        if len(times) < self.limit:
            return None
        # One more attempt is allowed once all but limit - 1 of the failures have expired.
        return times[len(times) - self.limit] + self.window_s - now

    def add(self, key: Hashable, now: float) -> None:
        times = self._recent(key, now)
        if key not in self._times and len(self._times) >= self.max_keys:
            self._prune(now)
        self._times.setdefault(key, times).append(now)

    def forgive(self, key: Hashable, when: float) -> None:
        """Take back the one failure counted at ``when`` (if it is still counted)."""
        times = self._times.get(key)
        if times is None:
            return
        try:
            times.remove(when)
        except ValueError:
            pass
        if not times:
            del self._times[key]

    def clear(self, key: Hashable) -> None:
        self._times.pop(key, None)

    def _prune(self, now: float) -> None:
        for key in list(self._times):
            self._recent(key, now)
        keep = self.max_keys * 9 // 10
        while len(self._times) > keep:
            self._times.pop(next(iter(self._times)))


@dataclass(frozen=True)
class LoginAttempt:
    email: str  # lower-cased and trimmed
    address: str
    started: float  # time.monotonic(); identifies this attempt's failure in the counts


class LoginRateLimiter:
    """Failed logins over the last ``window_s`` seconds, counted three ways, each with its limit:

    - per (email, client address), ``max_failures``: someone guessing one account from one place;
    - per client address across all emails, ``max_failures_per_address``: one client spraying a
      password over many accounts, or sending random emails to keep argon2 busy;
    - per email across all addresses, ``max_failures_per_account``: many clients against one account.

    Emails are keyed lower-cased and trimmed whether or not an account has them, so that the
    answers never tell which emails exist. An attempt counts as a failure from the moment it
    starts, so that concurrent guesses cannot all slip in before the first one is counted. A
    success clears its (email, address) count, and takes back only its own attempt from the other
    two: logging into one's own account must not wipe an address's failures against others."""

    def __init__(self, max_failures: int, window_s: float, *, max_failures_per_address: int = 30,
                 max_failures_per_account: int = 50, max_keys: int = 10_000):  # fmt: skip
        self.window_s = window_s
        self._pairs = FailureWindow(max_failures, window_s, max_keys)
        self._addresses = FailureWindow(max_failures_per_address, window_s, max_keys)
        self._accounts = FailureWindow(max_failures_per_account, window_s, max_keys)

    @property
    def tracked_keys(self) -> int:
        """Keys held across the three counts (each holds at most ``max_keys``)."""
        return len(self._pairs) + len(self._addresses) + len(self._accounts)

    def begin_attempt(self, email: str, address: str) -> LoginAttempt:
        """Count one attempt; ``TooManyRequests`` (with the wait) when any of its counts is full."""
        now = time.monotonic()
        email = email.strip().lower()
        counts = ((self._pairs, (email, address)), (self._addresses, address), (self._accounts, email))
        waits = [wait for count, key in counts if (wait := count.wait_s(key, now)) is not None]
        if waits:
            raise TooManyRequests("too many failed logins; try again later", retry_after=int(max(waits)) + 1)
        for count, key in counts:
            count.add(key, now)
        return LoginAttempt(email, address, now)

    def succeeded(self, attempt: LoginAttempt) -> None:
        self._pairs.clear((attempt.email, attempt.address))
        self._addresses.forgive(attempt.address, attempt.started)
        self._accounts.forgive(attempt.email, attempt.started)


class PasswordHashLimiter:
    """At most ``concurrency`` password hashes (argon2 verify or hash) at once, each in a worker
    thread, and at most ``queue`` callers waiting for a turn; beyond that ``ServiceUnavailable``.
    Each hash takes tens of milliseconds of CPU and 64 MiB by design: unbounded, a burst of logins
    takes every core and delays everything else, real logins included, by seconds."""

    def __init__(self, concurrency: int, queue: int):
        self.concurrency = concurrency
        self.queue = queue
        self._turns = asyncio.Semaphore(concurrency)
        self._holding = 0  # callers with a turn, until their thread has finished
        self.waiting = 0  # callers waiting for a turn
        self._lock = threading.Lock()
        self._running = 0
        self.hashes = 0  # hashes started
        self.max_concurrent = 0  # the most hashes seen running at once, counted in the threads

    async def run(self, function: Callable[..., ResultT], *args: Any) -> ResultT:
        """``function(*args)`` in a worker thread when a turn is free."""
        if self._holding + self.waiting >= self.concurrency + self.queue:
            raise ServiceUnavailable("too many logins in progress; retry shortly", retry_after=1)
        self.waiting += 1
        try:
            await self._turns.acquire()
        finally:
            self.waiting -= 1
        self._holding += 1
        future = asyncio.get_running_loop().run_in_executor(None, self._counted, function, args)
        # A thread cannot be stopped: the turn is given back when it ends, not when the caller
        # gives up waiting (a client that disconnects), or the cap would not hold.
        future.add_done_callback(self._give_back)
        return await asyncio.shield(future)

    def _give_back(self, future: asyncio.Future) -> None:
        self._holding -= 1
        self._turns.release()
        if not future.cancelled():
            future.exception()  # retrieved here too: the caller may be gone

    def _counted(self, function: Callable[..., ResultT], args: tuple[Any, ...]) -> ResultT:
        with self._lock:
            self._running += 1
            self.hashes += 1
            self.max_concurrent = max(self.max_concurrent, self._running)
        try:
            return function(*args)
        finally:
            with self._lock:
                self._running -= 1


LOGIN_LIMITER = web.AppKey("login_limiter", LoginRateLimiter)
PASSWORD_HASH_LIMITER = web.AppKey("password_hash_limiter", PasswordHashLimiter)


def _runtime(request: web.Request) -> Runtime:
    return request.app[RUNTIME]


def _without_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL: refused here rather than failing in the database.
    if "\x00" in value:
        raise PydanticCustomError("nul_character", "must not contain NUL characters")
    return value


NulFreeStr = Annotated[str, AfterValidator(_without_nul)]
Role = Literal["admin", "creator"]


# --- request bodies ------------------------------------------------------------------------------


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    email: NulFreeStr = Field(min_length=1, max_length=320)
    password: NulFreeStr = Field(min_length=1, max_length=1024)


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: NulFreeStr = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    password: NulFreeStr  # its length and the rest: password_problem
    role: Role

    @field_validator("password")
    @classmethod
    def _acceptable(cls, password: str, info: ValidationInfo) -> str:
        problem = password_problem(password, info.data.get("email"))
        if problem is not None:
            raise PydanticCustomError("weak_password", "{problem}", {"problem": problem})
        return password


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role


class PasswordReset(BaseModel):
    """An admin's new password for a user; the same rules as at creation (the rule against the
    email's name is checked by the handler, which knows the email)."""

    model_config = ConfigDict(extra="forbid")
    password: NulFreeStr

    @field_validator("password")
    @classmethod
    def _acceptable(cls, password: str) -> str:
        problem = password_problem(password)
        if problem is not None:
            raise PydanticCustomError("weak_password", "{problem}", {"problem": problem})
        return password


class NewProject(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: NulFreeStr = Field(min_length=1, max_length=200)


class ProjectRename(NewProject):
    pass


class NewMember(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: int = Field(ge=1, le=MAX_BIGINT)


class NewIngestToken(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: NulFreeStr = Field(min_length=1, max_length=200)


# --- responses (the handlers send the store's dicts; these are their shapes, for the OpenAPI
# document and the tests that hold the handlers to them) ------------------------------------------


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class User(_Response):
    id: int
    email: str
    role: Role
    created_at: datetime


class ProjectName(_Response):
    id: int
    name: str


class UserWithProjects(User):
    project_ids: list[int] = Field(description="the projects a creator belongs to; empty for admins")
    projects: list[ProjectName] = Field(
        description="the same projects with their names, ordered by name (what a creator may see, "
        "besides system entries); empty for admins"
    )


class CurrentUser(_Response):
    """``GET /api/v1/auth/me``."""

    user: UserWithProjects


class LoginResult(_Response):
    token: str = Field(description="a JWT (HS256); send it as Authorization: Bearer <token>")
    token_type: Literal["Bearer"]
    expires_at: int = Field(description="Unix seconds")
    user: User


class UserList(_Response):
    data: list[User]


class DeletedUser(_Response):
    id: int
    email: str
    deleted: Literal[True]


class Project(_Response):
    id: int
    name: str
    created_at: datetime
    member_ids: list[int]


class ProjectList(_Response):
    data: list[Project]


class DeletedProject(_Response):
    id: int
    name: str
    deleted: Literal[True]


class Membership(_Response):
    project_id: int
    user_id: int
    created_at: datetime


class MembershipRemoved(_Response):
    project_id: int
    user_id: int
    removed: Literal[True]


class IngestToken(_Response):
    id: int
    name: str
    token_prefix: str = Field(description="the token's first characters, to recognise it in lists")
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class CreatedIngestToken(IngestToken):
    token: str = Field(description="the token itself: in this response only, never stored")


class IngestTokenList(_Response):
    data: list[IngestToken]


class RevokedIngestToken(_Response):
    id: int
    name: str


# --- handlers ------------------------------------------------------------------------------------


async def login(request: web.Request) -> web.Response:
    body = await parse_body(request, LoginBody)
    limiter = request.app[LOGIN_LIMITER]
    # Before any hashing: a refused attempt costs no argon2.
    attempt = limiter.begin_attempt(body.email, request.remote or "")
    async with _runtime(request).pool.acquire() as conn:
        user = await store.find_user_by_email(conn, body.email.strip())
    ok = await request.app[PASSWORD_HASH_LIMITER].run(
        verify_password, user["password_hash"] if user else _DUMMY_HASH, body.password
    )
    if user is None or not ok:
        request.app[SECURITY_EVENTS].record("login_failed", request.remote, body.email)
        raise Unauthorized("invalid email or password")
    limiter.succeeded(attempt)
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
        projects = [] if principal.is_admin else await store.list_user_projects(conn, principal.user_id)
    project_ids = sorted(p["id"] for p in projects)
    return web.json_response({"user": {**user, "project_ids": project_ids, "projects": projects}})


async def create_user(request: web.Request) -> web.Response:
    require_admin(request)
    body = await parse_body(request, NewUser)
    password_hash = await request.app[PASSWORD_HASH_LIMITER].run(hash_password, body.password)
    async with _runtime(request).pool.acquire() as conn:
        user = await store.create_user(conn, body.email, password_hash, body.role)
    return web.json_response(user, status=201)


async def list_users(request: web.Request) -> web.Response:
    require_admin(request)
    async with _runtime(request).pool.acquire() as conn:
        return web.json_response({"data": await store.list_users(conn)})


async def change_user_role(request: web.Request) -> web.Response:
    require_admin(request)
    body = await parse_body(request, RoleChange)
    async with _runtime(request).pool.acquire() as conn:
        # The account's next request reads the new role (security.current_principal); open live
        # tails hear of it through the users_changed trigger.
        return web.json_response(await store.set_user_role(conn, path_int(request, "user_id"), body.role))


async def reset_user_password(request: web.Request) -> web.Response:
    require_admin(request)
    body = await parse_body(request, PasswordReset)
    user_id = path_int(request, "user_id")
    async with _runtime(request).pool.acquire() as conn:
        email = await store.get_user_email(conn, user_id)
    problem = password_problem(body.password, email)
    if problem is not None:
        raise BadRequest(f"password: {problem}")
    password_hash = await request.app[PASSWORD_HASH_LIMITER].run(hash_password, body.password)
    async with _runtime(request).pool.acquire() as conn:
        return web.json_response(await store.set_user_password(conn, user_id, password_hash))


async def delete_user(request: web.Request) -> web.Response:
    admin = require_admin(request)
    async with _runtime(request).pool.acquire() as conn:
        deleted = await store.delete_user(conn, path_int(request, "user_id"), deleted_by=admin.user_id)
    return web.json_response({**deleted, "deleted": True})


async def create_project(request: web.Request) -> web.Response:
    require_admin(request)
    body = await parse_body(request, NewProject)
    async with _runtime(request).pool.acquire() as conn:
        return web.json_response(await store.create_project(conn, body.name), status=201)


async def list_projects(request: web.Request) -> web.Response:
    require_admin(request)
    async with _runtime(request).pool.acquire() as conn:
        return web.json_response({"data": await store.list_projects(conn)})


async def rename_project(request: web.Request) -> web.Response:
    require_admin(request)
    body = await parse_body(request, ProjectRename)
    async with _runtime(request).pool.acquire() as conn:
        return web.json_response(await store.rename_project(conn, path_int(request, "project_id"), body.name))


async def delete_project(request: web.Request) -> web.Response:
    require_admin(request)
    async with _runtime(request).pool.acquire() as conn:
        deleted = await store.delete_project(conn, path_int(request, "project_id"))
    return web.json_response({**deleted, "deleted": True})


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
    runtime.ingest_auth.forget()  # the receivers cache verdicts; make the revocation immediate
    return web.json_response(revoked)


def setup(app: web.Application, max_failures: int, window_s: float) -> None:
    """Register the routes, the login rate limiter and the password-hashing limiter (their other
    settings come from the application's ``Settings``)."""
    settings = app[RUNTIME].settings
    app[LOGIN_LIMITER] = LoginRateLimiter(
        max_failures, window_s,
        max_failures_per_address=settings.login_max_failures_per_address,
        max_failures_per_account=settings.login_max_failures_per_account,
    )  # fmt: skip
    app[PASSWORD_HASH_LIMITER] = PasswordHashLimiter(settings.login_hash_concurrency, settings.login_queue)
    r = app.router
    r.add_post("/api/v1/auth/login", login)
    r.add_get("/api/v1/auth/me", me)
    r.add_post("/api/v1/admin/users", create_user)
    r.add_get("/api/v1/admin/users", list_users)
    r.add_patch(r"/api/v1/admin/users/{user_id:\d+}", change_user_role)
    r.add_put(r"/api/v1/admin/users/{user_id:\d+}/password", reset_user_password)
    r.add_delete(r"/api/v1/admin/users/{user_id:\d+}", delete_user)
    r.add_post("/api/v1/admin/projects", create_project)
    r.add_get("/api/v1/admin/projects", list_projects)
    r.add_patch(r"/api/v1/admin/projects/{project_id:\d+}", rename_project)
    r.add_delete(r"/api/v1/admin/projects/{project_id:\d+}", delete_project)
    r.add_post(r"/api/v1/admin/projects/{project_id:\d+}/members", add_member)
    r.add_delete(r"/api/v1/admin/projects/{project_id:\d+}/members/{user_id:\d+}", remove_member)
    r.add_get("/api/v1/admin/ingest-tokens", list_ingest_tokens)
    r.add_post("/api/v1/admin/ingest-tokens", create_ingest_token)
    r.add_delete(r"/api/v1/admin/ingest-tokens/{token_id:\d+}", revoke_ingest_token)
