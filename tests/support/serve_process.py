"""``activity-console serve`` as a separate process, for tests that measure the process itself
(its memory, its file descriptors) or need a limit set on it before it starts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Callable

import aiohttp

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServeProcess:
    """One server on free ports with its own data directory; ``start`` waits for ``/readyz``."""

    def __init__(self, database_url: str, data_dir: Path, *, env: dict[str, str] | None = None,
                 preexec_fn: Callable[[], None] | None = None, cwd: Path = REPO_ROOT):  # fmt: skip
        self.data_dir = data_dir
        self.http_port, self.otlp_grpc_port, self.otlp_http_port = free_port(), free_port(), free_port()
        self.log = data_dir.parent / f"{data_dir.name}-serve.log"
        self._env = {k: v for k, v in os.environ.items() if not k.startswith("ACTIVITY_") and k != "DATABASE_URL"}
        # One process (serve --workers 1): these tests measure, limit and kill the server itself.
        self._env.update(DATABASE_URL=database_url, ACTIVITY_DATA_DIR=str(data_dir), ACTIVITY_LOG_LEVEL="WARNING",
                         ACTIVITY_ADMIN_PASSWORD="a-long-first-passphrase", ACTIVITY_WORKERS="1")  # fmt: skip
        self._env.update(env or {})
        self._preexec_fn = preexec_fn
        self._cwd = cwd
        self.process: subprocess.Popen | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def otlp_http_url(self) -> str:
        return f"http://127.0.0.1:{self.otlp_http_port}/v1/logs"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.otlp_grpc_port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def ingest_token(self) -> str:
        return (self.data_dir / "ingest-token.txt").read_text().strip()

    def launch(self) -> None:
        """Start the process without waiting for it (``start`` waits until it is ready). Its
        output is appended to ``log``, so that a restarted server's log keeps the earlier runs."""
        command = [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--http-port", str(self.http_port),
                   "--otlp-grpc-port", str(self.otlp_grpc_port), "--otlp-http-port", str(self.otlp_http_port)]  # fmt: skip
        with self.log.open("a") as log_file:
            self.process = subprocess.Popen(command, cwd=self._cwd, env=self._env, stdout=log_file,
                                            stderr=subprocess.STDOUT, preexec_fn=self._preexec_fn)  # fmt: skip

    def kill(self) -> None:
        """SIGKILL: no shutdown step runs, as in a crash or an OOM kill."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    async def start(self) -> None:
        self.launch()
        assert self.process is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 90
        async with aiohttp.ClientSession() as session:
            while loop.time() < deadline:
                if self.process.poll() is not None:
                    raise AssertionError(f"serve exited with {self.process.returncode}:\n{self.log.read_text()[-4000:]}")
                with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                    async with session.get(self.api_url + "/readyz", timeout=aiohttp.ClientTimeout(total=2)) as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.2)
        raise AssertionError(f"serve did not become ready:\n{self.log.read_text()[-4000:]}")

    async def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(self.process.wait, 60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            await asyncio.to_thread(self.process.wait)
