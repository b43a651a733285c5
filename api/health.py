"""``/healthz`` (the process is alive) and ``/readyz`` (database reachable, schema current, ingest open)."""

from __future__ import annotations

from aiohttp import web

from api.runtime import RUNTIME
from collector.contract import IngestStatus
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
    delivery = runtime.delivery
    ingest = delivery.status()
    if not delivery.started_replayed:
        problems.append(f"replaying the spool left by the last run ({ingest['spooled_records']:,} records to go)")
    if ingest["state"] in ("refusing", "failed"):
        problems.append(f"ingest is refusing records (retry later): {ingest['message']}")
    if problems:
        return web.json_response({"status": "unavailable", "problems": problems, "ingest": ingest}, status=503)
    return web.json_response({"status": "degraded" if ingest["state"] != "direct" else "ready", "ingest": ingest})


async def ingest_status(request: web.Request) -> web.Response:
    """The console shows a banner while ingest is not direct (public: api/security.py)."""
    return web.json_response(IngestStatus.model_validate(request.app[RUNTIME].delivery.status()).model_dump())


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/ingest/status", ingest_status)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
