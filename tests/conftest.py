"""Test fixtures: a real PostgreSQL (this machine's when TEST_DATABASE_URL or DATABASE_URL is set,
else an embedded one from pgserver), one fresh database per test cloned from a migrated template,
and a running server on free ports."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import tempfile
from pathlib import Path
from typing import AsyncIterator

import asyncpg
import pytest

from collector.db import migrate
from collector.db.connect import connect, running_postgres, with_database
from tests.support.server import InProcessServer, start_server

_counter = itertools.count()


@pytest.fixture(scope="session")
async def pg_admin_url() -> AsyncIterator[str]:
    data_dir = Path(tempfile.mkdtemp(prefix="ac-test-pg-"))  # used only by an embedded server
    try:
        async with running_postgres(os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL"),
                                    data_dir) as url:  # fmt: skip
            yield url
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
async def template_db(pg_admin_url: str) -> AsyncIterator[str]:
    name = f"ac_template_{os.getpid()}"
    admin = await asyncpg.connect(pg_admin_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name}")
        await admin.execute(f"CREATE DATABASE {name}")
        conn = await connect(with_database(pg_admin_url, name))
        try:
            await migrate.apply(conn)
        finally:
            await conn.close()
        yield name
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def _new_database(pg_admin_url: str, prefix: str, template: str | None = None) -> AsyncIterator[str]:
    name = f"{prefix}_{os.getpid()}_{next(_counter)}"
    admin = await asyncpg.connect(pg_admin_url)
    try:
        await admin.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
        yield with_database(pg_admin_url, name)
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture
async def database_url(pg_admin_url: str, template_db: str) -> AsyncIterator[str]:
    """A fresh, migrated database for one test."""
    async with _new_database(pg_admin_url, "ac_test", template_db) as url:
        yield url


@pytest.fixture
async def empty_database(pg_admin_url: str) -> AsyncIterator[str]:
    """A new database without any migration applied (tests of the migrations themselves)."""
    async with _new_database(pg_admin_url, "ac_empty") as url:
        yield url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await connect(database_url)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def server(database_url: str, tmp_path: Path) -> AsyncIterator[InProcessServer]:
    running = await start_server(database_url, tmp_path)
    try:
        yield running
    finally:
        await running.stop()


