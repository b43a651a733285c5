"""Stores N entries straight into ``activity_logs`` by binary COPY (seconds for 200,000, where the
OTel SDK would take minutes on this machine): ``python ui/e2e/seed_bulk.py DATABASE_URL N TAG``.

The entries are curated ``info`` entries of source ``worker``, ``<TAG> #<i>`` in the message, one
a millisecond ending a minute ago (oldest first: ``#0``). Ids come from the table's sequence, as the
writer's do, so they never collide with the running server's. Prints ``{"stored": N}``."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from collector.contract import LEVEL_IDS, SOURCE_IDS  # noqa: E402
from collector.copy_rows import COPY_COLUMNS  # noqa: E402

CHUNK = 50_000


async def main(url: str, count: int, tag: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        ids = [r[0] for r in await conn.fetch("SELECT nextval('activity_logs_id_seq') FROM generate_series(1, $1)", count)]
        end = datetime.now(timezone.utc) - timedelta(minutes=1)
        start = end - timedelta(milliseconds=count)
        resource = '{"host.name": "bulk-host"}'
        for offset in range(0, count, CHUNK):
            rows = [
                (ids[i], start + timedelta(milliseconds=i), LEVEL_IDS["info"], SOURCE_IDS["worker"],
                 f"{tag} #{i} rendered frame batch", '{"step": %d, "gpu": %d}' % (i % 50, i % 4), "curated",
                 None, None, None, None, None, None, None, None, 9, "INFO", "bulk-service", None, resource,
                 "e2e", None, False)
                for i in range(offset, min(offset + CHUNK, count))
            ]  # fmt: skip
            await conn.copy_records_to_table("activity_logs", records=rows, columns=COPY_COLUMNS)
        await conn.execute("ANALYZE activity_logs")
    finally:
        await conn.close()
    print(json.dumps({"stored": count}), flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
