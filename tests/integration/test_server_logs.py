"""The API server's own logging records reach the console as source ``api`` entries."""

from __future__ import annotations

import asyncio
import json
import logging
import threading

import aiohttp
import pytest
from opentelemetry.sdk.trace import TracerProvider

from api.server_entries import level_of, severity_number_of
from api.server_logs import ActivityLogHandler, row_from_record
from collector.db.repository import LogFilter, Scope, query_logs
from tests.support.api import token_for
from tests.support.server import start_server, wait_for

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def server(database_url, tmp_path):
    """The server with its own log records captured (tests/support/server.py turns them off for other tests)."""
    running = await start_server(database_url, tmp_path, server_log_level="INFO")
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
def probe_logger():
    logger = logging.getLogger("api.test_probe")
    previous = logger.level
    logger.setLevel(logging.DEBUG)  # the handler's own level (INFO) must do the filtering
    try:
        yield logger
    finally:
        logger.setLevel(previous)


async def stored(db, search: str, count: int = 1):
    async def fetch():
        rows = await query_logs(db, LogFilter(search=search), Scope.admin(), limit=100)
        return rows if len(rows) >= count else []

    return await wait_for(fetch)


async def test_server_records_become_api_entries(server, db, probe_logger):
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        context = span.get_span_context()
        probe_logger.warning("probe warning %d", 7, extra={"job_id": "44", "attempt": 2, "odd": object()})
    try:
        raise ValueError("boom")
    except ValueError:
        probe_logger.exception("probe failure")
    probe_logger.info("probe curated", extra={"category": "curated", "user_id": 3, "project_id": 9})
    probe_logger.debug("probe debug is below the default level")

    rows = {r.message: r for r in await stored(db, "probe ", count=3)}
    assert set(rows) == {"probe warning 7", "probe failure", "probe curated"}

    warning = rows["probe warning 7"]
    assert (warning.source, warning.level, warning.category) == ("api", "warn", "verbose")
    assert warning.job_id == 44 and warning.fields["attempt"] == 2 and isinstance(warning.fields["odd"], str)
    assert warning.fields["logger"] == "api.test_probe" and warning.scope_name == "api.test_probe"
    assert warning.severity_number == 13 and warning.severity_text == "WARNING"
    assert warning.trace_id == format(context.trace_id, "032x") and warning.span_id == format(context.span_id, "016x")

    failure = rows["probe failure"]
    assert failure.level == "error" and failure.trace_id is None
    assert failure.fields["exception.type"] == "ValueError" and failure.fields["exception.message"] == "boom"
    assert "raise ValueError" in failure.fields["exception.stacktrace"]

    curated = rows["probe curated"]
    assert (curated.category, curated.user_id, curated.project_id) == ("curated", 3, 9)
    assert "category" not in curated.fields and "user_id" not in curated.fields


async def test_records_from_other_threads_arrive(server, db, probe_logger):
    threads = [
        threading.Thread(target=probe_logger.info, args=(f"threaded probe {i}",), name=f"probe-{i}") for i in range(5)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        await asyncio.to_thread(thread.join)
    rows = await stored(db, "threaded probe", count=5)
    assert sorted(r.message for r in rows) == [f"threaded probe {i}" for i in range(5)]


async def test_server_logs_reach_live_tail(server, probe_logger):
    token = await token_for(server, 1)
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{server.api_url}/ws/activity-logs")
        await ws.send_json({"action": "auth", "token": token})
        await ws.send_json({"action": "subscribe", "sources": ["api"], "mode": "verbose", "search": "live probe"})
        assert json.loads((await ws.receive(timeout=10)).data)["type"] == "subscribed"
        probe_logger.error("live probe %s", "here")
        frame = json.loads((await ws.receive(timeout=10)).data)
        assert frame["type"] == "entries"
        assert [(e["message"], e["source"], e["level"]) for e in frame["entries"]] == [("live probe here", "api", "error")]
        await ws.close()


def test_no_recursion_into_the_handler():
    """A record logged while the handler maps another one is dropped, not fed back."""

    class RecordingWriter:
        def __init__(self):
            self.rows = []

        def submit_nowait(self, rows):
            self.rows.extend(rows)
            logging.getLogger("isolated.probe").warning("logged while queueing")  # e.g. a writer warning
            return True

    class LogsWhenFormatted:
        def __str__(self) -> str:
            logging.getLogger("isolated.probe").warning("logged while formatting")
            return "formatted"

    writer = RecordingWriter()
    logger = logging.getLogger("isolated.probe")
    logger.propagate = False  # only our handler: others (pytest's) would format the record too
    handler = ActivityLogHandler(writer, asyncio.new_event_loop())  # type: ignore[arg-type]
    logger.addHandler(handler)
    try:
        logger.warning("outer %s", LogsWhenFormatted())
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        handler._loop.close()
    assert [r.message for r in writer.rows] == ["outer formatted"]


async def test_writer_records_below_warning_are_excluded(server, db):
    writer_logger = logging.getLogger("collector.writer")
    writer_logger.setLevel(logging.DEBUG)
    try:
        writer_logger.info("writer probe info")
        writer_logger.warning("writer probe warning")
    finally:
        writer_logger.setLevel(logging.NOTSET)
    await stored(db, "writer probe warning")
    await asyncio.sleep(0.3)  # the info record, were it forwarded, would have been committed with it
    rows = await query_logs(db, LogFilter(search="writer probe"), Scope.admin())
    assert [r.message for r in rows] == ["writer probe warning"]


async def test_handler_installed_at_start_and_removed_at_shutdown(database_url, tmp_path):
    def ours() -> list[logging.Handler]:
        return [h for h in logging.getLogger().handlers if isinstance(h, ActivityLogHandler)]

    before = len(ours())
    server = await start_server(database_url, tmp_path, server_log_level="INFO")
    try:
        assert len(ours()) == before + 1
    finally:
        await server.stop()
    assert len(ours()) == before
    server = await start_server(database_url, tmp_path, server_log_level="OFF")
    try:
        assert len(ours()) == before
    finally:
        await server.stop()


def test_level_mapping():
    assert [level_of(n) for n in (5, 10, 20, 25, 30, 40, 50)] == ["debug", "debug", "info", "info", "warn", "error", "error"]
    assert [severity_number_of(n) for n in (10, 20, 30, 40, 50)] == [5, 9, 13, 17, 21]
    record = logging.LogRecord("x.y", logging.INFO, __file__, 1, "nul \x00 here", None, None)
    row = row_from_record(record)
    assert row.message == "nul \ufffd here" and row.source == "api" and row.fields["code.line.number"] == 1
