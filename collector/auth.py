"""Ingest authentication: ``Authorization: Bearer <token>`` against ``ingest_tokens``.

Only a SHA-256 of each token is stored (tokens are 256-bit random values, so a slow password hash
adds nothing). Verdicts are cached briefly so that ingest does not query the database per
request: a revoked token stops working within ``cache_ttl`` seconds. While the database cannot be
asked, a token it accepted within the last ``stale_ttl`` seconds is still accepted (its requests
then meet the writer's own answer to the outage); others are told to retry, after a delay that
grows with the outage.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time

import asyncpg

from collector.backoff import RetryAdvice
from collector.db.queries import q
from collector.errors import StoreUnavailable, Unauthenticated

TOKEN_PREFIX = "ac_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def bearer_token(header: str | None, kind: str = "ingest token") -> str:
    """The token of an ``Authorization: Bearer <token>`` header; ``Unauthenticated`` otherwise."""
    if not header:
        raise Unauthenticated(f"missing Authorization header; send 'Authorization: Bearer <{kind}>'")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(f"Authorization must be 'Bearer <{kind}>'")
    return token.strip()


class IngestAuthenticator:
    """Checks ingest tokens against the database, with verdicts cached: a valid token for
    ``cache_ttl`` seconds, an invalid one for ``negative_ttl``. Lookups run one at a time, so that
    a flood of made-up tokens takes at most one of the ingest pool's connections (the batch writer
    needs the others), and invalid tokens have their own bounded cache, so that they can never push
    out the valid ones."""

    def __init__(self, pool: asyncpg.Pool, *, cache_ttl: float = 10.0, negative_ttl: float = 2.0,
                 stale_ttl: float = 600.0, max_cached: int = 10_000):  # fmt: skip
        self._pool = pool
        self.cache_ttl = cache_ttl
        self.stale_ttl = stale_ttl
        self.unavailable_advice = RetryAdvice()
        self.negative_ttl = negative_ttl
        self.max_cached = max_cached
        self._valid: dict[bytes, tuple[int, float]] = {}  # token id, when the database accepted it
        self._invalid: dict[bytes, float] = {}
        self._lookups = asyncio.Semaphore(1)

    async def authenticate(self, authorization: str | None) -> int:
        """The token's id, or ``Unauthenticated``. ``StoreUnavailable`` when it cannot be checked."""
        digest = hash_token(bearer_token(authorization))
        verdict = self._cached(digest)
        if verdict is None:
            async with self._lookups:
                verdict = self._cached(digest)  # another lookup may have answered meanwhile
                if verdict is None:
                    verdict = await self._look_up(digest)
        if verdict is False:
            raise Unauthenticated("invalid or revoked ingest token")
        return verdict

    def _cached(self, digest: bytes) -> int | bool | None:
        now = time.monotonic()
        valid = self._valid.get(digest)
        if valid is not None and now < valid[1] + self.cache_ttl:
            return valid[0]
        invalid_until = self._invalid.get(digest)
        if invalid_until is not None and invalid_until > now:
            return False
        return None

    async def _look_up(self, digest: bytes) -> int | bool:
        try:
            async with self._pool.acquire(timeout=5) as conn:
                token_id = await conn.fetchval(q("use_ingest_token"), digest, timeout=5)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            known = self._valid.get(digest)
            if known is not None and time.monotonic() < known[1] + self.stale_ttl:
                return known[0]  # accepted before the database went away
            raise StoreUnavailable(f"cannot verify the ingest token now ({type(exc).__name__})",
                                   self.unavailable_advice.delay()) from exc  # fmt: skip
        self.unavailable_advice.clear()
        now = time.monotonic()
        if token_id is None:
            if len(self._invalid) >= self.max_cached:
                self._invalid.clear()
            self._invalid[digest] = now + self.negative_ttl
            return False
        if len(self._valid) >= self.max_cached:
            self._valid.clear()
        self._valid[digest] = (token_id, now)
        return token_id

    def forget(self) -> None:
        """Drop cached verdicts (after a revocation in this process)."""
        self._valid.clear()
        self._invalid.clear()


class DuplicateTokenName(Exception):
    """An active ingest token already has this name (names of active tokens are unique)."""


# The partial unique index of migration 0008.
ACTIVE_NAME_INDEX = "ingest_tokens_active_name_key"


async def create_token(conn: asyncpg.Connection, name: str) -> tuple[str, asyncpg.Record]:
    """Create a token; the plaintext is returned once and never stored. ``DuplicateTokenName``
    when an active token already has ``name``."""
    token = new_token()
    try:
        row = await conn.fetchrow(q("insert_ingest_token"), name, hash_token(token), token[:10])
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == ACTIVE_NAME_INDEX:
            raise DuplicateTokenName(name) from None
        raise
    return token, row
