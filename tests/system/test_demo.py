"""The demo (demo/) streams all five sources through the real OTLP path: entries of every
source, in both demo projects, jobs whose trace spans api/worker/comfyui/pipeline, errors with
stack traces; and ``activity-console demo`` starts a server itself when none answers."""

from __future__ import annotations

import asyncio
import re

import pytest

from api import cli, runner
from demo.traffic import DEMO_USERS, OUTCOME_DECK, stream
from collector.db.connect import create_pool
from collector.db.repository import LogFilter, Scope, count_logs, query_logs
from collector.db.queries import q
from tests.support.server import wait_for

pytestmark = pytest.mark.timeout(60)

SOURCES = ("api", "comfyui", "worker", "agent", "pipeline")
JOB_SOURCES = {"api", "worker", "comfyui", "pipeline"}


async def test_demo_traffic_reaches_the_server_from_all_five_sources(server, database_url, db, tmp_path):
    pool = await create_pool(database_url, min_size=1, max_size=2)
    try:
        # One deck of outcomes: every kind of job (success, upload retry, ComfyUI error, failed
        # download, cancellation) happens once; rate 0 sends as fast as possible.
        summary = await stream(pool, tmp_path, endpoint=server.grpc_endpoint, token=server.token, seed=7, rate=0,
                               jobs=len(OUTCOME_DECK), schedule_delay_millis=100)  # fmt: skip
    finally:
        await pool.close()
    assert summary.jobs_started == len(OUTCOME_DECK) and sum(summary.outcomes.values()) == len(OUTCOME_DECK)
    sent = sum(summary.entries.values())
    assert set(summary.entries) == set(SOURCES)

    async def all_stored():
        return await count_logs(db, LogFilter(), Scope.admin()) >= sent

    assert await wait_for(all_stored, timeout=15), "not every entry the demo sent was stored"

    for source in SOURCES:
        assert await count_logs(db, LogFilter(sources=[source]), Scope.admin()) > 0, source

    users = {row["email"]: row["id"] for row in await db.fetch(q("list_users"))}
    projects = {row["name"]: row for row in await db.fetch(q("list_projects"))}
    for email, project_name in DEMO_USERS:
        project = projects[project_name]
        assert list(project["member_ids"]) == [users[email]]
        assert await count_logs(db, LogFilter(project_id=project["id"], sources=["api"]), Scope.admin()) > 0
    assert (tmp_path / "demo-users.txt").read_text().count("@demo.local ") == 2

    # Worker entries carry only the job id; each creator sees the worker entries of their own
    # studio's jobs (through the jobs rows), never the other studio's.
    ana, ben = (Scope(is_admin=False, user_id=users[email], project_ids=[projects[name]["id"]]) for email, name in DEMO_USERS)
    job_projects = {row["id"]: row["project_id"] for row in await db.fetch("SELECT id, project_id FROM jobs")}
    for scope in (ana, ben):
        rows = await query_logs(db, LogFilter(sources=["worker"], mode="curated"), scope, limit=500)
        assert rows and all(row.project_id is None and job_projects[row.job_id] == scope.project_ids[0] for row in rows)

    # A job's trace: the API request, the worker, ComfyUI and the pipeline, ending with the API.
    complete_traces = []
    for trace_id in summary.trace_ids:
        rows = await query_logs(db, LogFilter(trace_id=trace_id), Scope.admin(), limit=500, oldest_first=True)
        if {row.source for row in rows} >= JOB_SOURCES:
            complete_traces.append(rows)
    assert complete_traces, "no job trace has entries of api, worker, comfyui and pipeline"
    rows = complete_traces[0]
    curated = [row for row in rows if row.category == "curated"]
    assert curated[0].source == "api" and "submitted by" in curated[0].message
    assert curated[-1].source == "api" and "completed" in curated[-1].message
    assert len({row.job_id for row in curated}) == 1
    services = {row.service_name for row in rows}
    assert {"studio-api", "comfyui-bridge", "pipeline-engine"} <= services
    assert any(re.fullmatch(r"render-worker-\d", name) for name in services)

    errors = await query_logs(db, LogFilter(levels=["error"]), Scope.admin(), limit=100)
    stacktraces = [row for row in errors if row.fields.get("exception.stacktrace")]
    assert {row.source for row in stacktraces} >= {"comfyui", "worker"}
    assert any("Traceback (most recent call last)" in row.fields["exception.stacktrace"] for row in stacktraces)

    # System entries (no user, no project) exist too: agent snapshots, scheduler heartbeats.
    agent_rows = await query_logs(db, LogFilter(sources=["agent"], mode="curated"), Scope.admin(), limit=50)
    assert all(row.user_id is None and row.project_id is None for row in agent_rows)
    assert any("activity.worker.id" in row.fields and "temperature_c" in row.fields for row in agent_rows)


async def test_demo_command_starts_a_server_when_none_answers(database_url, db, tmp_path, monkeypatch, capsys):
    for variable in ("ACTIVITY_HTTP_PORT", "ACTIVITY_OTLP_GRPC_PORT", "ACTIVITY_OTLP_HTTP_PORT"):
        monkeypatch.setenv(variable, "0")  # free ports: nothing answers, so the demo serves itself
    monkeypatch.delenv("ACTIVITY_ADMIN_PASSWORD", raising=False)
    # The server's GC tuning is process-wide: keep the test session's collector as it is.
    monkeypatch.setattr(runner, "tune_gc_for_ingest", lambda: None)
    argv = ["demo", "--jobs", "2", "--rate", "0", "--seed", "3", "--database-url", database_url, "--data-dir", str(tmp_path)]
    # In a thread: main() runs its own event loop, as from the command line.
    assert await asyncio.to_thread(cli.main, argv) == 0
    out = capsys.readouterr().out
    assert re.search(r"Console:\s+http://localhost:\d+/", out)
    assert re.search(r"Admin:\s+admin@localhost / \S+", out)
    assert re.search(r"ana@demo\.local / \S+ +\(Studio A\)", out)
    assert "Demo sent" in out
    # The server flushed its writer on the way out: the entries are in the database.
    for source in SOURCES:
        assert await count_logs(db, LogFilter(sources=[source]), Scope.admin()) > 0, source
