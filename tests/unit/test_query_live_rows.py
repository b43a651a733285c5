"""Live rows carry fields and resource exactly while some subscriber's query reads them: the hub
keeps them on its copies, and rows read back from the writer's COPY tuples parse them."""

from __future__ import annotations

from datetime import datetime, timezone

from api.live.matcher import EntryMatcher, JobProjects
from collector import copy_rows
from collector.db.repository import LogFilter, Scope
from collector.hub import LiveHub
from collector.model import ActivityRow


def _row(message: str, **values) -> ActivityRow:
    return ActivityRow(timestamp=datetime(2026, 1, 1, tzinfo=timezone.utc), level="info", source="worker",
                       message=message, **values)  # fmt: skip


def _matcher(q: str) -> EntryMatcher:
    return EntryMatcher(LogFilter(q=q), Scope.admin(), JobProjects(None))  # type: ignore[arg-type]


def test_the_hub_keeps_attributes_only_for_a_query_that_reads_them():
    hub = LiveHub()
    plain = hub.subscribe(_matcher('level:info "gpu"'))
    assert not hub.reads_attributes
    hub.publish([_row("gpu 1", fields={"gpu": 1}, resource={"host.name": "a"})])
    assert [(r.fields, r.resource) for r in plain._queue] == [({}, {})]

    by_field = hub.subscribe(_matcher("gpu:1 OR resource.host.name:b"))
    assert hub.reads_attributes
    hub.publish([_row("gpu 1", fields={"gpu": 1}), _row("gpu 2", fields={"gpu": 2}),
                 _row("host b", resource={"host.name": "b"})])  # fmt: skip
    assert [r.message for r in by_field._queue] == ["gpu 1", "host b"]
    assert [r.fields for r in by_field._queue] == [{"gpu": 1}, {}]
    by_field.close()
    assert not hub.reads_attributes


def test_rows_read_back_from_copy_carry_attributes_when_asked():
    rows = [_row("a", fields={"gpu": 1, "n": [1, 2]}, resource={"host.name": "h"}), _row("b" * 9000, fields={"k": "v"})]
    tuples = copy_rows.encode_copy_rows(rows, [1, 2])
    whole = copy_rows.rows_from_copy(tuples)
    without = copy_rows.live_rows(tuples)
    with_attributes = copy_rows.live_rows(tuples, with_attributes=True)
    assert (without[0].fields, without[0].resource) == ({}, {})  # (a row long enough to shorten is read whole)
    assert [(r.fields, r.resource) for r in with_attributes] == [(r.fields, r.resource) for r in whole]
    assert [r.json() for r in with_attributes] == [r.json() for r in without]
