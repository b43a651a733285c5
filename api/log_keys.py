"""``GET /api/v1/activity-logs/keys``: the attribute keys stored entries carry, from the key
catalogue (collector/key_catalogue.py), for the query bar's completions. Scoped as entries are:
a creator gets the keys of their projects' entries and of unscoped ones, never another
project's."""

from __future__ import annotations

from aiohttp import web

from api.errors import BadRequest
from api.runtime import RUNTIME
from api.security import load_scope, principal_of
from collector.contract import DEFAULT_CATALOGUE_KEYS, MAX_CATALOGUE_KEY_CHARS, MAX_CATALOGUE_KEYS
from collector.db import repository
from collector.model import format_timestamp

PARAMS = ("prefix", "limit")


def _limit(text: str | None) -> int:
    if text is None or text == "":
        return DEFAULT_CATALOGUE_KEYS
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_CATALOGUE_KEYS:
        raise BadRequest(f"limit must be an integer between 1 and {MAX_CATALOGUE_KEYS}")
    return int(text)


async def list_keys(request: web.Request) -> web.Response:
    query = request.query
    unknown = sorted(set(query.keys()) - set(PARAMS))
    if unknown:
        raise BadRequest(f"unknown query parameter(s): {', '.join(unknown)}")
    if any(len(query.getall(name, [])) > 1 for name in PARAMS):
        raise BadRequest("prefix and limit may be given only once")
    prefix = query.get("prefix") or None
    if prefix is not None and (len(prefix) > MAX_CATALOGUE_KEY_CHARS or "\x00" in prefix):
        raise BadRequest(f"prefix must be at most {MAX_CATALOGUE_KEY_CHARS} characters, without NUL")
    limit = _limit(query.get("limit"))
    async with request.app[RUNTIME].pool.acquire() as conn:
        scope = await load_scope(conn, principal_of(request))
        rows = await repository.list_log_keys(conn, scope, prefix=prefix, limit=limit)
    data = [{"scope": r["scope"], "key": r["key"], "types": list(r["types"]), "last_seen": format_timestamp(r["last_seen"])}
            for r in rows]  # fmt: skip
    return web.json_response({"data": data})


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/activity-logs/keys", list_keys)
