"""``activity-console serve --workers N``: N server processes on this machine, on one database.

The process started by ``serve`` becomes a supervisor: it starts the embedded database when no
``DATABASE_URL`` is given, applies the migrations, creates the first admin and the JWT key once,
then starts N workers. Each worker is a whole server (``api.runner``) that listens on the same
three ports with SO_REUSEPORT (the kernel spreads connections across them), keeps its own spool
(``data_dir/spool/worker-<i>``) and shares live tails with the others through the database
(docs/replicas.md). The supervisor prints the banner once the workers are ready, starts a worker
again when one dies (after a second, so that a worker that cannot start does not spin), and on
SIGINT or SIGTERM stops them all and waits for each to commit what it accepted. A worker ends
when its supervisor does, even when the supervisor is killed (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import socket
import sys
from pathlib import Path

from api import bootstrap, security
from api.runner import banner
from api.settings import Settings
from collector.db import migrate
from collector.db.connect import connect, create_pool, running_postgres

log = logging.getLogger(__name__)

READY_LINE = "ACTIVITY_WORKER_READY"
RESTART_DELAY_S = 1.0
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0
PR_SET_PDEATHSIG = 1


def warn_of_orphan_spools(data_dir: Path, workers: int) -> None:
    """A spool left by a worker that no longer runs (fewer workers than before) is not replayed."""
    for directory in sorted((data_dir / "spool").glob("worker-*")):
        index = directory.name.removeprefix("worker-")
        if index.isdigit() and int(index) >= workers and any(directory.glob("*.spool")):
            log.warning("%s holds requests not yet committed, but only %d worker(s) run: start with --workers %d "
                        "once to replay them", directory, workers, int(index) + 1)  # fmt: skip


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _load_libc():  # noqa: ANN202 - a ctypes library or None
    name = ctypes.util.find_library("c")  # (runs a program: never in a forked child)
    try:
        return ctypes.CDLL(name, use_errno=True) if name else None
    except OSError:
        return None


_LIBC = _load_libc()


def _die_with_parent() -> None:
    """In the worker, between fork and exec: SIGTERM when the supervisor exits, however it
    exits (Linux; elsewhere a killed supervisor leaves its workers running)."""
    if _LIBC is not None:
        with contextlib.suppress(AttributeError):
            _LIBC.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))


class Worker:
    def __init__(self, index: int, command: list[str], env: dict[str, str]):
        self.index = index
        self.command = command
        self.env = env
        self.process: asyncio.subprocess.Process | None = None
        self.ready = asyncio.Event()
        self._relay: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.ready.clear()
        self.process = await asyncio.create_subprocess_exec(
            *self.command, env=self.env, stdout=asyncio.subprocess.PIPE, preexec_fn=_die_with_parent
        )
        self._relay = asyncio.create_task(self._read_stdout(), name=f"worker-{self.index}-stdout")

    async def _read_stdout(self) -> None:
        """The worker says when it is ready on its stdout; anything else it prints is passed on."""
        assert self.process is not None and self.process.stdout is not None
        async for line in self.process.stdout:
            text = line.decode(errors="replace").rstrip("\n")
            if text == f"{READY_LINE} {self.index}":
                self.ready.set()
            else:
                print(text, flush=True)

    async def stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            log.error("worker %d did not stop within %.0f s; killing it", self.index, STOP_TIMEOUT_S)
            process.kill()
            await process.wait()
        if self._relay is not None:
            with contextlib.suppress(Exception):
                await self._relay


async def serve_workers(settings: Settings) -> int:
    """Run ``settings.workers`` workers until SIGINT or SIGTERM."""
    async with running_postgres(settings.database_url, settings.data_dir) as dsn:
        conn = await connect(dsn)
        try:
            await migrate.apply(conn)
        finally:
            await conn.close()
        first_run = None
        if settings.bootstrap:
            async with await create_pool(dsn, min_size=1, max_size=2) as pool:
                first_run = await bootstrap.ensure_first_run(pool, settings)
        security.load_jwt_secret(settings)  # written once, before the workers read it
        warn_of_orphan_spools(settings.data_dir, settings.workers)
        host = settings.host
        ports = {name: getattr(settings, name) or _free_port(host) for name in ("http_port", "otlp_grpc_port", "otlp_http_port")}
        env = {**os.environ, "DATABASE_URL": dsn, "ACTIVITY_DATA_DIR": str(settings.data_dir),
               "ACTIVITY_BOOTSTRAP": "false", "ACTIVITY_WORKERS": "1"}  # fmt: skip
        command = [sys.executable, "-m", "api.cli", "serve", "--host", host, "--http-port", str(ports["http_port"]),
                   "--otlp-grpc-port", str(ports["otlp_grpc_port"]), "--otlp-http-port", str(ports["otlp_http_port"])]  # fmt: skip
        workers = [Worker(i, command, {**env, "ACTIVITY_WORKER_INDEX": str(i)}) for i in range(settings.workers)]
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            for worker in workers:
                await worker.start()
            if not await _all_ready(workers, stop):
                return 1
            print(banner(settings, first_run, http_port=ports["http_port"], otlp_grpc_port=ports["otlp_grpc_port"],
                         otlp_http_port=ports["otlp_http_port"], workers=settings.workers), flush=True)  # fmt: skip
            await _supervise(workers, stop)
        finally:
            log.info("stopping %d worker(s)", len(workers))
            await asyncio.gather(*(worker.stop() for worker in workers))
    return 0


async def _all_ready(workers: list[Worker], stop: asyncio.Event) -> bool:
    waiting = [asyncio.ensure_future(worker.ready.wait()) for worker in workers]
    stopped = asyncio.ensure_future(stop.wait())
    exited = [asyncio.ensure_future(worker.process.wait()) for worker in workers if worker.process is not None]
    try:
        deadline = loop_time() + START_TIMEOUT_S
        while not all(worker.ready.is_set() for worker in workers):
            done, _ = await asyncio.wait([*waiting, stopped, *exited], timeout=max(0.0, deadline - loop_time()),
                                         return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
            if not done:
                log.error("the workers did not start within %.0f s", START_TIMEOUT_S)
                return False
            if stopped in done:
                return False
            for worker in workers:
                if worker.process is not None and worker.process.returncode is not None:
                    log.error("worker %d exited with %s while starting", worker.index, worker.process.returncode)
                    return False
        return True
    finally:
        for future in (*waiting, stopped, *exited):
            future.cancel()


def loop_time() -> float:
    return asyncio.get_running_loop().time()


async def _supervise(workers: list[Worker], stop: asyncio.Event) -> None:
    """Until ``stop``: a worker that exits is started again."""
    while not stop.is_set():
        exits = {asyncio.ensure_future(worker.process.wait()): worker for worker in workers if worker.process is not None}
        stopped = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait([*exits, stopped], return_when=asyncio.FIRST_COMPLETED)
        for future in (*exits, stopped):
            if future not in done:
                future.cancel()
        if stop.is_set():
            return
        for future in done:
            worker = exits.get(future)
            if worker is None:
                continue
            log.error("worker %d exited with %s; starting it again in %.0f s", worker.index, future.result(), RESTART_DELAY_S)
            await asyncio.sleep(RESTART_DELAY_S)
            if not stop.is_set():
                await worker.start()
