"""The server's own entries come from one builder (api/server_entries.py) whatever writes them:
its logging records, live-tail events, retention runs and manual purges."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest

from api.retention import curated_api_entry
from api.server_entries import level_of, server_entry, severity_number_of
from api.server_logs import row_from_record

API = Path(__file__).resolve().parents[2] / "api"


def _record(level: int, message: str, **extra) -> logging.LogRecord:
    record = logging.LogRecord("api.test", level, __file__, 1, message, None, None)
    record.__dict__.update(extra)
    return record


def test_a_warning_reads_the_same_from_every_path():
    logged = row_from_record(_record(logging.WARNING, "disk low"))
    built = server_entry("disk low", scope_name="api.test", levelno=logging.WARNING)
    for row in (logged, built):
        assert (row.level, row.severity_number, row.severity_text) == ("warn", 13, "WARNING")
        assert (row.source, row.service_name, row.admin_only) == ("api", "activity-console", True)


def test_levels_follow_the_ingest_rule_for_severity_numbers():
    assert [level_of(n) for n in (1, 5, 10, 20, 25, 30, 40, 50)] == [
        "debug", "debug", "debug", "info", "info", "warn", "error", "error"]  # fmt: skip
    assert [severity_number_of(n) for n in (10, 20, 30, 40, 50)] == [5, 9, 13, 17, 21]


def test_nul_is_repaired_in_message_fields_keys_and_entity_type():
    row = server_entry("a\x00b", scope_name="s", fields={"k\x00": ["x\x00"], "n": {"m": "\x00"}}, entity_type="t\x00")
    assert row.message == "a\ufffdb"
    assert row.fields == {"k\ufffd": ["x\ufffd"], "n": {"m": "\ufffd"}}
    assert row.entity_type == "t\ufffd"
    logged = row_from_record(_record(logging.ERROR, "boom\x00", detail="d\x00"))
    assert logged.message == "boom\ufffd" and logged.fields["detail"] == "d\ufffd"


def test_ids_take_the_ingest_int64_rule():
    row = server_entry("m", scope_name="s", user_id="12", job_id="x", project_id=2**63, entity_id=" 7 ")
    assert (row.user_id, row.job_id, row.project_id, row.entity_id) == (12, None, None, 7)
    with pytest.raises(TypeError):
        server_entry("m", scope_name="s", owner_id=1)


def test_maintenance_entries_are_curated_and_admin_only():
    row = curated_api_entry("retention purged 3 entries", {"purged": {"info": 3}}, user_id=4)
    assert (row.category, row.admin_only, row.user_id, row.severity_text) == ("curated", True, 4, "INFO")


def test_no_module_of_the_server_builds_an_activity_row_by_hand():
    """A second builder would drift again (a warning once read WARN on one path, WARNING on another)."""
    offenders = []
    for path in sorted(API.rglob("*.py")):
        if path.name == "server_entries.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "ActivityRow":
                offenders.append(f"{path.relative_to(API.parent)}:{node.lineno}")
    assert offenders == []
