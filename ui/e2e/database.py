"""Creates or drops the end-to-end tests' database: ``python ui/e2e/database.py create|drop URL NAME``.

URL is an admin connection (CI: TEST_DATABASE_URL); the new database's URL is printed on create."""

from __future__ import annotations

import asyncio
import re
import sys
from urllib.parse import urlsplit, urlunsplit

import asyncpg


async def main(action: str, url: str, name: str) -> int:
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise SystemExit(f"not a plain database name: {name!r}")
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if action == "create":
            await conn.execute(f"CREATE DATABASE {name}")
            print(urlunsplit(urlsplit(url)._replace(path="/" + name)), flush=True)
    finally:
        await conn.close()
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("create", "drop"):
        raise SystemExit(__doc__)
    raise SystemExit(asyncio.run(main(*sys.argv[1:])))
