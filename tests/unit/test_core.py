"""The curated builder, level and source names, round-trips, and the live hub."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone

import pytest
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter

import sdk_shim
from collector import attributes as attr
from collector.hub import LiveHub
from collector.model import ActivityRow


def test_curated_entry_defaults():
    entry = sdk_shim.curated("info", "Job started")
    assert (entry.level, entry.message, entry.fields) == ("info", "Job started", {})
    assert entry.entity_type is entry.entity_id is entry.user_id is entry.job_id is entry.project_id is None
    assert entry.attributes() == {attr.CATEGORY: "curated"}


def test_builder_chain_sets_every_field():
    entry = (
        sdk_shim.curated("error", "Render failed")
        .with_entity("scene", 12)
        .with_user(3)
        .with_job(44)
        .with_project(5)
        .with_source("comfyui")
        .with_fields({"node": "KSampler"})
        .with_fields({"step": 7})
    )
    assert entry.attributes() == {
        "node": "KSampler", "step": 7, attr.CATEGORY: "curated", attr.SOURCE: "comfyui",
        attr.ENTITY_TYPE: "scene", attr.ENTITY_ID: 12, attr.USER_ID: 3, attr.JOB_ID: 44, attr.PROJECT_ID: 5,
    }  # fmt: skip


def test_builder_rejects_unknown_level_and_source():
    with pytest.raises(ValueError, match="level"):
        sdk_shim.curated("fatal", "x")
    with pytest.raises(ValueError, match="source"):
        sdk_shim.curated("info", "x").with_source("billing")


def test_level_and_source_names_match_the_lookup_tables():
    assert attr.LEVELS == ("debug", "info", "warn", "error")
    assert attr.SOURCES == ("api", "comfyui", "worker", "agent", "pipeline")
    assert set(sdk_shim.LEVEL_SEVERITY) == set(attr.LEVELS)


def test_emit_sends_the_severity_and_attributes_through_the_sdk():
    exporter = InMemoryLogRecordExporter()
    sdk_shim.configure(service_name="t", source="worker", exporter=exporter, bridge_logging=False)
    try:
        sdk_shim.curated("warn", "disk low").with_job(9).with_fields({"free": {"gb": 3}}).emit()
        assert sdk_shim.force_flush()
    finally:
        sdk_shim.shutdown()
    [record] = exporter.get_finished_logs()
    log_record = record.log_record
    assert log_record.body == "disk low" and log_record.severity_text == "WARN" and log_record.severity_number.value == 13
    assert dict(log_record.attributes)[attr.JOB_ID] == 9
    assert dict(log_record.attributes)["free"] == {"gb": 3}
    assert record.resource.attributes[attr.SOURCE] == "worker"


def test_with_timestamp_sets_the_record_time_and_rejects_a_non_positive_one():
    exporter = InMemoryLogRecordExporter()
    sdk_shim.configure(service_name="t", source="worker", exporter=exporter, bridge_logging=False)
    try:
        sdk_shim.curated("info", "earlier").with_timestamp(1_700_000_000_123_456_789).emit()
        sdk_shim.curated("info", "now").emit()
        assert sdk_shim.force_flush()
    finally:
        sdk_shim.shutdown()
    earlier, now = (r.log_record for r in exporter.get_finished_logs())
    assert earlier.timestamp == 1_700_000_000_123_456_789
    assert now.timestamp is None or now.timestamp > 1_700_000_000_123_456_789
    for bad in (0, -1, 1.5, True, "1"):
        with pytest.raises(ValueError, match="time_unix_nano"):
            sdk_shim.curated("info", "x").with_timestamp(bad)


def test_configure_rejects_an_unknown_source():
    with pytest.raises(ValueError):
        sdk_shim.configure(source="billing", exporter=InMemoryLogRecordExporter())


def test_row_serialisation_round_trip():
    row = ActivityRow(
        timestamp=datetime(2026, 11, 26, 5, 30, 46, 123456, tzinfo=timezone.utc), level="warn", source="agent",
        message="GPU ü hot", category="curated", fields={"t": 91.5, "nested": [1, {"a": None}]},
        entity_type="worker", entity_id=1, user_id=2, job_id=3, project_id=4, trace_id="ab" * 16, span_id="cd" * 8,
        trace_flags=1, severity_number=13, severity_text="WARN", service_name="gpu-agent", id=10,
    )  # fmt: skip
    document = json.loads(row.json())
    assert document["timestamp"] == "2026-11-26T05:30:46.123456Z"
    document["timestamp"] = datetime.fromisoformat(document["timestamp"])
    assert ActivityRow(**document) == row


# --- the live hub ------------------------------------------------------------------------------


def _row(message: str, level: str = "info") -> ActivityRow:
    return ActivityRow(timestamp=datetime.now(timezone.utc), level=level, source="api", message=message)


async def test_publish_and_receive_single_subscriber():
    hub = LiveHub()
    with hub.subscribe() as subscription:
        hub.publish([_row("a"), _row("b")])
        rows, skipped = await subscription.get()
    assert [r.message for r in rows] == ["a", "b"] and skipped == 0
    assert hub.subscriber_count == 0


async def test_multiple_subscribers_receive_the_same_entries():
    hub = LiveHub()
    first, second = hub.subscribe(), hub.subscribe()
    hub.publish([_row("x")])
    assert [r.message for r in (await first.get())[0]] == ["x"]
    assert [r.message for r in (await second.get())[0]] == ["x"]


def test_publish_with_no_subscribers_does_not_fail():
    LiveHub().publish([_row("nobody listens")])


async def test_a_full_subscriber_drops_its_oldest_and_counts_them():
    hub = LiveHub()
    slow = hub.subscribe(capacity=3)
    fast = hub.subscribe(capacity=100)
    hub.publish([_row(str(i)) for i in range(10)])
    rows, skipped = await slow.get()
    assert [r.message for r in rows] == ["7", "8", "9"] and skipped == 7
    assert len((await fast.get())[0]) == 10


async def test_predicate_filters_per_subscriber_and_get_waits():
    hub = LiveHub()
    errors = hub.subscribe(predicate=lambda r: r.level == "error")
    waiting = asyncio.create_task(errors.get())
    hub.publish([_row("fine")])
    await asyncio.sleep(0.01)
    assert not waiting.done()
    hub.publish([_row("bad", level="error")])
    rows, _ = await asyncio.wait_for(waiting, 5)
    assert [r.message for r in rows] == ["bad"]


async def test_close_wakes_a_waiting_subscriber():
    hub = LiveHub()
    subscription = hub.subscribe()
    waiting = asyncio.create_task(subscription.get())
    await asyncio.sleep(0)
    hub.close()
    assert await asyncio.wait_for(waiting, 5) == ([], 0)
