"""The command line: migrate, tokens, users, and `serve` on the embedded database."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import pytest
import urllib.request

from api.cli import main
from api.passwords import verify_password
from tests.otlp_factory import request_with


async def fetch(url: str, sql: str, *args):
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


def test_migrate_is_idempotent(database_url, capsys):
    assert main(["migrate", "--database-url", database_url]) == 0
    assert "up to date" in capsys.readouterr().out


async def test_token_create_prints_it_once_and_stores_only_a_hash(database_url, capsys):
    assert await _run(["token", "create", "--name", "gpu-agents", "--database-url", database_url]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("ac_") and len(token) > 40
    [row] = await fetch(database_url, "SELECT * FROM ingest_tokens WHERE name = 'gpu-agents'")
    assert bytes(row["token_hash"]) == hashlib.sha256(token.encode()).digest()
    assert token not in str(dict(row))

    assert await _run(["token", "revoke", "gpu-agents", "--database-url", database_url]) == 0
    [row] = await fetch(database_url, "SELECT revoked_at FROM ingest_tokens WHERE name = 'gpu-agents'")
    assert row["revoked_at"] is not None
    assert await _run(["token", "revoke", "gpu-agents", "--database-url", database_url]) == 1
    assert "no active ingest token" in capsys.readouterr().err


async def test_user_create(database_url, capsys):
    args = ["user", "create", "--email", "ana@example.com", "--role", "creator", "--password", "s3cret-pass", "--database-url", database_url]
    assert await _run(args) == 0
    [row] = await fetch(database_url, "SELECT role, password_hash FROM users WHERE email = 'ana@example.com'")
    assert row["role"] == "creator" and verify_password(row["password_hash"], "s3cret-pass")
    assert await _run(args) == 1
    assert "already exists" in capsys.readouterr().err


async def _run(argv: list[str]) -> int:
    """The CLI runs its own event loop: call it from a thread."""
    import asyncio

    return await asyncio.to_thread(main, argv)


def _read_banner(process: subprocess.Popen, deadline: float) -> str:
    lines = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("(OTLP/HTTP exporters"):
            return "".join(lines)
    raise AssertionError("serve printed no banner:\n" + "".join(lines))


@pytest.mark.timeout(120)
def test_serve_on_the_embedded_database(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL")}
    env["ACTIVITY_ADMIN_PASSWORD"] = ""
    command = [sys.executable, "-m", "api.cli", "serve", "--data-dir", str(tmp_path / "data"),
               "--http-port", "0", "--otlp-grpc-port", "0", "--otlp-http-port", "0"]  # fmt: skip
    banners = []
    for _ in range(2):  # the second start reuses the data directory
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        try:
            banner = _read_banner(process, time.monotonic() + 60)
            banners.append(banner)
            console = re.search(r"Console:\s+(http://\S+)/", banner)[1]
            otlp_http = re.search(r"OTLP/HTTP:\s+(http://\S+)", banner)[1]
            token = re.search(r"Bearer%20(\S+)", banner)[1]
            with urllib.request.urlopen(console + "/readyz", timeout=10) as response:
                assert response.status == 200
            request = urllib.request.Request(
                otlp_http.replace("localhost", "127.0.0.1"),
                data=request_with([{"body": "hello from the embedded test"}]).SerializeToString(),
                headers={"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {token}"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 0
    first, second = banners
    assert "Admin:      admin@localhost / " in first
    # Credentials and token come back from the data directory's first-run files.
    assert re.search(r"Admin:.*", first)[0] == re.search(r"Admin:.*", second)[0]
    assert re.search(r"Bearer%20(\S+)", first)[1] == re.search(r"Bearer%20(\S+)", second)[1]
    assert (tmp_path / "data" / "pgdata" / "PG_VERSION").exists()
    assert not (tmp_path / "data" / "pgdata" / "postmaster.pid").exists()  # stopped on exit


async def test_first_run_never_echoes_a_password_from_the_environment(database_url, tmp_path):
    from api.bootstrap import ensure_first_run
    from collector.db.connect import create_pool

    pool = await create_pool(database_url)
    try:
        given = await ensure_first_run(pool, tmp_path, {"ACTIVITY_ADMIN_EMAIL": "root@example.com", "ACTIVITY_ADMIN_PASSWORD": "from-env-secret"})
        assert given.admin_email == "root@example.com" and given.admin_password is None
        assert not (tmp_path / "initial-admin.txt").exists()
        assert given.ingest_token and (tmp_path / "ingest-token.txt").read_text().strip() == given.ingest_token
    finally:
        await pool.close()
