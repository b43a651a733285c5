"""Ingest authentication: ``Authorization: Bearer <token>`` against ``ingest_tokens``.

Only a SHA-256 of each token is stored (tokens are 256-bit random values, so a slow password hash
adds nothing). Verdicts are cached briefly so that ingest does not query the database per
request: a revoked token stops working within ``cache_ttl`` seconds.
"""

from __future__ import annotations

import hashlib
import secrets
import time

import asyncpg

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
    def __init__(self, pool: asyncpg.Pool, *, cache_ttl: float = 10.0, negative_ttl: float = 2.0):
        self._pool = pool
        self.cache_ttl = cache_ttl
        self.negative_ttl = negative_ttl
        self._cache: dict[bytes, tuple[int | None, float]] = {}

    async def authenticate(self, authorization: str | None) -> int:
        """The token's id, or ``Unauthenticated``. ``StoreUnavailable`` when it cannot be checked."""
        digest = hash_token(bearer_token(authorization))
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is None or cached[1] <= now:
            try:
                async with self._pool.acquire(timeout=5) as conn:
                    token_id = await conn.fetchval(q("use_ingest_token"), digest, timeout=5)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                raise StoreUnavailable(f"cannot verify the ingest token now ({type(exc).__name__})") from exc
            if len(self._cache) > 10_000:
                self._cache.clear()
            ttl = self.cache_ttl if token_id is not None else self.negative_ttl
            cached = self._cache[digest] = (token_id, now + ttl)
        if cached[0] is None:
            raise Unauthenticated("invalid or revoked ingest token")
        return cached[0]

    def forget(self) -> None:
        """Drop cached verdicts (after a revocation in this process)."""
        self._cache.clear()


async def create_token(conn: asyncpg.Connection, name: str) -> tuple[str, asyncpg.Record]:
    """Create a token; the plaintext is returned once and never stored."""
    token = new_token()
    row = await conn.fetchrow(q("insert_ingest_token"), name, hash_token(token), token[:10])
    return token, row
