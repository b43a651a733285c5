"""Large entries do not amplify reads: list pages, context, traces and live
frames carry shortened entries (collector/preview.py) whatever is stored, and the whole entry is
one request away."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest

from collector import preview
from collector.db.repository import LogFilter, Scope, query_logs
from collector.model import ActivityRow
from tests.support.api import auth, make_user
from tests.support.live import connect, entries_until, ingest

pytestmark = pytest.mark.timeout(120)
HUGE = 7_500_000


def _huge(i: int, now: datetime) -> ActivityRow:
    return ActivityRow(
        timestamp=now + timedelta(milliseconds=i), level="error", source="worker",
        message=f"crash {i} " + "m" * HUGE, trace_id="ab" * 16,
        fields={"exception.stacktrace": "s" * 2_000_000, **{f"key{k}": "v" * 3000 for k in range(80)}},
        resource={"service.name": "render", "blob": ["r" * 100] * 5000},
    )  # fmt: skip


async def test_pages_of_huge_entries_stay_small_and_whole_entries_are_one_request_away(server, db):
    now = datetime.now(timezone.utc) - timedelta(minutes=1)
    # Stored the way an older server (or a raised per-record limit) would have stored them.
    for start in range(0, 30, 5):
        await ingest(server, [_huge(i, now) for i in range(start, start + 5)])
    viewer = await make_user(db, "viewer@example.com", role="admin")
    async with aiohttp.ClientSession() as session:
        async with session.get(server.api_url + "/api/v1/activity-logs", params={"per_page": "100"},
                               headers=auth(server, viewer)) as response:  # fmt: skip
            assert response.status == 200
            body = await response.read()
        page = json.loads(body)["data"]
        assert len(page) == 30 and len(body) < 5_000_000, len(body)  # 225 MB before
        first = page[0]
        assert first["truncated"] is True and first["message_length"] == len("crash 29 ") + HUGE
        assert len(first["message"]) == preview.MESSAGE_CHARS
        assert len(first["fields"]) <= preview.MAP_KEYS
        assert all(len(v) <= preview.VALUE_CHARS for v in first["fields"].values() if isinstance(v, str))

        async with session.get(server.api_url + f"/api/v1/activity-logs/{first['id']}",
                               headers=auth(server, viewer)) as response:  # fmt: skip
            whole = (await response.json())["data"]
        assert len(whole["message"]) == first["message_length"] and "truncated" not in whole
        assert len(whole["fields"]["exception.stacktrace"]) == 2_000_000

        for path in (f"/api/v1/activity-logs/{first['id']}/context", f"/api/v1/traces/{'ab' * 16}"):
            async with session.get(server.api_url + path, headers=auth(server, viewer)) as response:
                body = await response.read()
            assert response.status == 200 and len(body) < 5_000_000, (path, len(body))
            assert all(entry["truncated"] for entry in json.loads(body)["data"])

        # The live tail sends the same shortened view.
        token = auth(server, viewer)["Authorization"].removeprefix("Bearer ")
        ws = await connect(session, server, token, sources=["worker"])
        await ingest(server, [_huge(99, now), ActivityRow(timestamp=now, level="info", source="worker", message="end")])
        live = await entries_until(ws, "end")
        assert live[0]["truncated"] is True and len(live[0]["message"]) == preview.MESSAGE_CHARS
        assert len(json.dumps(live[0])) < 200_000
        await ws.close()


async def test_small_entries_are_never_marked(server, db):
    now = datetime.now(timezone.utc)
    rows = [ActivityRow(timestamp=now, level="info", source="worker", message="m" * preview.MESSAGE_CHARS,
                        fields={f"k{i}": "v" * 100 for i in range(60)})]  # fmt: skip
    await ingest(server, rows)
    stored = await query_logs(db, LogFilter(), Scope.admin())
    entry = stored[0].view_dict()
    assert "truncated" not in entry and len(entry["fields"]) == 60 and entry["message"] == rows[0].message


def test_python_preview_follows_the_sql_rule():
    """Keys in jsonb's order (shorter first, then by bytes), values and keys cut, nested values
    longer than the limit become the start of their JSON text."""
    value = {"b" * 300: 1, "zz": "x" * 5000, "a": {"n": list(range(2000))}, "é": True,
             **{f"k{i:03d}": i for i in range(100)}}  # fmt: skip
    shown = preview.map_preview(value)
    assert len(shown) == preview.MAP_KEYS
    assert list(shown)[:3] == ["a", "zz", "é"]  # 1, then 2 and 2 bytes (0x7a < 0xc3): jsonb's order
    assert shown["zz"] == "x" * preview.VALUE_CHARS
    assert isinstance(shown["a"], str) and shown["a"].startswith('{"n":[0,1,2') and len(shown["a"]) == preview.VALUE_CHARS


async def test_sql_preview_matches_python(server, db):
    value = {"b" * 300: 1, "zz": "x" * 5000, "é": True, "short": [1, 2], **{f"k{i:03d}": i for i in range(100)}}
    sql = await db.fetchval("SELECT activity_json_preview($1::jsonb)", value)
    assert sql == preview.map_preview(value)


def test_the_live_copy_keeps_every_column_but_fields_and_resource():
    import dataclasses

    row = ActivityRow(
        timestamp=datetime.now(timezone.utc), level="warn", source="agent", message="m", category="curated",
        fields={"f": 1}, entity_type="scene", entity_id=3, user_id=4, job_id=5, project_id=6, trace_id="ab" * 16,
        span_id="cd" * 8, trace_flags=1, severity_number=13, severity_text="WARN", service_name="s",
        event_name="e", resource={"r": 2}, scope_name="sc", scope_version="1", admin_only=True, id=9,
        truncated=True, message_length=99,
    )  # fmt: skip
    copy = row.for_live()
    for field in dataclasses.fields(ActivityRow):
        expected = {} if field.name in ("fields", "resource") else getattr(row, field.name)
        assert getattr(copy, field.name) == expected, field.name
    assert copy.json() == row.json()  # the view was made from the whole row
