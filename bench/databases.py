"""The databases the benchmarks make on the admin URL for one measurement, and drop after it."""

from __future__ import annotations

import asyncpg

from collector.db.connect import with_database


async def create_database(admin_url: str, name: str) -> str:
    """A new empty database (a leftover of that name from an interrupted run is dropped first);
    its URL."""
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    return with_database(admin_url, name)


async def drop_database(admin_url: str, name: str) -> None:
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()
