"""Connection pools with the project's type codecs, and the embedded PostgreSQL server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any, AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import orjson

from collector.model import dumps

log = logging.getLogger(__name__)


def _encode_jsonb(value: Any) -> bytes:
    # Binary jsonb is a version byte (1) followed by the JSON text. Pre-serialised JSON may be
    # passed as bytes (the batch writer does, to serialise each row once).
    return b"\x01" + (value if isinstance(value, bytes) else dumps(value))


def _decode_jsonb(data: bytes) -> Any:
    return orjson.loads(data[1:])


def with_database(url: str, name: str) -> str:
    """``url`` with its database replaced by ``name``."""
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


async def init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb", schema="pg_catalog", encoder=_encode_jsonb, decoder=_decode_jsonb, format="binary"
    )


# What every pooled connection sets.
# - JIT off: the console's queries are short index walks, and PostgreSQL's cost estimate for a
#   scoped filter can trigger JIT compilation that costs ten times the query (measured with
#   bench/query.py: 268 ms of JIT for 18 ms of work).
# - A plan made for each run's values: asyncpg prepares every statement, and after five runs
#   PostgreSQL may reuse one plan made without them. Such a plan cannot leave out the partitions
#   outside a page's time range, see today's partial indexes, or tell a rare query value from a
#   common one; a rare word's page took 110 ms instead of 8 once it was used (bench/query.py).
POOL_SERVER_SETTINGS = {"jit": "off", "plan_cache_mode": "force_custom_plan"}

# The ingest pool's connections run the writer's flushes and the ingest token lookups: statements
# the same on every call that read no partition by time. There PostgreSQL may keep its plans, which
# the flush's PL/pgSQL bookkeeping relies on (migration 0013: replanned on every call, it cost a
# flush's backend 0.1 ms of CPU more, bench/writer_flush.py).
INGEST_POOL_SERVER_SETTINGS = {"plan_cache_mode": "auto"}


async def keep_ingest_session(conn: asyncpg.Connection) -> None:
    """The ingest pool's reset of a released connection: nothing beyond what asyncpg always does
    (roll back an open transaction, drop listeners). The statements run on these connections leave
    no session state behind: no SET, LISTEN or cursor, and the one session-level lock, the
    commit-order lock, is given back inside the protected block of ``activity_reserve_flush``,
    also when it fails or is cancelled (migration 0013, tests/integration/test_commit_turns.py);
    a flush that fails gives back every session lock before its connection goes back
    (collector/writer.py). asyncpg's default reset (advisory unlock, CLOSE ALL, UNLISTEN,
    RESET ALL) would cost every flush one more round trip."""


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10, **kwargs: Any) -> asyncpg.Pool:
    server_settings = {**POOL_SERVER_SETTINGS, **kwargs.pop("server_settings", {})}
    return await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=init_connection, server_settings=server_settings, **kwargs
    )


async def create_ingest_pool(dsn: str, *, min_size: int = 1, max_size: int = 10, **kwargs: Any) -> asyncpg.Pool:
    """A pool for the writer and the token lookups: plans kept, no reset query on release."""
    server_settings = {**INGEST_POOL_SERVER_SETTINGS, **kwargs.pop("server_settings", {})}
    return await create_pool(dsn, min_size=min_size, max_size=max_size, reset=keep_ingest_session,
                             server_settings=server_settings, **kwargs)  # fmt: skip


async def connect(dsn: str, **kwargs: Any) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn, **kwargs)
    await init_connection(conn)
    return conn


class EmbeddedPostgres:
    """A PostgreSQL server run from the ``pgserver`` package's binaries, with its data in
    ``data_dir``. Used when no database URL is configured."""

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self._server: Any = None

    async def start(self) -> str:
        import pgserver  # imported here: only the embedded mode needs it

        pgdata = self.data_dir / "pgdata"
        pgdata.mkdir(parents=True, exist_ok=True)
        log.info("starting embedded PostgreSQL in %s", pgdata)
        self._server = await asyncio.to_thread(pgserver.get_server, pgdata, cleanup_mode="stop")
        return self._server.get_uri()

    async def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            await asyncio.to_thread(server.cleanup)
            log.info("embedded PostgreSQL stopped")


@contextlib.asynccontextmanager
async def running_postgres(database_url: str | None, data_dir: Path) -> AsyncIterator[str]:
    """The URL of the PostgreSQL to use for the block: ``database_url`` when given, else that of
    an embedded server with its data in ``data_dir``, started here and stopped when the block ends
    (pgserver shares a server already running there with other processes, and stops it with its
    last user)."""
    if database_url:
        yield database_url
        return
    embedded = EmbeddedPostgres(data_dir)
    try:
        yield await embedded.start()
    finally:
        await embedded.stop()
