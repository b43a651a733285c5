"""The optional trigram search index: the CLI switches it on and off, and with it a search for a
rare word is served by the index with exactly the results of a plain scan."""

from __future__ import annotations

import asyncio

from api.cli import main
from collector.db import repository
from collector.db.repository import LogFilter, Scope, query_logs


async def run_cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def test_search_index_enable_status_disable(database_url, db, capsys, monkeypatch):
    await db.execute(
        "INSERT INTO activity_logs (timestamp, level_id, source_id, message) "
        "SELECT now() - g * interval '1 ms', 1 + g % 4, 1 + g % 5, 'render frame ' || g || ' done' "
        "FROM generate_series(1, 300000) g"
    )
    await db.execute(
        "INSERT INTO activity_logs (timestamp, level_id, source_id, message) VALUES "
        "(now() - interval '250 s', 4, 2, 'torch.OutOfMemoryError: CUDA out of memory'), "
        "(now() - interval '100 s', 2, 2, 'recovered after OutOfMemoryError'), "
        "(now() - interval '50 s', 4, 3, 'worker hit an outofmemoryerror too')"
    )
    rare = LogFilter(search="OutOfMemory")
    rare_errors = LogFilter(search="OutOfMemory", levels=["error"])
    scanned = [await query_logs(db, f, Scope.admin(), limit=10) for f in (rare, rare_errors)]
    assert [r.message for r in scanned[0]] == [
        "worker hit an outofmemoryerror too", "recovered after OutOfMemoryError",
        "torch.OutOfMemoryError: CUDA out of memory",
    ]  # fmt: skip
    assert len(scanned[1]) == 2

    assert await run_cli("search-index", "status", "--database-url", database_url) == 0
    assert "disabled" in capsys.readouterr().out
    available = await db.fetchval("SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm')")
    code = await run_cli("search-index", "enable", "--database-url", database_url)
    if not available:  # the embedded PostgreSQL: a clear refusal, and search still works by scanning
        assert code == 1 and "pg_trgm" in capsys.readouterr().err
        return
    assert code == 0 and "enabled" in capsys.readouterr().out
    assert await repository.search_index_exists(db)

    class SpyingConnection:
        """Records the SQL of every fetch; everything else goes to the real connection."""

        def __init__(self, conn):
            self._conn, self.fetched = conn, []

        def __getattr__(self, name):
            return getattr(self._conn, name)

        async def fetch(self, sql, *args, **kwargs):
            self.fetched.append(sql)
            return await self._conn.fetch(sql, *args, **kwargs)

    def used_index(spy) -> bool:
        return any("WITH matches AS MATERIALIZED" in sql for sql in spy.fetched)

    # Make the time walk give up at once, so that the index path serves the rare word.
    monkeypatch.setattr(repository, "SEARCH_WALK_TIMEOUT_MS", 1)
    spy = SpyingConnection(db)
    with_index = [await query_logs(spy, f, Scope.admin(), limit=10) for f in (rare, rare_errors)]
    assert used_index(spy), "the rare-word search did not go through the index"
    assert with_index == scanned
    # A common word fills its page from the time walk.
    monkeypatch.setattr(repository, "SEARCH_WALK_TIMEOUT_MS", 5000)
    spy = SpyingConnection(db)
    assert len(await query_logs(spy, LogFilter(search="frame"), Scope.admin(), limit=25)) == 25
    assert not used_index(spy)

    assert await run_cli("search-index", "disable", "--database-url", database_url) == 0
    assert not await repository.search_index_exists(db)
