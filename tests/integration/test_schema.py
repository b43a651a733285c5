"""Migrations apply twice without error, are recorded, refuse edited history, and agree with the
code that writes and reads the schema. Also the database-level
rules: lookup rows, cascades and the settings singleton."""

from __future__ import annotations

import re
from dataclasses import fields as dataclass_fields
from datetime import datetime, timedelta, timezone

import asyncpg
import pytest

from collector.db import migrate
from collector.db.connect import connect
from collector.db.queries import QUERIES
from collector.db.repository import (
    SETTINGS_FIELDS,
    LogFilter,
    Scope,
    count_logs,
    delete_older_than,
    get_settings,
    query_logs,
    update_settings,
)
from collector.errors import ConfigurationError, MigrationError
from collector.hub import LiveHub
from collector.model import LEVELS, SOURCES, ActivityRow
from collector.writer import COPY_COLUMNS, BatchWriter


async def test_migrations_apply_twice_and_are_recorded(empty_database):
    conn = await connect(empty_database)
    try:
        first = await migrate.apply(conn)
        second = await migrate.apply(conn)
        assert [m.version for m in first] == [m.version for m in migrate.discover()]
        assert second == []
        recorded = await conn.fetch("SELECT version, checksum FROM schema_migrations ORDER BY version")
        assert [(r["version"], r["checksum"]) for r in recorded] == [(m.version, m.checksum) for m in migrate.discover()]
        assert await migrate.pending(conn) == []
    finally:
        await conn.close()


async def test_an_edited_migration_is_refused(empty_database, tmp_path):
    for source in migrate.discover():
        (tmp_path / f"{source.version:04d}_{source.name}.sql").write_text(source.sql)
    conn = await connect(empty_database)
    try:
        await migrate.apply(conn, tmp_path)
        first = sorted(tmp_path.glob("*.sql"))[0]
        first.write_text(first.read_text() + "\n-- edited\n")
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await migrate.apply(conn, tmp_path)
    finally:
        await conn.close()


def test_migration_files_are_numbered_without_gaps():
    versions = [m.version for m in migrate.discover()]
    assert versions == list(range(1, len(versions) + 1))
    assert all(p.name.endswith(".sql") or p.name in ("__init__.py", "__pycache__") for p in migrate.MIGRATIONS_DIR.iterdir())


def test_no_migrations_found_is_an_error(tmp_path):
    with pytest.raises(MigrationError, match="no migrations found"):
        migrate.discover(tmp_path)


async def test_schema_agrees_with_the_code(db):
    columns = {
        r["column_name"]
        for r in await db.fetch("SELECT column_name FROM information_schema.columns WHERE table_name = 'activity_logs'")
    }
    assert set(COPY_COLUMNS) <= columns
    # level and source are names of lookup rows; truncated and message_length describe list views.
    view_only = {"_json", "level", "source", "truncated", "message_length"}
    row_fields = {f.name for f in dataclass_fields(ActivityRow)} - view_only
    assert row_fields <= columns
    levels = [r["name"] for r in await db.fetch("SELECT name FROM activity_log_levels ORDER BY id")]
    sources = [r["name"] for r in await db.fetch("SELECT name FROM activity_log_sources ORDER BY id")]
    assert tuple(levels) == LEVELS and tuple(sources) == SOURCES
    settings_columns = {
        r["column_name"]
        for r in await db.fetch("SELECT column_name FROM information_schema.columns WHERE table_name = 'activity_log_settings'")
    }
    assert set(SETTINGS_FIELDS) <= settings_columns
    # No foreign key from the log table: ingest must never fail on an unknown user/job/project.
    assert await db.fetchval(
        "SELECT count(*) FROM pg_constraint WHERE conrelid = 'activity_logs'::regclass AND contype = 'f'"
    ) == 0


async def test_every_named_query_is_valid_sql(db):
    """PREPARE each named query against the migrated schema: a typo or a dropped column fails here.
    DDL templates get this schema's names (the search index's need pg_trgm's operator class)."""
    trigram = await db.fetchval("SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm')")
    if trigram:
        await db.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    names = {"table": "activity_logs_info", "index": "activity_logs_info_message_trgm_idx",
             "parent_index": "activity_logs_message_trgm_idx",
             "where": """WHERE "timestamp" < '2026-11-29T14:00:00+00:00'::timestamptz"""}  # fmt: skip
    for name, sql in QUERIES.items():
        if re.search(r"\{[a-z_]+\}", sql):
            if "gin_trgm_ops" in sql and not trigram:
                continue
            sql = sql.format(**names)
        try:
            await db.prepare(sql)
        except asyncpg.PostgresError as exc:
            pytest.fail(f"query {name!r} does not prepare: {exc}")


# --- database-level rules ----------------------------------------------------------------------

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)


def row(message: str, *, level="info", source="api", category="verbose", minutes=0, **extra) -> ActivityRow:
    return ActivityRow(
        timestamp=T0 + timedelta(minutes=minutes), level=level, source=source, message=message, category=category, **extra
    )


