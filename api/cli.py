"""``activity-console serve | migrate | token create|revoke|list | user create | search-index | demo``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import signal
import sys
from typing import Any, AsyncIterator, Sequence

import asyncpg

from api import workers
from api.passwords import generate_password, hash_password, password_problem
from api.runner import running_server
from api.settings import ENV_VARS, Settings, environment_help, load_settings, shown_default
from collector import partitions
from collector.auth import DuplicateTokenName, create_token
from collector.db import migrate
from collector.db.connect import connect, running_postgres
from collector.db.queries import q
from collector.errors import ActivityConsoleError
from demo import command as demo_command

log = logging.getLogger("activity_console")


def _setting_option(parser: argparse.ArgumentParser, name: str, **options: Any) -> None:
    """``--name`` for the setting ``name``, described as the setting declares it (api/settings.py)."""
    field = Settings.model_fields[name]
    described = f"{field.description} (env {ENV_VARS[name]}, default {shown_default(name)})"
    parser.add_argument("--" + name.replace("_", "-"), dest=name, help=described.replace("%", "%%"), **options)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    _setting_option(common, "database_url")
    _setting_option(common, "data_dir")
    _setting_option(common, "log_level")

    parser = argparse.ArgumentParser(prog="activity-console", description="OpenTelemetry-native activity log backend")
    commands = parser.add_subparsers(dest="command", required=True)
    # The commands that start the server list every setting's variable after their options.
    server_help = dict(epilog=environment_help(), formatter_class=argparse.RawDescriptionHelpFormatter)

    serve = commands.add_parser("serve", parents=[common], help="run the collector, API and console", **server_help)
    _setting_option(serve, "host")
    _setting_option(serve, "http_port", type=int)
    _setting_option(serve, "otlp_grpc_port", type=int)
    _setting_option(serve, "otlp_http_port", type=int)
    _setting_option(serve, "workers", type=int)

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

    demo_command.add_arguments(commands.add_parser("demo", parents=[common], help="stream demo traffic from all "
                                                   "five sources (starts the server when none answers)",
                                                   **server_help))  # fmt: skip
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        # The options that name a setting; the others belong to the command.
        settings = load_settings({name: getattr(args, name) for name in Settings.model_fields if hasattr(args, name)})
        logging.basicConfig(
            level=settings.log_level.upper(), format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", stream=sys.stderr
        )
        # pgserver narrates every step of starting the embedded database at INFO.
        logging.getLogger("pgserver").setLevel(max(logging.WARNING, logging.getLogger().level))
        if args.command == "serve":
            if settings.workers > 1 and settings.worker_index is None:
                return asyncio.run(workers.serve_workers(settings))
            return asyncio.run(_serve(settings))
        if args.command == "demo":
            return asyncio.run(demo_command.run_command(args, settings))
        return asyncio.run(_admin_command(args, settings))
    except ActivityConsoleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


async def _serve(settings: Settings) -> int:
    if settings.worker_index is None:
        workers.warn_of_orphan_spools(settings.data_dir, 1)
    async with running_server(settings) as server:
        if settings.worker_index is None:
            print(server.banner(), flush=True)
        else:  # one of serve --workers: its supervisor prints the banner once all are ready
            print(f"{workers.READY_LINE} {settings.worker_index}", flush=True)
        stop = asyncio.Event()
        # From now on SIGINT and SIGTERM stop the server cleanly, and keep doing so during the
        # shutdown: a second Ctrl-C must not cut the writer's flush or the database's stop short.
        # Before (still starting), Ctrl-C interrupts at once and the start-up unwinds.
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        log.info("shutting down")
    return 0


@contextlib.asynccontextmanager
async def _connection(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    async with running_postgres(settings.database_url, settings.data_dir) as dsn:
        conn = await connect(dsn)
        try:
            yield conn
        finally:
            await conn.close()


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
    print("building the search index partition by partition without blocking ingest "
          "(minutes on a large table)…", file=sys.stderr)  # fmt: skip
    await conn.execute(q("create_search_extension"))
    built = await partitions.build_search_index(conn)
    print(f"search index enabled ({built} partitions indexed)")
    return 0


async def _token_command(conn: asyncpg.Connection, args: argparse.Namespace) -> int:
    if args.token_command == "create":
        try:
            token, row = await create_token(conn, args.name)
        except DuplicateTokenName:
            print(f"error: an active ingest token named {args.name!r} already exists; choose another name "
                  "or revoke it first", file=sys.stderr)  # fmt: skip
            return 1
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
