"""A wheel installed outside the checkout migrates and serves: the migrations and the named
queries travel as package data (a server that lost them used to report "up to date" and fail
later on a missing table)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.support.otlp import request_with
from tests.support.serve_process import REPO_ROOT, ServeProcess

pytestmark = pytest.mark.timeout(300)


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=240, **kwargs)


MIGRATIONS = len(list((REPO_ROOT / "migrations").glob("*.sql")))


def _fresh_checkout(root: Path) -> Path:
    """The repository's files as a fresh clone has them (nothing built, nothing ignored)."""
    listed = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT)
    assert listed.returncode == 0, listed.stderr
    checkout = root / "checkout"
    for name in filter(None, listed.stdout.split("\0")):
        if (REPO_ROOT / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, checkout / name)
    return checkout


def _install_wheel(root: Path, source: Path, env: dict[str, str] | None = None) -> Path:
    built = _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(source), "-w", str(root / "dist")],
                 env=env)  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    [wheel] = (root / "dist").glob("*.whl")
    target = root / "site"
    installed = _run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)])
    assert installed.returncode == 0, installed.stderr[-3000:]
    return target


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory) -> Path:
    """The project built as a wheel and installed (without its dependencies, which this
    interpreter has) into a directory of its own, away from the source tree."""
    return _install_wheel(tmp_path_factory.mktemp("wheel"), REPO_ROOT)


@pytest.fixture(scope="module")
def wheel_without_compiler(tmp_path_factory) -> Path:
    """A fresh checkout built where the C compiler fails: the native fast path is optional."""
    root = tmp_path_factory.mktemp("no-compiler")
    return _install_wheel(root, _fresh_checkout(root), env={**os.environ, "CC": "/bin/false"})


def _outside_env(site: Path) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("ACTIVITY_")}, "PYTHONPATH": str(site)}


def test_the_wheel_is_what_runs(installed_wheel: Path, tmp_path: Path):
    probe = _run([sys.executable, "-c", "import collector, migrations; print(collector.__file__, migrations.__file__)"],
                 cwd=tmp_path, env=_outside_env(installed_wheel))  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    assert all(path.startswith(str(installed_wheel)) for path in probe.stdout.split())


async def test_a_wheel_install_migrates_and_serves(installed_wheel: Path, database_url: str, tmp_path: Path, db):
    await db.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")  # an empty database
    env = _outside_env(installed_wheel)
    migrated = await asyncio.to_thread(_run, [sys.executable, "-m", "api.cli", "migrate", "--database-url", database_url],
                                       cwd=tmp_path, env=env)  # fmt: skip
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    assert f"applied {MIGRATIONS} migration(s)" in migrated.stdout
    server = ServeProcess(database_url, tmp_path / "data", env={"PYTHONPATH": str(installed_wheel)}, cwd=tmp_path)
    try:
        await server.start()  # waits for /readyz: database reachable, migrations applied
    finally:
        await server.stop()


async def test_without_a_compiler_the_wheel_installs_and_ingests_on_the_python_path(
    wheel_without_compiler: Path, database_url: str, tmp_path: Path, db
):
    env = _outside_env(wheel_without_compiler)
    probe = _run([sys.executable, "-c", "from collector import copy_rows; print(copy_rows.native_module())"],
                 cwd=tmp_path, env=env)  # fmt: skip
    assert probe.returncode == 0 and probe.stdout.strip() == "None", probe.stdout + probe.stderr
    assert not list(wheel_without_compiler.glob("collector/_fastpath*.so"))
    server = ServeProcess(database_url, tmp_path / "data", env={"PYTHONPATH": str(wheel_without_compiler)}, cwd=tmp_path)
    await server.start()
    try:
        body = request_with([{"body": "stored without the fast path", "attributes": {"n": 1}}]).SerializeToString()
        headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {server.ingest_token}"}
        async with aiohttp.ClientSession() as session:
            async with session.post(server.otlp_http_url, data=body, headers=headers) as response:
                assert response.status == 200, await response.text()
        stored = await db.fetchval("SELECT fields FROM activity_logs WHERE message = 'stored without the fast path'")
        assert stored == {"n": 1}
    finally:
        await server.stop()