@pytest.fixture
async def writer(database_url):
    from collector.db.connect import create_pool

    pool = await create_pool(database_url)
    batch_writer = BatchWriter(pool, LiveHub(), flush_interval=0.01)
    await batch_writer.start()
    try:
        yield batch_writer
    finally:
        await batch_writer.close()
        await pool.close()


@pytest.fixture
async def sample(writer):
    rows = [
        row("d api", level="debug", minutes=0),
        row("i comfy", source="comfyui", category="curated", minutes=10),
        row("w worker", level="warn", source="worker", minutes=20, job_id=5),
        row("e agent", level="error", source="agent", category="curated", minutes=30, user_id=2),
        row("i pipeline", source="pipeline", minutes=40, project_id=9, entity_type="scene", entity_id=3),
    ]
    result = await writer.submit(rows)
    assert result.accepted == 5 and result.rejected == 0
    return rows


async def test_batch_insert_assigns_increasing_ids(sample, db):
    ids = [r.id for r in sample]
    assert all(ids) and ids == sorted(ids) and len(set(ids)) == 5
    assert await count_logs(db, LogFilter(), Scope.admin()) == 5


async def test_query_with_level_filter(sample, db):
    rows = await query_logs(db, LogFilter(levels=["warn", "error"]), Scope.admin())
    assert [r.message for r in rows] == ["e agent", "w worker"]


async def test_query_with_source_filter(sample, db):
    rows = await query_logs(db, LogFilter(sources=["comfyui"]), Scope.admin())
    assert [r.message for r in rows] == ["i comfy"]


async def test_query_with_time_range(sample, db):
    rows = await query_logs(
        db, LogFilter(since=T0 + timedelta(minutes=10), until=T0 + timedelta(minutes=30)), Scope.admin()
    )
    assert [r.message for r in rows] == ["w worker", "i comfy"]  # newest first; `until` is exclusive


async def test_query_with_mode_filter(sample, db):
    curated = await query_logs(db, LogFilter(mode="curated"), Scope.admin())
    verbose = await query_logs(db, LogFilter(mode="verbose"), Scope.admin())
    assert {r.message for r in curated} == {"i comfy", "e agent"}
    assert {r.message for r in verbose} == {"d api", "w worker", "i pipeline"}


async def test_query_pages_and_cursors(sample, db):
    first = await query_logs(db, LogFilter(), Scope.admin(), limit=2)
    second = await query_logs(db, LogFilter(), Scope.admin(), limit=2, offset=2)
    assert [r.message for r in first + second] == ["i pipeline", "e agent", "w worker", "i comfy"]
    older = await query_logs(db, LogFilter(before_id=first[-1].id), Scope.admin(), limit=2)
    assert older == second
    after = await query_logs(db, LogFilter(after_id=sample[2].id), Scope.admin())
    assert [r.message for r in after] == ["e agent", "i pipeline"]  # commit order


async def test_search_escapes_like_wildcards(writer, db):
    await writer.submit([row("100% done"), row("1000 done"), row("under_score"), row("underXscore")])
    assert [r.message for r in await query_logs(db, LogFilter(search="0%"), Scope.admin())] == ["100% done"]
    assert [r.message for r in await query_logs(db, LogFilter(search="r_s"), Scope.admin())] == ["under_score"]
    assert [r.message for r in await query_logs(db, LogFilter(search="DONE"), Scope.admin())] != []


async def test_delete_older_than(sample, db):
    deleted = await delete_older_than(db, "info", T0 + timedelta(minutes=15), chunk=1)
    assert deleted == 1  # "i comfy" (10 min); "i pipeline" is newer, other levels untouched
    assert {r.message for r in await query_logs(db, LogFilter(), Scope.admin())} == {
        "d api", "w worker", "e agent", "i pipeline",
    }  # fmt: skip


# The settings row as the migrations create it: its defaults are declared there only.
MIGRATED_SETTINGS = {
    "retention_days_debug": 7, "retention_days_info": 30, "retention_days_warn": 30,
    "retention_days_error": 90, "batch_size": 100, "flush_interval_ms": 1000,
}  # fmt: skip


async def test_settings_get_and_update(db):
    settings = await get_settings(db)
    assert {k: settings[k] for k in SETTINGS_FIELDS} == MIGRATED_SETTINGS
    updated = await update_settings(db, {"retention_days_debug": 3, "batch_size": 250})
    assert updated["retention_days_debug"] == 3 and updated["batch_size"] == 250
    assert updated["retention_days_error"] == 90  # untouched
    assert updated["updated_at"] > settings["updated_at"]  # set_updated_at() trigger
    # Without the row there is nothing to fall back on: an error, not defaults kept in the code.
    await db.execute("DELETE FROM activity_log_settings")
    with pytest.raises(ConfigurationError, match="activity_log_settings"):
        await get_settings(db)
    with pytest.raises(ConfigurationError, match="activity_log_settings"):
        await update_settings(db, {"batch_size": 250})
    await db.execute("INSERT INTO activity_log_settings (id) VALUES (1)")  # the remedy the error names
    assert {k: (await get_settings(db))[k] for k in SETTINGS_FIELDS} == MIGRATED_SETTINGS
