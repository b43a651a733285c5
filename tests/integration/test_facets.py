"""GET /api/v1/activity-logs/facets: the most frequent values per facet (built-in names, record
attributes, resource attributes) over the filter and range, typed, scoped as every read, bounded."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
import pytest

from api import facets as facets_module
from collector import contract
from collector.model import format_timestamp
from tests.support.api import NOW, call, make_project, make_user, row, store

pytestmark = pytest.mark.timeout(60)
PATH = "/api/v1/activity-logs/facets"


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as client:
        yield client


def by_facet(body) -> dict[str, list[tuple]]:
    return {f["facet"]: [(v["value"], v["count"]) for v in f["values"]] for f in body["data"]}


async def test_counts_per_facet_typed_and_scoped(server, db, session):
    mine, theirs = await make_project(db, "mine"), await make_project(db, "theirs")
    creator = await make_user(db, "creator@example.com", project_ids=(mine,))
    admin = await make_user(db, "admin@example.com", "admin")
    await store(server, [
        *[row(f"gpu {i}", project_id=mine, level="info", fields={"gpu": i % 2, "node": "n" * 201},
              resource={"host.name": "h1"}, service_name="render-worker", minutes_ago=1) for i in range(5)],
        row("string gpu", project_id=mine, level="warn", fields={"gpu": "1", "map": {"a": 1}}, service_name="api-server",
            minutes_ago=2),
        *[row("theirs", project_id=theirs, level="error", fields={"gpu": 7}, service_name="secret-svc", minutes_ago=1)
          for _ in range(9)],
        row("too old for the default hour", project_id=mine, fields={"gpu": 5}, minutes_ago=90),
    ])  # fmt: skip
    params = [("facet", "level"), ("facet", "service"), ("facet", "gpu"), ("facet", "resource.host.name"),
              ("facet", "node"), ("facet", "map")]  # fmt: skip
    status, body, _ = await call(session, server, "GET", PATH, creator, params=params)
    assert status == 200, body
    counts = by_facet(body)
    assert counts["level"] == [("info", 5), ("warn", 1)]
    assert counts["service"] == [("render-worker", 5), ("api-server", 1)]
    # 0 three times, 1 twice, and the string "1" apart: values keep their type.
    assert counts["gpu"] == [(0, 3), (1, 2), ("1", 1)]
    assert counts["resource.host.name"] == [("h1", 5)]
    assert counts["node"] == [] and counts["map"] == []  # long strings and maps are not facet values
    distinct = {f["facet"]: f["distinct"] for f in body["data"]}
    assert distinct == {"level": 2, "service": 2, "gpu": 3, "resource.host.name": 1, "node": 0, "map": 0}
    assert body["meta"]["rows"] == 6 and body["meta"]["sampled"] is False

    status, body, _ = await call(session, server, "GET", PATH, admin, params=[("facet", "gpu"), ("top", "2")])
    assert by_facet(body)["gpu"] == [(7, 9), (0, 3)]
    assert body["data"][0]["distinct"] == 4  # 7, 0, 1 and "1": more than the top two listed
    # The range and the filters apply.
    since = format_timestamp(NOW - timedelta(hours=2))
    status, body, _ = await call(session, server, "GET", PATH, creator,
                                 params=[("facet", "gpu"), ("from", since), ("level", "info")])  # fmt: skip
    assert by_facet(body)["gpu"] == [(0, 3), (1, 2), (5, 1)]
    # Default facets.
    status, body, _ = await call(session, server, "GET", PATH, creator)
    assert [f["facet"] for f in body["data"]] == list(contract.DEFAULT_FACETS)


async def test_counted_rows_are_bounded(server, db, session, monkeypatch):
    monkeypatch.setattr(facets_module, "FACET_MAX_ROWS", 3)
    admin = await make_user(db, "admin@example.com", "admin")
    await store(server, [row(f"r{i}", fields={"k": i}, minutes_ago=i / 10) for i in range(6)])
    status, body, _ = await call(session, server, "GET", PATH, admin, params=[("facet", "k")])
    assert body["meta"] == {**body["meta"], "rows": 3, "sampled": True}
    assert sorted(v for v, _ in by_facet(body)["k"]) == [0, 1, 2]  # the newest three


@pytest.mark.parametrize("params", [
    [("facet", str(i)) for i in range(11)], [("facet", "")], [("facet", "a\x00")], [("facet", "k" * 200)],
    [("top", "0")], [("top", "51")], [("top", "x")], [("top", "1"), ("top", "2")], [("facets", "level")],
    [("from", "yesterday")],
])  # fmt: skip
async def test_bad_parameters_are_400(server, db, session, params):
    admin = await make_user(db, "admin@example.com", "admin")
    status, body, _ = await call(session, server, "GET", PATH, admin, params=params)
    assert status == 400, body


async def test_needs_a_token(server, session):
    status, _, _ = await call(session, server, "GET", PATH)
    assert status == 401
