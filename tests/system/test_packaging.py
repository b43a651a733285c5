"""A wheel installed outside the checkout migrates and serves: the migrations and the named
queries travel as package data (a server that lost them used to report "up to date" and fail
later on a missing table)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.serve_process import REPO_ROOT, ServeProcess

pytestmark = pytest.mark.timeout(300)


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=240, **kwargs)


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory) -> Path:
    """The project built as a wheel and installed (without its dependencies, which this
    interpreter has) into a directory of its own, away from the source tree."""
    root = tmp_path_factory.mktemp("wheel")
    built = _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(REPO_ROOT), "-w", str(root / "dist")])
    assert built.returncode == 0, built.stderr[-3000:]
    [wheel] = (root / "dist").glob("*.whl")
    target = root / "site"
    installed = _run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)])
    assert installed.returncode == 0, installed.stderr[-3000:]
    return target


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
    assert "applied 2 migration(s)" in migrated.stdout
    server = ServeProcess(database_url, tmp_path / "data", env={"PYTHONPATH": str(installed_wheel)}, cwd=tmp_path)
    try:
        await server.start()  # waits for /readyz: database reachable, migrations applied
    finally:
        await server.stop()
