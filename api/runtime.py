"""What the running server holds, and the application key handlers reach it by.

A leaf: it imports nothing from ``api`` at run time, so any module of the server can import
``RUNTIME`` at the top without a cycle through ``api.app``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg
from aiohttp import web

from collector.auth import IngestAuthenticator
from collector.commit_feed import CommitFeed
from collector.delivery import Delivery
from collector.hub import LiveHub
from collector.ingest import IngestService
from collector.key_catalogue import KeyCatalogue
from collector.model import ActivityRow
from collector.writer import BatchWriter

if TYPE_CHECKING:
    from api.bootstrap import FirstRun
    from api.retention import RetentionJob
    from api.settings import Settings


class Runtime:
    """What the running server holds; handlers reach it through ``app[RUNTIME]``.

    ``create_app`` makes it with the settings and the live hub, so that the routes can be set up
    from the settings. Everything else is started by the application's start-up steps (its
    ``cleanup_ctx``, api/app.py), each of which sets what it started, once, in this order:

    - database: ``dsn``, ``pool``, ``ingest_pool``, ``export_pool``, ``first_run``;
    - writer: ``commit_feed`` (the live tail's entries from every process), ``key_catalogue``, ``writer``, ``delivery`` (the spool and its replayer) in front of it, then
      ``ingest`` and ``ingest_auth``;
    - retention: ``retention``;
    - the OTLP receivers: ``otlp_grpc_port``, ``otlp_http_port`` (the bound ports: 0 in the
      settings means any free one).

    aiohttp serves no request before the start-up has completed, so a handler always finds all of
    them; the attributes are therefore declared without ``None``."""

    # Three pools, so that no kind of work can take the connections another needs: ``pool`` for
    # the API's short reads and writes (and the live tail's), ``ingest_pool`` for the batch writer
    # and ingest-token checks only, ``export_pool`` for exports, which hold a connection for as
    # long as the client takes to download (bounded by ``export_concurrency``).
    pool: asyncpg.Pool
    ingest_pool: asyncpg.Pool
    export_pool: asyncpg.Pool
    first_run: FirstRun | None  # None when the settings turn the first-run set-up off
    dsn: str
    commit_feed: CommitFeed
    writer: BatchWriter
    key_catalogue: KeyCatalogue
    delivery: Delivery
    ingest: IngestService
    ingest_auth: IngestAuthenticator
    retention: RetentionJob
    otlp_grpc_port: int
    otlp_http_port: int

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.hub = LiveHub()

    def submit_server_row(self, row: ActivityRow) -> None:
        """Queue one of the server's own entries; dropped (and counted) when ingest cannot take it."""
        self.writer.submit_nowait([row])


RUNTIME = web.AppKey("runtime", Runtime)
