"""The command line: migrate, tokens, users, and `serve` on the embedded database."""

from __future__ import annotations

import asyncio
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

from api.bootstrap import ensure_first_run
from api.cli import main
from api.passwords import verify_password
from api.runner import banner as server_banner
from api.settings import Settings, load_settings
from collector.db.connect import create_pool
from tests.support.otlp import request_with


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
    # An active token's name is unique: a second one with it is refused, nothing stored.
    assert await _run(["token", "create", "--name", "gpu-agents", "--database-url", database_url]) == 1
    assert "already exists" in capsys.readouterr().err
    assert len(await fetch(database_url, "SELECT id FROM ingest_tokens WHERE name = 'gpu-agents'")) == 1

    assert await _run(["token", "revoke", "gpu-agents", "--database-url", database_url]) == 0
    [row] = await fetch(database_url, "SELECT revoked_at FROM ingest_tokens WHERE name = 'gpu-agents'")
    assert row["revoked_at"] is not None
    assert await _run(["token", "revoke", "gpu-agents", "--database-url", database_url]) == 1
    assert "no active ingest token" in capsys.readouterr().err


async def test_user_create(database_url, capsys):
    args = ["user", "create", "--email", "ana@example.com", "--role", "creator", "--password", "s3cret-pass-phrase", "--database-url", database_url]
    assert await _run(args) == 0
    [row] = await fetch(database_url, "SELECT role, password_hash FROM users WHERE email = 'ana@example.com'")
    assert row["role"] == "creator" and verify_password(row["password_hash"], "s3cret-pass-phrase")
    assert await _run(args) == 1
    assert "already exists" in capsys.readouterr().err


async def _run(argv: list[str]) -> int:
    """The CLI runs its own event loop: call it from a thread."""
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
            token = (tmp_path / "data" / "ingest-token.txt").read_text().strip()
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
    # The credentials come back from the data directory's first-run file...
    assert re.search(r"Admin:.*", first)[0] == re.search(r"Admin:.*", second)[0]
    # ...while the token is printed only by the run that created it, later ones point at its file.
    token_file = tmp_path / "data" / "ingest-token.txt"
    assert re.search(r"Bearer%20(\S+)", first)[1] == token_file.read_text().strip()
    assert token_file.read_text().strip() not in second
    assert f'export OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer%20$(cat {token_file})"' in second
    assert (tmp_path / "data" / "pgdata" / "PG_VERSION").exists()
    assert not (tmp_path / "data" / "pgdata" / "postmaster.pid").exists()  # stopped on exit


async def test_first_run_never_echoes_a_password_from_the_environment(database_url, tmp_path):
    pool = await create_pool(database_url)
    try:
        environ = {"ACTIVITY_ADMIN_EMAIL": "root@example.com", "ACTIVITY_ADMIN_PASSWORD": "from-env-secret"}
        given = await ensure_first_run(pool, load_settings({"data_dir": tmp_path}, environ))
        assert given.admin_email == "root@example.com" and given.admin_password is None
        assert not (tmp_path / "initial-admin.txt").exists()
        assert given.ingest_token and (tmp_path / "ingest-token.txt").read_text().strip() == given.ingest_token
    finally:
        await pool.close()


async def test_user_create_enforces_the_password_policy(database_url, capsys, monkeypatch):
    base = ["user", "create", "--role", "creator", "--database-url", database_url]
    for email, password, reason in [("ana@example.com", "s3cret-pass", "12"),
                                    ("ana@example.com", "password1234", "common"),
                                    ("anabel@example.com", "anabel's own passphrase", "e-mail")]:  # fmt: skip
        assert await _run(base + ["--email", email, "--password", password]) == 1
        err = capsys.readouterr().err
        assert "password" in err and reason in err, err

    class Terminal:
        def isatty(self) -> bool:
            return True

    # The prompt is held to the same rules.
    monkeypatch.setattr("sys.stdin", Terminal())
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "qwerty")
    assert await _run(base + ["--email", "ana@example.com"]) == 1
    assert "12" in capsys.readouterr().err
    assert await fetch(database_url, "SELECT 1 FROM users WHERE email LIKE 'ana%'") == []
    # A generated password passes, and is printed.
    monkeypatch.undo()
    assert await _run(base + ["--email", "gen@example.com"]) == 0
    password = re.search(r"password: (\S+)", capsys.readouterr().out)[1]
    [row] = await fetch(database_url, "SELECT password_hash FROM users WHERE email = 'gen@example.com'")
    assert verify_password(row["password_hash"], password)


async def test_the_ingest_token_is_shown_only_by_the_run_that_created_it(database_url, tmp_path):
    settings = Settings(database_url=database_url, data_dir=tmp_path)

    def banner(first_run) -> str:
        return server_banner(settings, first_run, http_port=8080, otlp_grpc_port=4317, otlp_http_port=4318)

    pool = await create_pool(database_url)
    try:
        first = await ensure_first_run(pool, settings)
        later = await ensure_first_run(pool, settings)
    finally:
        await pool.close()
    token = (tmp_path / "ingest-token.txt").read_text().strip()
    assert first.ingest_token == token and later.ingest_token is None
    first_banner, later_banner = banner(first), banner(later)
    assert f"OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20{token}" in first_banner
    assert token not in later_banner
    token_file = tmp_path / "ingest-token.txt"
    assert f'export OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer%20$(cat {token_file})"' in later_banner
    assert "(OTLP/HTTP exporters" in later_banner
    # The admin's credentials are printed every time, as long as their file is kept.
    admin_line = re.search(r"Admin:.*", first_banner)[0]
    assert admin_line == re.search(r"Admin:.*", later_banner)[0] and first.admin_password in admin_line
