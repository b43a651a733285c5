"""``/healthz`` (the process is alive) and ``/readyz`` (database reachable, schema current, ingest open)."""

from __future__ import annotations

from aiohttp import web

from api.runtime import RUNTIME
from collector.db import migrate
from collector.db.queries import q


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    problems = []
    try:
        async with runtime.pool.acquire(timeout=2) as conn:
            await conn.fetchval(q("ping"), timeout=2)
            todo = await migrate.pending(conn)
            if todo:
                problems.append(f"{len(todo)} migration(s) not applied")
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        problems.append(f"database unreachable: {type(exc).__name__}")
    writer = runtime.writer
    if not writer.available:
        lasting = writer.unavailable_advice.lasting
        problems.append(f"ingest is refusing records (retry later): the database has been unreachable for {lasting:.0f} s"
                        if lasting else "ingest is not accepting records")  # fmt: skip
    if problems:
        return web.json_response({"status": "unavailable", "problems": problems}, status=503)
    return web.json_response({"status": "ready"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
