"""``GET /api/v1/activity-logs/facets``: for the current filter and range (default: the last
hour), the most frequent values of ``level``, ``source``, ``service`` and of any attribute the
caller names, with counts; the console lists them beside the results, a click filters.

Cost is bounded per request: at most ``MAX_FACETS`` facets, counted in one pass over at most the
newest ``FACET_MAX_ROWS`` matching entries (``meta.sampled`` says when there were more). Scoped as
every read: a creator counts only the entries they may see."""

from __future__ import annotations

from datetime import datetime, timezone

import orjson
from aiohttp import web

from api.errors import BadRequest
from api.logs import FILTER_PARAMS, parse_filter
from api.runtime import RUNTIME
from api.security import load_scope, principal_of
from collector.contract import (
    DEFAULT_FACET_SPAN,
    DEFAULT_FACET_TOP,
    DEFAULT_FACETS,
    FACET_BUILTINS,
    FACET_MAX_ROWS,
    MAX_CATALOGUE_KEY_CHARS,
    MAX_FACET_TOP,
    MAX_FACETS,
)
from collector.db import repository
from collector.db.repository import Facet, LogFilter
from collector.model import format_timestamp

RESOURCE_PREFIX = "resource."


def parse_facet(name: str) -> Facet:
    """A built-in name, ``resource.<key>``, or a record attribute's key, as the query language
    names them."""
    if not name or len(name) > MAX_CATALOGUE_KEY_CHARS + len(RESOURCE_PREFIX) or "\x00" in name:
        raise BadRequest(f"facet names are 1 to {MAX_CATALOGUE_KEY_CHARS} characters, without NUL")
    if name in FACET_BUILTINS:
        return Facet(name)
    if name.startswith(RESOURCE_PREFIX) and len(name) > len(RESOURCE_PREFIX):
        return Facet(name, "resource", name[len(RESOURCE_PREFIX):])
    return Facet(name, "field", name)


def _top(text: str | None) -> int:
    if text is None or text == "":
        return DEFAULT_FACET_TOP
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_FACET_TOP:
        raise BadRequest(f"top must be an integer between 1 and {MAX_FACET_TOP}")
    return int(text)


async def list_facets(request: web.Request) -> web.Response:
    query = request.query
    unknown = sorted(set(query.keys()) - {*FILTER_PARAMS, "facet", "top"})
    if unknown:
        raise BadRequest(f"unknown query parameter(s): {', '.join(unknown)}")
    names = list(dict.fromkeys(query.getall("facet", []))) or list(DEFAULT_FACETS)
    if len(names) > MAX_FACETS:
        raise BadRequest(f"at most {MAX_FACETS} facets per request")
    wanted = [parse_facet(name) for name in names]
    if len(query.getall("top", [])) > 1:
        raise BadRequest("top may be given only once")
    top = _top(query.get("top"))
    log_filter = parse_filter(query)
    until = log_filter.until or datetime.now(timezone.utc)
    since = log_filter.since or until - DEFAULT_FACET_SPAN
    ranged = LogFilter(**{**vars(log_filter), "since": since, "until": until})
    async with request.app[RUNTIME].pool.acquire() as conn:
        scope = await load_scope(conn, principal_of(request))
        tally = await repository.facets(conn, ranged, scope, wanted, top=top, max_rows=FACET_MAX_ROWS)
    data = [{"facet": name, "values": [{"value": orjson.loads(value), "count": n} for value, n in tally.counts[name]],
             "distinct": tally.distinct[name]} for name in names]  # fmt: skip
    meta = {"from": format_timestamp(since), "to": format_timestamp(until), "rows": tally.rows,
            "sampled": tally.rows >= FACET_MAX_ROWS}  # fmt: skip
    return web.json_response({"data": data, "meta": meta})


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/activity-logs/facets", list_facets)
