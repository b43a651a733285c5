"""The context dialog's "load earlier / later" pages the context endpoint from the edge entry it
shows: a creator walking the whole log that way meets only their projects' and system entries."""

from __future__ import annotations

import aiohttp
import pytest

from tests.support.api import call, make_project, make_user, row, store

pytestmark = pytest.mark.timeout(90)

LIST = "/api/v1/activity-logs"


async def test_a_creator_paging_the_context_never_receives_a_foreign_entry(server, db):
    mine, theirs = await make_project(db, "mine"), await make_project(db, "theirs")
    creator = await make_user(db, "creator@example.com", project_ids=(mine,))
    rows = []
    for i in range(12):
        project = mine if i % 3 == 0 else theirs
        rows.append(row(f"{'mine' if project == mine else 'foreign'} {i}", project_id=project, minutes_ago=30 - i))
    stored = await store(server, rows)
    ids = {r.message: r.id for r in stored}
    anchor = ids["mine 6"]
    seen: set[str] = set()
    async with aiohttp.ClientSession() as session:
        for direction, params in (("earlier", {"before": 1, "after": 0}), ("later", {"before": 0, "after": 1})):
            edge = anchor
            for _ in range(20):
                status, body, _ = await call(session, server, "GET", f"{LIST}/{edge}/context", creator, params=params)
                assert status == 200, body
                page = [e for e in body["data"] if e["id"] != edge]
                seen.update(e["message"] for e in page)
                if not page:
                    break
                edge = page[0]["id"] if direction == "earlier" else page[-1]["id"]
        # A foreign entry as the edge is not reachable either.
        status, _, _ = await call(session, server, "GET", f"{LIST}/{ids['foreign 1']}/context", creator, params={"before": 5})
        assert status == 404
    assert {m for m in seen if m.startswith("foreign")} == set()
    assert {"mine 0", "mine 3", "mine 9"} <= seen
