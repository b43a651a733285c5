"""The whole server run in this process: ``running_server(settings)`` starts it as
``activity-console serve`` does and stops it when its block ends. The CLI's ``serve`` and
``demo``, the tests and the benchmarks all start the server through it."""

from __future__ import annotations

import contextlib
import gc
import shlex
from dataclasses import dataclass
from typing import AsyncIterator

from aiohttp import web

from api.app import create_app
from api.bootstrap import FirstRun
from api.connection_guard import GuardedAppRunner, api_limits, fit_to_open_file_limit, start_guarded_site
from api.runtime import RUNTIME, Runtime
from api.settings import ENV_VARS, Settings


@dataclass(frozen=True, slots=True)
class RunningServer:
    """A started server: its application, whose ``runtime`` holds what it started (the pools, the
    writer, the OTLP ports); the runner of its API listener (``runner.server`` counts that
    listener's connections); and the port its API, WebSocket and console listen on."""

    app: web.Application
    runner: GuardedAppRunner
    http_port: int

    @property
    def runtime(self) -> Runtime:
        return self.app[RUNTIME]

    @property
    def settings(self) -> Settings:
        """The settings it runs with (the connection caps fitted to the open-file limit)."""
        return self.runtime.settings

    def banner(self) -> str:
        runtime = self.runtime
        return banner(runtime.settings, runtime.first_run, http_port=self.http_port,
                      otlp_grpc_port=runtime.otlp_grpc_port, otlp_http_port=runtime.otlp_http_port)  # fmt: skip


@contextlib.asynccontextmanager
async def running_server(settings: Settings, *, tune_gc: bool = True) -> AsyncIterator[RunningServer]:
    """The whole server, started in order — the database (an embedded one unless
    ``settings.database_url``), migrated; the writer; the OTLP receivers; then the API's listener
    — and stopped in reverse when the block ends, after the writer has committed what the
    receivers accepted. A start-up that fails part-way unwinds what it had started.

    ``tune_gc`` tunes the process's garbage collector for ingest (``tune_gc_for_ingest``); a
    server that shares its process with other work (the tests') leaves it as it is."""
    settings = fit_to_open_file_limit(settings)  # before any listener: it may lower the connection caps
    app = create_app(settings)
    runner = GuardedAppRunner(app, api_limits(settings), handle_signals=False, access_log=None)
    try:
        await runner.setup()  # the application's start-up steps (api/app.py)
        if tune_gc:
            tune_gc_for_ingest()
        _, http_port = await start_guarded_site(runner, settings.host, settings.http_port,
                                                reuse_port=settings.worker_index is not None)  # fmt: skip
        yield RunningServer(app, runner, http_port)
    finally:
        await runner.cleanup()  # the start-up steps unwound: receivers, writer flush, pools, database


def tune_gc_for_ingest() -> None:
    """Make Python's cyclic garbage collector fit a server that allocates ~30 container objects
    per log record. At the default gen-0 threshold (700) it would run a collection about a
    thousand times a second at 20,000 records/s, walking every queued row each time; measured on
    the ingest hot path, mapping and encoding cost 34 µs per record with the defaults and 27 µs
    with these. Objects alive after start-up (modules, the app) are frozen out of collections."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def banner(settings: Settings, first_run: FirstRun | None, *, http_port: int, otlp_grpc_port: int,
           otlp_http_port: int, workers: int = 1) -> str:  # fmt: skip
    """Where the server is and how to log in and send to it, as ``serve`` prints it."""
    host = settings.host
    shown_host = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::") else host
    database = "external" if settings.database_url else f"embedded, in {settings.data_dir}"
    lines = [
        "",
        "Activity Console is running",
        f"  Console:    http://{shown_host}:{http_port}/",
        f"  OTLP/gRPC:  {shown_host}:{otlp_grpc_port}",
        f"  OTLP/HTTP:  http://{shown_host}:{otlp_http_port}/v1/logs",
        f"  Database:   {database}",
    ]
    if workers > 1:
        lines.append(f"  Workers:    {workers} processes sharing these ports")
    if first_run and first_run.admin_email:
        password = first_run.admin_password or f"(set from {ENV_VARS['admin_password']})"
        lines.append(f"  Admin:      {first_run.admin_email} / {password}")
    if first_run and first_run.ingest_token:
        headers = f"OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20{first_run.ingest_token}"
    elif first_run and first_run.ingest_token_file:
        # The token is printed only by the run that created it; later runs print a command that
        # reads it from its file (absolute: the line is pasted into the services' shells).
        token_file = shlex.quote(str(first_run.ingest_token_file.absolute()))
        headers = f'OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer%20$(cat {token_file})"'
    else:
        headers = None
    if headers:
        lines += [
            "",
            "Send logs from any OpenTelemetry SDK with:",
            f"  export OTEL_EXPORTER_OTLP_ENDPOINT=http://{shown_host}:{otlp_grpc_port}",
            f"  export {headers}",
            f"(OTLP/HTTP exporters: OTEL_EXPORTER_OTLP_ENDPOINT=http://{shown_host}:{otlp_http_port})",
        ]
    lines.append("")
    return "\n".join(lines)
