"""A whole server started in the test's process on free ports, and small waiting helpers."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

import sdk_shim
from api.connection_guard import GuardedAppRunner
from api.runner import RunningServer, running_server
from api.runtime import Runtime
from api.settings import load_settings
from collector.auth import create_token
from collector.db import migrate
from collector.db.connect import connect

_counter = itertools.count()


@dataclass
class InProcessServer:
    """A server running in the test's process (``running_server``) with an ingest token of its
    own; ``stop()`` ends it."""

    server: RunningServer
    token: str
    _running: contextlib.AsyncExitStack

    @property
    def app(self) -> web.Application:
        return self.server.app

    @property
    def runtime(self) -> Runtime:
        return self.server.runtime

    @property
    def runner(self) -> GuardedAppRunner:
        return self.server.runner

    @property
    def http_port(self) -> int:
        return self.server.http_port

    @property
    def grpc_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.runtime.otlp_grpc_port}"

    @property
    def otlp_http_url(self) -> str:
        return f"http://127.0.0.1:{self.runtime.otlp_http_port}/v1/logs"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def configure_sdk(self, service_name: str, source: str, protocol: str = "grpc", **options: Any) -> None:
        """Point sdk_shim (the real OTel SDK exporters) at this server with its ingest token."""
        endpoint = self.grpc_endpoint if protocol == "grpc" else f"http://127.0.0.1:{self.runtime.otlp_http_port}"
        options.setdefault("schedule_delay_millis", 100)
        sdk_shim.configure(
            service_name=service_name, source=source, endpoint=endpoint,
            headers={"authorization": f"Bearer {self.token}"}, protocol=protocol, **options,
        )  # fmt: skip

    async def stop(self) -> None:
        await self._running.aclose()


async def start_server(
    database_url: str, data_dir: Path, *, flush_interval_ms: int = 50, **overrides: Any
) -> InProcessServer:
    """Start the whole server on free ports. The writer's flush interval is shortened so that
    tests do not wait for the production default (1 s). Settings not given here come from the
    environment, as for ``serve`` (tests set the first admin's that way)."""
    conn = await connect(database_url)
    try:
        await migrate.apply(conn)
        await conn.execute("UPDATE activity_log_settings SET flush_interval_ms = $1", flush_interval_ms)
        token, _ = await create_token(conn, f"test-{next(_counter)}")
    finally:
        await conn.close()
    arguments: dict[str, Any] = dict(
        database_url=database_url, data_dir=data_dir, host="127.0.0.1", http_port=0, otlp_grpc_port=0,
        otlp_http_port=0, bootstrap=False, settings_refresh_s=0.2,
        # The tests share the server's process and root logger: its own log records would land
        # in every test's table. tests/integration/test_server_logs.py turns them on.
        server_log_level="OFF",
    )  # fmt: skip
    arguments.update(overrides)
    running = contextlib.AsyncExitStack()
    # The garbage collector's tuning is process-wide: the test session keeps Python's defaults.
    server = await running.enter_async_context(running_server(load_settings(arguments), tune_gc=False))
    # Its start-up retention cycle first: it deletes what a test stores with an old timestamp, at
    # a moment that would otherwise depend on the machine's load.
    retention = server.runtime.retention
    if retention is not None:
        await wait_for(lambda: retention.cycles + retention.skipped + retention.failed)
    return InProcessServer(server, token, running)


async def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll a predicate (plain or async) until it returns something truthy, or give up and return
    its last result after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(interval)
