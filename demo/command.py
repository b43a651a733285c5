"""``activity-console demo``: streams the demo's traffic (demo/traffic.py) to the server that
answers at the endpoint, or, when none answers on this machine, to one started in this process
exactly as ``serve`` starts it (api/runner.py); until Ctrl-C, ``--duration`` or ``--jobs``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import asyncpg

from api.bootstrap import ADMIN_FILE, TOKEN_FILE
from api.runner import running_server
from api.settings import Settings
from collector.auth import DuplicateTokenName, create_token
from collector.db.connect import create_pool, running_postgres
from demo.traffic import DEFAULT_RATE, DemoSummary, stream


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, help="seconds to stream (default: until Ctrl-C)")
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE,
                        help=f"entries per second, roughly (default {DEFAULT_RATE:g}; 0 = as fast as possible)")
    parser.add_argument("--jobs", type=int, help="stop after this many jobs have finished")
    parser.add_argument("--seed", type=int, help="random seed, to replay the same story (default: a new one, printed)")
    parser.add_argument("--endpoint", help="OTLP/gRPC endpoint (default: this machine's OTLP/gRPC port); a server is "
                        "started in-process when none answers on this machine")  # fmt: skip
    parser.add_argument("--token", help=f"ingest token (default: <data dir>/{TOKEN_FILE}, else a new one)")


def _endpoint_address(endpoint: str) -> tuple[str, int]:
    parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    return parts.hostname or "127.0.0.1", parts.port or 4317


def _is_local(host: str) -> bool:
    return host in ("localhost", "127.0.0.1", "::1", "0.0.0.0", "::")


async def _answers(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=1.0)
    except (OSError, asyncio.TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def _read_first_line(path: Path) -> str | None:
    try:
        return path.read_text().splitlines()[0].strip() or None
    except (FileNotFoundError, IndexError):
        return None


async def _ingest_token(pool: asyncpg.Pool, data_dir: Path, given: str | None) -> str:
    token = given or _read_first_line(data_dir / TOKEN_FILE)
    if token:
        return token
    async with pool.acquire() as conn:
        try:
            token, row = await create_token(conn, "demo")
        except DuplicateTokenName:
            # A "demo" token from an earlier run whose token file is gone: its secret cannot be
            # read back, so this run gets a token of its own.
            token, row = await create_token(conn, f"demo {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S.%f}")
    print(f"created ingest token {row['id']} ({row['name']}) for the demo's services", flush=True)
    return token


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` while the block runs: the demo ends cleanly (exporters
    flushed; its own server, if any, stopped with its writer flushed and database stopped). Only the
    main thread can own signal handlers; elsewhere (the command run in a thread by the tests) the
    caller stops by other means."""
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM) if threading.current_thread() is threading.main_thread() else ()
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    try:
        yield
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)


async def run_command(args: argparse.Namespace, settings: Settings) -> int:
    """``activity-console demo``: against the server that answers at the endpoint, or one started here."""
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1_000_000)
    options = dict(seed=seed, rate=args.rate, jobs=args.jobs, duration=args.duration, announce=True)
    stop = asyncio.Event()
    local_host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    endpoint = args.endpoint or f"http://{local_host}:{settings.otlp_grpc_port}"
    host, port = _endpoint_address(endpoint)
    with _stop_on_signals(stop):
        if port and await _answers(host, port):
            return await _demo_against_running_server(args, settings, endpoint, stop, options)
        if not _is_local(host):
            print(f"error: no OTLP server answers at {host}:{port}", file=sys.stderr)
            return 2
        if args.endpoint:  # serve where the demo was asked to send
            settings = settings.model_copy(update={"otlp_grpc_port": port})
        print(f"No server answers at {endpoint}: starting Activity Console here.", flush=True)
        try:
            return await _demo_with_own_server(args, settings, stop, options)
        except OSError as exc:  # a port taken by another program, typically
            print(f"error: cannot start the server: {exc}", file=sys.stderr)
            return 2


async def _demo_with_own_server(args: argparse.Namespace, settings: Settings, stop: asyncio.Event,
                                options: dict[str, Any]) -> int:  # fmt: skip
    async with running_server(settings) as server:
        print(server.banner(), flush=True)
        runtime = server.runtime
        first_token = runtime.first_run.ingest_token if runtime.first_run else None
        token = await _ingest_token(runtime.pool, settings.data_dir, args.token or first_token)
        summary = await stream(runtime.pool, settings.data_dir, endpoint=f"http://127.0.0.1:{runtime.otlp_grpc_port}",
                               token=token, stop=stop, **options)  # fmt: skip
        _print_summary(summary)
        print("Stopping the server…", flush=True)
    return 0


async def _demo_against_running_server(
    args: argparse.Namespace, settings: Settings, endpoint: str, stop: asyncio.Event, options: dict[str, Any]
) -> int:
    """A server already runs: the demo needs its database too (accounts, projects, jobs rows)."""
    if not settings.database_url and not (settings.data_dir / "pgdata" / "PG_VERSION").exists():
        print(f"error: a server answers at {endpoint}, but {settings.data_dir} holds no database: pass the "
              "server's --data-dir or --database-url", file=sys.stderr)  # fmt: skip
        return 2
    async with running_postgres(settings.database_url, settings.data_dir) as dsn:
        pool = await create_pool(dsn, min_size=1, max_size=2, timeout=5, command_timeout=30)
        try:
            admin = settings.data_dir / ADMIN_FILE
            print(f"\nActivity Console is already running; sending demo traffic to {endpoint}.\n"
                  f"  Console:    http://localhost:{settings.http_port}/ (if it serves on the configured port)", flush=True)  # fmt: skip
            if admin.exists():
                email, _, password = admin.read_text().strip().partition("\n")
                print(f"  Admin:      {email} / {password}", flush=True)
            token = await _ingest_token(pool, settings.data_dir, args.token)
            summary = await stream(pool, settings.data_dir, endpoint=endpoint, token=token, stop=stop, **options)
            _print_summary(summary)
        finally:
            await pool.close()
    return 0


def _print_summary(summary: DemoSummary) -> None:
    per_source = ", ".join(f"{source} {count}" for source, count in sorted(summary.entries.items()))
    outcomes = ", ".join(f"{count} {outcome.value}" for outcome, count in summary.outcomes.most_common())
    print(f"\nDemo sent {sum(summary.entries.values())} entries ({per_source}); "
          f"{summary.jobs_started} job(s) started" + (f": {outcomes}" if outcomes else ""), flush=True)  # fmt: skip
