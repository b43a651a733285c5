"""``create_app(settings)``: one aiohttp application that starts everything in order and unwinds
in reverse (aiohttp ``cleanup_ctx``): database (migrated) and its pools → batch writer and the
ingest service → the server's own entries → retention job → OTLP/gRPC → OTLP/HTTP → live tail.
Shutdown stops the receivers before the writer, so the writer still commits what they accepted.
Each step sets what it started on the application's ``Runtime`` (api/runtime.py)."""

from __future__ import annotations

import contextlib
import logging
from typing import AsyncIterator

from aiohttp import web

from api import accounts, bootstrap, console_ui, facets, health, http_headers, live, log_keys, logs, metrics, openapi, security, server_logs, views
from api.background import background
from api.connection_guard import GuardedAppRunner, otlp_http_limits, reserve_middleware, start_guarded_site
from api.errors import error_middleware
from api.retention import RetentionJob
from api.runtime import RUNTIME, Runtime
from api.security_events import SECURITY_EVENTS, SecurityEvents, security_events_ctx
from api.settings import Settings
from collector.admission import IngestBudget
from collector.commit_feed import CommitFeed
from collector.auth import IngestAuthenticator
from collector.db import migrate
from collector.db.connect import connect, create_ingest_pool, create_pool, running_postgres
from collector.delivery import Delivery
from collector.grpc_server import start_grpc_server
from collector.http_receiver import create_otlp_http_app
from collector.ingest import IngestLimits, IngestService
from collector.key_catalogue import KeyCatalogue
from collector.spool import Spool
from collector.writer import BatchWriter

log = logging.getLogger(__name__)

# Beside the writer's flushes (ACTIVITY_WRITER_FLUSHES_IN_FLIGHT connections at most), the ingest
# pool serves ingest-token checks, settings reads and the writer's probe while the database is away.
INGEST_POOL_SPARE = 2
# Longer than the export write timeout (api/settings.py), so that it is only a backstop.
IDLE_IN_TRANSACTION_TIMEOUT_MS = 120_000
API_STATEMENT_TIMEOUT_MS = 30_000


