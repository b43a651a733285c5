"""API authentication and authorisation.

- API tokens are JWTs signed with HS256 (the algorithm is pinned when verifying, so ``alg: none``
  or an RS/HS confusion is refused). Claims: ``sub`` (user id, as a string per RFC 7519),
  ``email``, ``role``, ``iat``, ``exp`` (``Settings.jwt_ttl_s``, 12 h by default).
- The key comes from ``ACTIVITY_JWT_SECRET`` (``Settings.jwt_secret``), else it is generated once
  and kept in ``<data_dir>/jwt-secret`` (mode 0600), so tokens survive a restart.
- ``auth_middleware`` authenticates ``Authorization: Bearer <jwt>`` on every ``/api/v1/*`` path
  except the public ones (login, the OpenAPI document) and stores the ``Principal`` on the request.
- ``load_scope`` turns a principal into the ``Scope`` every log read is filtered by.

Public names used by other modules (the WebSocket live tail among them): ``Principal``,
``verify_token``, ``load_scope``, ``principal_of``, ``require_admin``, ``InvalidToken``.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable

import asyncpg
import jwt
from aiohttp import web

from api.bootstrap import _read_secret, _write_secret
from api.errors import Forbidden, Unauthorized
from api.settings import Settings
from collector.auth import bearer_token
from collector.db.queries import q
from collector.db.repository import Scope
from collector.errors import Unauthenticated
from api.runtime import RUNTIME

JWT_ALGORITHM = "HS256"
JWT_SECRET_FILE = "jwt-secret"
API_V1 = "/api/v1/"
# Paths under /api/v1/ that need no token.
# The ingest status is public like /readyz and /metrics (totals only), and must answer while the
# database, which checking a token needs, is away: that is when the console shows it.
PUBLIC_PATHS = frozenset({"/api/v1/auth/login", "/api/v1/openapi.json", "/api/v1/ingest/status"})
# One-time export links (``api.logs.ExportLinks``) are fetched by the browser's own download,
# which cannot send a token: the signed link is the credential, checked by its handler.
PUBLIC_GET_PREFIXES = ("/api/v1/activity-logs/export-links/",)
ROLES = ("admin", "creator")


class InvalidToken(Unauthorized):
    """The token is missing, malformed, badly signed, of another algorithm, or expired (401)."""

    def __init__(self, message: str):
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="activity-console"'})


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller, as the token says."""

    user_id: int
    email: str
    role: str  # admin | creator
    # The token's expiry (Unix seconds) when the principal came from a token: a long-lived
    # connection (the live tail) is closed then.
    expires_at: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class TokenSigner:
    """The JWT key and lifetime of one server."""

    secret: str
    ttl_s: int

    def issue(self, principal: Principal, *, now: float | None = None) -> tuple[str, int]:
        """A signed token for ``principal`` and its expiry (Unix seconds)."""
        issued = int(time.time() if now is None else now)
        expires = issued + self.ttl_s
        claims = {"sub": str(principal.user_id), "email": principal.email, "role": principal.role,
                  "iat": issued, "exp": expires}  # fmt: skip
        return jwt.encode(claims, self.secret, algorithm=JWT_ALGORITHM), expires

    def verify(self, token: str) -> Principal:
        """The principal of a valid token, else ``InvalidToken``."""
        try:
            claims = jwt.decode(
                token, self.secret, algorithms=[JWT_ALGORITHM],
                options={"require": ["sub", "exp", "iat", "role"]},
            )  # fmt: skip
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the token has expired; log in again") from None
        except jwt.InvalidTokenError:
            raise InvalidToken("invalid token") from None
        role = claims.get("role")
        try:
            user_id = int(claims["sub"])
        except (TypeError, ValueError):
            raise InvalidToken("invalid token") from None
        if role not in ROLES:
            raise InvalidToken("invalid token")
        return Principal(user_id=user_id, email=str(claims.get("email", "")), role=role, expires_at=int(claims["exp"]))


TOKEN_SIGNER = web.AppKey("token_signer", TokenSigner)
PRINCIPAL = web.RequestKey("principal", Principal)


def load_jwt_secret(settings: Settings) -> str:
    """The configured key, else the one saved in the data directory, else a new one saved there."""
    if settings.jwt_secret:
        return settings.jwt_secret
    path = Path(settings.data_dir) / JWT_SECRET_FILE
    saved = _read_secret(path)
    if saved is not None and len(saved) >= 32:
        return saved
    secret = secrets.token_urlsafe(48)
    _write_secret(path, secret + "\n")
    return secret


def setup(app: web.Application, settings: Settings) -> None:
    """Attach the token signer to the application (called by ``create_app``)."""
    app[TOKEN_SIGNER] = TokenSigner(secret=load_jwt_secret(settings), ttl_s=settings.jwt_ttl_s)


def verify_token(app: web.Application, token: str) -> Principal:
    """The principal of an API token for this application; ``InvalidToken`` (401) otherwise.
    Does not touch the database (the WebSocket live tail calls it on its ``auth`` message)."""
    if not token or not isinstance(token, str):
        raise InvalidToken("missing token")
    return app[TOKEN_SIGNER].verify(token)


def issue_token(app: web.Application, principal: Principal) -> tuple[str, int]:
    """A new API token for ``principal`` and its expiry (Unix seconds)."""
    return app[TOKEN_SIGNER].issue(principal)


async def current_principal(pool: asyncpg.Pool, principal: Principal) -> Principal:
    """The caller as the database says now, not as the token said when issued: a deleted account
    is refused and a changed role applies at once instead of when the token expires."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(q("get_user"), principal.user_id)
    if row is None:
        raise InvalidToken("this account no longer exists")
    return Principal(user_id=row["id"], email=row["email"], role=row["role"], expires_at=principal.expires_at)


async def load_scope(conn: asyncpg.Connection, principal: Principal) -> Scope:
    """What ``principal`` may read: everything for an admin; for a creator their own entries,
    their projects' entries and system entries (``repository.where_clause`` applies it)."""
    if principal.is_admin:
        return Scope.admin()
    rows = await conn.fetch(q("list_user_project_ids"), principal.user_id)
    return Scope(is_admin=False, user_id=principal.user_id, project_ids=[r["project_id"] for r in rows])


def bearer_from_header(header: str | None) -> str:
    """The token of ``Authorization: Bearer <token>``; ``InvalidToken`` otherwise."""
    try:
        return bearer_token(header, kind="token")
    except Unauthenticated as exc:
        raise InvalidToken(str(exc)) from None


def principal_of(request: web.Request) -> Principal:
    """The authenticated caller of a request that went through ``auth_middleware``."""
    principal = request.get(PRINCIPAL)
    if principal is None:
        raise InvalidToken("authentication required")
    return principal


def require_admin(request: web.Request) -> Principal:
    """The caller, who must be an admin (403 otherwise)."""
    principal = principal_of(request)
    if not principal.is_admin:
        raise Forbidden("this endpoint is for admins only")
    return principal


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Require a valid API token on ``/api/v1/*`` except ``PUBLIC_PATHS``. Runs inside
    ``errors.error_middleware``, so a 401 comes out in the API's error shape."""
    public_get = request.method == "GET" and any(
        request.path.startswith(prefix) and "/" not in request.path[len(prefix):] for prefix in PUBLIC_GET_PREFIXES)
    if request.path.startswith(API_V1) and request.path not in PUBLIC_PATHS and not public_get:
        token = bearer_from_header(request.headers.get("Authorization"))
        principal = verify_token(request.app, token)
        request[PRINCIPAL] = await current_principal(request.app[RUNTIME].pool, principal)
    return await handler(request)

