"""What the running server holds, and the application key handlers reach it by.

A leaf: it imports nothing from ``api`` at run time, so any module of the server can import
``RUNTIME`` at the top without a cycle through ``api.app``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import asyncpg
from aiohttp import web

from collector.auth import IngestAuthenticator
from collector.hub import LiveHub
from collector.ingest import IngestService
from collector.model import ActivityRow
from collector.writer import BatchWriter

if TYPE_CHECKING:
    from api.bootstrap import FirstRun
    from api.retention import RetentionJob
    from api.settings import Settings


@dataclass
class Runtime:
    """What the running server holds; handlers reach it through ``app[RUNTIME]``."""

    settings: Settings
    dsn: str = ""
    # Three pools, so that no kind of work can take the connections another needs: ``pool`` for
    # the API's short reads and writes (and the live tail's), ``ingest_pool`` for the batch writer
    # and ingest-token checks only, ``export_pool`` for exports, which hold a connection for as
    # long as the client takes to download (bounded by ``export_concurrency``).
    pool: asyncpg.Pool | None = None
    ingest_pool: asyncpg.Pool | None = None
    export_pool: asyncpg.Pool | None = None
    hub: LiveHub = field(default_factory=LiveHub)
    writer: BatchWriter | None = None
    ingest: IngestService | None = None
    ingest_auth: IngestAuthenticator | None = None
    otlp_grpc_port: int | None = None
    otlp_http_port: int | None = None
    first_run: FirstRun | None = None
    retention: RetentionJob | None = None

    def submit_server_row(self, row: ActivityRow) -> None:
        """Queue one of the server's own entries; dropped (and counted) when ingest cannot take it."""
        if self.writer is not None:
            self.writer.submit_nowait([row])


RUNTIME = web.AppKey("runtime", Runtime)
