"""Versioned SQL migrations from ``migrations/NNNN_name.sql``, applied in order, each once,
in its own transaction, under an advisory lock so that two starting servers do not race."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

import asyncpg

from collector.db.queries import q
from collector.errors import MigrationError

log = logging.getLogger(__name__)

# Package data of the ``migrations`` package, wherever it is installed (a source checkout, an
# editable install, a wheel).
MIGRATIONS_DIR: Traversable = resources.files("migrations")
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Traversable | Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations in ``directory``, in order. None at all is an error: an installation that
    lost them would otherwise report "up to date" and fail later on a missing table."""
    migrations = []
    for path in sorted((p for p in directory.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name):
        match = _FILE.match(path.name)
        if not match:
            raise MigrationError(f"migration file {path.name} does not match NNNN_name.sql")
        migrations.append(Migration(int(match[1]), match[2], path.read_text()))
    if not migrations:
        raise MigrationError(f"no migrations found in {directory}; the installation is incomplete")
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {directory}")
    return migrations


async def pending(conn: asyncpg.Connection, directory: Traversable | Path = MIGRATIONS_DIR) -> list[Migration]:
    """Migrations not yet applied; raises if an applied file was edited afterwards. Read-only
    except on a database never migrated, where it creates the (empty) migrations table."""
    if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:
        await conn.execute(q("create_migrations_table"))
    applied = {r["version"]: r for r in await conn.fetch(q("list_applied_migrations"))}
    todo = []
    for migration in discover(directory):
        row = applied.get(migration.version)
        if row is None:
            todo.append(migration)
        elif row["checksum"] != migration.checksum:
            raise MigrationError(
                f"migration {migration.version:04d}_{migration.name} was changed after it was applied; "
                "add a new migration instead"
            )
    return todo


async def apply(conn: asyncpg.Connection, directory: Traversable | Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply what is pending. Safe to run any number of times, from any number of processes."""
    done = []
    async with conn.transaction():
        await conn.execute(q("lock_migrations"))
        for migration in await pending(conn, directory):
            async with conn.transaction():
                try:
                    await conn.execute(migration.sql)
                except asyncpg.PostgresError as exc:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name} failed: {exc}"
                    ) from exc
                await conn.execute(q("record_migration"), migration.version, migration.name, migration.checksum)
            log.info("applied migration %04d_%s", migration.version, migration.name)
            done.append(migration)
    return done