async def _database(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    settings = runtime.settings
    async with running_postgres(settings.database_url, settings.data_dir) as dsn:
        runtime.dsn = dsn
        conn = await connect(dsn)
        try:
            await migrate.apply(conn)
        finally:
            await conn.close()
        # A session left idle inside a transaction (a client that stopped reading an export, a
        # bug) is ended by PostgreSQL itself rather than holding its locks and snapshot forever.
        guarded = {"idle_in_transaction_session_timeout": str(IDLE_IN_TRANSACTION_TIMEOUT_MS)}
        # The API's statements end after API_STATEMENT_TIMEOUT_MS (a search no index serves, on a
        # huge table), so that no request holds one of its connections longer.
        api_settings = {**guarded, "statement_timeout": str(API_STATEMENT_TIMEOUT_MS)}
        async with contextlib.AsyncExitStack() as pools:
            runtime.pool = await pools.enter_async_context(
                await create_pool(dsn, min_size=2, max_size=settings.api_pool_size, timeout=5, command_timeout=60,
                                  server_settings=api_settings)
            )  # fmt: skip
            runtime.ingest_pool = await pools.enter_async_context(
                await create_ingest_pool(dsn, min_size=1, max_size=settings.writer_flushes_in_flight + INGEST_POOL_SPARE,
                                         timeout=5, command_timeout=60, server_settings=guarded)
            )  # fmt: skip
            runtime.export_pool = await pools.enter_async_context(
                await create_pool(dsn, min_size=0, max_size=settings.export_concurrency, timeout=5,
                                  server_settings=guarded)
            )  # fmt: skip
            runtime.first_run = await bootstrap.ensure_first_run(runtime.pool, settings) if settings.bootstrap else None
            yield


async def _writer(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    settings = runtime.settings
    # Entries reach the live tail in commit order from every process on the database; the feed
    # listens on a connection of its own (LISTEN needs a session: docs/replicas.md).
    feed = runtime.commit_feed = CommitFeed(runtime.hub, runtime.pool, lambda: connect(runtime.dsn, timeout=5))
    await feed.start()
    catalogue = runtime.key_catalogue = KeyCatalogue()
    writer = BatchWriter(runtime.ingest_pool, runtime.hub, feed=feed, max_pending_rows=settings.max_pending_rows,
                         settings_refresh=settings.settings_refresh_s, catalogue=catalogue,
                         flushes_in_flight=settings.writer_flushes_in_flight)  # fmt: skip
    try:
        await writer.start()
    except BaseException:
        await feed.close()
        raise
    runtime.writer = writer
    spool = None
    if settings.spool_max_bytes:
        spool = Spool(settings.data_dir / "spool" / f"worker-{settings.worker_index or 0}", max_bytes=settings.spool_max_bytes,
                      min_free_bytes=settings.spool_min_free_bytes)  # fmt: skip
    delivery = runtime.delivery = Delivery(writer, spool, spool_after_s=settings.spool_after_s)
    try:
        await delivery.start()  # replays what an earlier run left in the spool
    except BaseException:
        await writer.close()
        await feed.close()
        raise
    # One service, one budget for both transports: the memory limit covers all of ingest.
    runtime.ingest = IngestService(
        delivery,
        IngestBudget(settings.ingest_memory_bytes),
        IngestLimits(settings.max_request_bytes, settings.max_records_per_request, settings.max_record_bytes,
                     settings.otlp_body_timeout_s),
        report_refusal=app[SECURITY_EVENTS].record,
        native=settings.native,
    )  # fmt: skip
    runtime.ingest_auth = IngestAuthenticator(runtime.ingest_pool)
    # Changes made through any process apply in every one at once (migration 0006).
    feed.on_change("activity_log_settings", writer.reload_settings_soon)
    feed.on_change("ingest_tokens", runtime.ingest_auth.forget)
    try:
        async with background(catalogue.run_forever(runtime.pool), "key-catalogue"):
            yield
    finally:
        await delivery.close()  # the spool keeps what is not replayed yet, for the next start
        await writer.close()  # commits what is queued: the receivers have stopped by now
        await catalogue.close(runtime.pool)  # the keys of what the writer committed last
        await feed.close()
        runtime.hub.close()
        stats = writer.stats
        log.info("batch writer stopped: %d committed in %d flushes, %d rejected", stats.committed, stats.flushes,
                 stats.rejected)  # fmt: skip


async def _retention(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    runtime.retention = RetentionJob(runtime.pool, runtime.writer, runtime.settings.retention_interval_s)
    async with background(runtime.retention.run_forever(), "activity-retention"):
        yield


async def _otlp_grpc(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    settings = runtime.settings
    server, runtime.otlp_grpc_port = await start_grpc_server(
        runtime.ingest, runtime.ingest_auth, settings.host, settings.otlp_grpc_port, settings.max_request_bytes,
        reuse_port=settings.worker_index is not None,
    )
    log.info("OTLP/gRPC listening on %s:%d", settings.host, runtime.otlp_grpc_port)
    try:
        yield
    finally:
        await server.stop(grace=10)


async def _otlp_http(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    settings = runtime.settings
    otlp_app = create_otlp_http_app(runtime.ingest, runtime.ingest_auth)
    # We decompress ourselves, with a bound on the output (decompression bombs).
    runner = GuardedAppRunner(
        otlp_app, otlp_http_limits(settings), auto_decompress=False, access_log=None, handle_signals=False
    )
    await runner.setup()
    try:
        _, runtime.otlp_http_port = await start_guarded_site(runner, settings.host, settings.otlp_http_port,
                                                             reuse_port=settings.worker_index is not None)  # fmt: skip
        log.info("OTLP/HTTP listening on %s:%d", settings.host, runtime.otlp_http_port)
        yield
    finally:
        await runner.cleanup()


def create_app(settings: Settings) -> web.Application:
    # Errors outermost, so that a refused token also comes out in the API's error shape. The
    # reserve check reads the principal that auth_middleware sets, so it comes after it.
    app = web.Application(middlewares=[error_middleware, security.auth_middleware, reserve_middleware])
    runtime = app[RUNTIME] = Runtime(settings)
    app[SECURITY_EVENTS] = SecurityEvents(runtime.submit_server_row)
    # Start-up order; shutdown runs it backwards. Background jobs that need the writer go after it.
    app.cleanup_ctx.extend([_database, _writer, _retention, _otlp_grpc, _otlp_http])
    # The server's own log records and the reports of refused traffic are captured from right
    # after the writer starts until just before it stops; the live tail starts last and so closes
    # its sockets first.
    app.cleanup_ctx.insert(app.cleanup_ctx.index(_writer) + 1, server_logs.server_logs_ctx)
    app.cleanup_ctx.insert(app.cleanup_ctx.index(_writer) + 2, security_events_ctx)
    app.cleanup_ctx.append(live.setup(app))
    health.add_routes(app)
    metrics.add_routes(app)
    security.setup(app, settings)
    http_headers.setup(app)
    accounts.setup(app, settings.login_max_failures, settings.login_failure_window_s)
    logs.setup(app, settings)
    log_keys.setup(app)
    facets.setup(app)
    views.setup(app)
    openapi.setup(app)
    console_ui.setup(app)  # last: its catch-all route serves client-side routes
    return app
