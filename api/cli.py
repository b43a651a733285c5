"""``activity-console serve | migrate | token create|revoke|list | user create | search-index | demo``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import signal
import sys
from typing import AsyncIterator, Sequence

import asyncpg
from aiohttp import web

from api import demo
from api.app import RUNTIME, create_app, tune_gc_for_ingest
from api.connection_guard import GuardedAppRunner, api_limits, fit_to_open_file_limit, start_guarded_site
from api.passwords import generate_password, hash_password
from api.settings import Settings, load_settings
from collector.auth import create_token
from collector.db import migrate
from collector.db.connect import EmbeddedPostgres, connect
from collector.db.queries import q
from collector.errors import ActivityConsoleError

log = logging.getLogger("activity_console")


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--database-url", dest="database_url", help="PostgreSQL URL (env DATABASE_URL); "
                        "without one an embedded PostgreSQL is started in --data-dir")  # fmt: skip
    common.add_argument("--data-dir", dest="data_dir", help="embedded database and first-run files (env ACTIVITY_DATA_DIR, default ./.data)")
    common.add_argument("--log-level", dest="log_level", help="DEBUG, INFO, WARNING… (env ACTIVITY_LOG_LEVEL)")

    parser = argparse.ArgumentParser(prog="activity-console", description="OpenTelemetry-native activity log backend")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", parents=[common], help="run the collector, API and console")
    serve.add_argument("--host", help="bind address for every listener (env ACTIVITY_HOST, default 127.0.0.1)")
    serve.add_argument("--http-port", dest="http_port", type=int, help="API/console port (env ACTIVITY_HTTP_PORT, default 8080)")
    serve.add_argument("--otlp-grpc-port", dest="otlp_grpc_port", type=int, help="OTLP/gRPC port (env ACTIVITY_OTLP_GRPC_PORT, default 4317; 0 = any free port)")
    serve.add_argument("--otlp-http-port", dest="otlp_http_port", type=int, help="OTLP/HTTP port (env ACTIVITY_OTLP_HTTP_PORT, default 4318; 0 = any free port)")

    commands.add_parser("migrate", parents=[common], help="apply pending database migrations")

    token = commands.add_parser("token", help="manage ingest tokens").add_subparsers(dest="token_command", required=True)
    create = token.add_parser("create", parents=[common], help="create a token (printed once)")
    create.add_argument("--name", required=True)
    revoke = token.add_parser("revoke", parents=[common], help="revoke a token by id or name")
    revoke.add_argument("token", help="token id or name")
    token.add_parser("list", parents=[common], help="list tokens (never the secrets)")

    user = commands.add_parser("user", help="manage users").add_subparsers(dest="user_command", required=True)
    user_create = user.add_parser("create", parents=[common], help="create a user")
    user_create.add_argument("--email", required=True)
    user_create.add_argument("--role", required=True, choices=["admin", "creator"])
    user_create.add_argument("--password", help="default: prompt, or generate and print when not a terminal")

    search_index = commands.add_parser(
        "search-index", parents=[common],
        help="the optional trigram index for fast free-text search (costs ingest throughput; see README)",
    )  # fmt: skip
    search_index.add_argument("action", choices=["enable", "disable", "status"])

    demo.add_arguments(commands.add_parser("demo", parents=[common], help="stream demo traffic from all five "
                                           "sources (starts the server when none answers)"))  # fmt: skip
    return parser


_SETTING_ARGS = ("database_url", "data_dir", "log_level", "host", "http_port", "otlp_grpc_port", "otlp_http_port")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings({k: getattr(args, k) for k in _SETTING_ARGS if hasattr(args, k)})
        logging.basicConfig(
            level=settings.log_level.upper(), format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", stream=sys.stderr
        )
        # pgserver narrates every step of starting the embedded database at INFO.
        logging.getLogger("pgserver").setLevel(max(logging.WARNING, logging.getLogger().level))
        if args.command == "serve":
            return asyncio.run(_serve(settings))
        if args.command == "demo":
            return asyncio.run(demo.run_command(args, settings, _print_banner))
        return asyncio.run(_admin_command(args, settings))
    except ActivityConsoleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


async def _serve(settings: Settings) -> int:
    settings = fit_to_open_file_limit(settings)  # before any listener: it may lower the connection caps
    app = create_app(settings)
    runner = GuardedAppRunner(app, api_limits(settings), handle_signals=False, access_log=None)
    await runner.setup()  # runs the cleanup_ctx start-up: database, writer, OTLP receivers
    tune_gc_for_ingest()
    try:
        _, http_port = await start_guarded_site(runner, settings.host, settings.http_port)
        _print_banner(app, http_port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("shutting down")
    finally:
        await runner.cleanup()  # unwinds in reverse: receivers, writer flush, pool, database
    return 0


def _print_banner(app: web.Application, http_port: int) -> None:
    runtime = app[RUNTIME]
    host = runtime.settings.host
    shown_host = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::") else host
    lines = [
        "",
        "Activity Console is running",
        f"  Console:    http://{shown_host}:{http_port}/",
        f"  OTLP/gRPC:  {shown_host}:{runtime.otlp_grpc_port}",
        f"  OTLP/HTTP:  http://{shown_host}:{runtime.otlp_http_port}/v1/logs",
        f"  Database:   {'embedded, in ' + str(runtime.settings.data_dir) if not runtime.settings.database_url else 'external'}",
    ]
    first = runtime.first_run
    if first and first.admin_email:
        lines.append(f"  Admin:      {first.admin_email} / {first.admin_password or '(set from ACTIVITY_ADMIN_PASSWORD)'}")
    if first and first.ingest_token:
        headers = f"OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20{first.ingest_token}"
    elif first and first.ingest_token_file:
        import shlex

        # The token is printed only by the run that created it; later runs print a command that
        # reads it from its file (absolute: the line is pasted into the services' shells).
        token_file = shlex.quote(str(first.ingest_token_file.absolute()))
        headers = f'OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer%20$(cat {token_file})"'
    else:
        headers = None
    if headers:
        lines += [
            "",
            "Send logs from any OpenTelemetry SDK with:",
            f"  export OTEL_EXPORTER_OTLP_ENDPOINT=http://{shown_host}:{runtime.otlp_grpc_port}",
            f"  export {headers}",
            f"(OTLP/HTTP exporters: OTEL_EXPORTER_OTLP_ENDPOINT=http://{shown_host}:{runtime.otlp_http_port})",
        ]
    lines.append("")
    print("\n".join(lines), flush=True)


@contextlib.asynccontextmanager
async def _connection(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    embedded = None
    dsn = settings.database_url
    if not dsn:
        embedded = EmbeddedPostgres(settings.data_dir)
        dsn = await embedded.start()
    try:
        conn = await connect(dsn)
        try:
            yield conn
        finally:
            await conn.close()
    finally:
        if embedded is not None:
            await embedded.stop()


async def _admin_command(args: argparse.Namespace, settings: Settings) -> int:
    async with _connection(settings) as conn:
        applied = await migrate.apply(conn)
        if args.command == "migrate":
            print(f"applied {len(applied)} migration(s)" if applied else "database schema is up to date")
            return 0
        if args.command == "token":
            return await _token_command(conn, args)
        if args.command == "user":
            return await _user_create(conn, args)
        if args.command == "search-index":
            return await _search_index_command(conn, args.action)
    return 2


async def _search_index_command(conn: asyncpg.Connection, action: str) -> int:
    exists = await conn.fetchval(q("search_index_exists"))
    if action == "status":
        print("search index: enabled" if exists else "search index: disabled")
        return 0
    if action == "disable":
        await conn.execute(q("drop_search_index"))
        print("search index dropped" if exists else "search index was not enabled")
        return 0
    if exists:
        print("search index: already enabled")
        return 0
    if not await conn.fetchval(q("search_index_available")):
        print("error: this PostgreSQL server does not have the pg_trgm extension "
              "(the embedded server does not ship it); search keeps scanning", file=sys.stderr)  # fmt: skip
        return 1
    print("building the search index without blocking ingest (minutes on a large table)…", file=sys.stderr)
    await conn.execute(q("create_search_extension"))
    await conn.execute(q("create_search_index"))
    print("search index enabled")
    return 0


async def _token_command(conn: asyncpg.Connection, args: argparse.Namespace) -> int:
    if args.token_command == "create":
        token, row = await create_token(conn, args.name)
        print(f"created ingest token {row['id']} ({row['name']}); it is shown only this once:", file=sys.stderr)
        print(token)
        return 0
    if args.token_command == "revoke":
        token_id = int(args.token) if args.token.isdigit() else None
        rows = await conn.fetch(q("revoke_ingest_token"), token_id, args.token)
        if not rows:
            print(f"error: no active ingest token with id or name {args.token!r}", file=sys.stderr)
            return 1
        for row in rows:
            print(f"revoked ingest token {row['id']} ({row['name']})")
        return 0
    for row in await conn.fetch(q("list_ingest_tokens")):
        state = "revoked" if row["revoked_at"] else "active"
        print(f"{row['id']}\t{row['name']}\t{row['token_prefix']}…\t{state}\tlast used {row['last_used_at'] or 'never'}")
    return 0


async def _user_create(conn: asyncpg.Connection, args: argparse.Namespace) -> int:
    from api.passwords import password_problem

    password = args.password
    generated = False
    if not password:
        if sys.stdin.isatty():
            password = getpass.getpass("password: ")
        else:
            password, generated = generate_password(args.email), True
    if (problem := password_problem(password, args.email)) is not None:
        print(f"error: the password {problem}", file=sys.stderr)
        return 1
    try:
        row = await conn.fetchrow(q("insert_user"), args.email, hash_password(password), args.role)
    except asyncpg.UniqueViolationError:
        print(f"error: a user with email {args.email!r} already exists", file=sys.stderr)
        return 1
    print(f"created {row['role']} {row['email']} (id {row['id']})")
    if generated:
        print(f"password: {password}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
