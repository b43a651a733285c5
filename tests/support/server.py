"""A whole server started in the test's process on free ports, and small waiting helpers."""

from __future__ import annotations

import asyncio
import inspect
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web

import sdk_shim
from api.app import RUNTIME, Runtime, create_app
from api.connection_guard import GuardedAppRunner, api_limits, start_guarded_site
from api.settings import Settings
from collector.auth import create_token
from collector.db import migrate
from collector.db.connect import connect

_counter = itertools.count()


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@dataclass
class RunningServer:
    app: web.Application
    runner: web.AppRunner
    http_port: int
    token: str

    @property
    def runtime(self) -> Runtime:
        return self.app[RUNTIME]

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
        await self.runner.cleanup()


async def start_server(
    database_url: str, data_dir: Path, *, flush_interval_ms: int = 50, **overrides: Any
) -> RunningServer:
    """Start the whole server on free ports. The writer's flush interval is shortened so that
    tests do not wait for the production default (1 s)."""
    conn = await connect(database_url)
    try:
        await migrate.apply(conn)
        await conn.execute("UPDATE activity_log_settings SET flush_interval_ms = $1", flush_interval_ms)
        token, _ = await create_token(conn, f"test-{next(_counter)}")
    finally:
        await conn.close()
    values: dict[str, Any] = dict(
        database_url=database_url, data_dir=data_dir, http_port=0, otlp_grpc_port=0, otlp_http_port=0,
        bootstrap=False, settings_refresh_s=0.2,
        # The tests share the server's process and root logger: its own log records would land
        # in every test's table. tests/integration/test_server_logs.py turns them on.
        server_log_level="OFF",
    )  # fmt: skip
    values.update(overrides)
    settings = Settings(**values)
    app = create_app(settings)
    runner = GuardedAppRunner(app, api_limits(settings), handle_signals=False)
    await runner.setup()
    _, port = await start_guarded_site(runner, "127.0.0.1", 0)
    return RunningServer(app=app, runner=runner, http_port=port, token=token)


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
