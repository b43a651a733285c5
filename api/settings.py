"""Server settings, each declared once here: its environment variable, its default and what it
means. Precedence: command-line argument > environment variable > default; a variable set to the
empty string counts as unset. ``activity-console serve --help`` lists them all (``environment_help``).

The settings of the database itself (batch size, flush interval, retention days) are not here:
they live in the ``activity_log_settings`` row and change at run time through the API."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any, Mapping

from pydantic import BaseModel, Field, ValidationError, field_validator

from collector.errors import ConfigurationError
from collector.writer import DEFAULT_FLUSHES_IN_FLIGHT

MiB = 1024 * 1024


def setting(default: Any, env: str, description: str, **constraints: Any) -> Any:
    """A field of ``Settings`` read from the environment variable ``env``."""
    return Field(default, description=description, json_schema_extra={"env": env}, **constraints)


class Settings(BaseModel):
    database_url: str | None = setting(None, "DATABASE_URL", "PostgreSQL URL; none = an embedded PostgreSQL "
                                       "in the data directory")
    data_dir: Path = setting(Path(".data"), "ACTIVITY_DATA_DIR", "the embedded database, the first-run secrets "
                             "and the JWT key")
    host: str = setting("127.0.0.1", "ACTIVITY_HOST", "address every listener binds (localhost by default, as "
                        "the OpenTelemetry Collector)")
    http_port: int = setting(8080, "ACTIVITY_HTTP_PORT", "HTTP API, WebSocket and console; 0 = any free port",
                             ge=0, le=65535)
    otlp_grpc_port: int = setting(4317, "ACTIVITY_OTLP_GRPC_PORT", "OTLP/gRPC receiver; 0 = any free port "
                                  "(logged and printed)", ge=0, le=65535)
    otlp_http_port: int = setting(4318, "ACTIVITY_OTLP_HTTP_PORT", "OTLP/HTTP receiver; 0 = any free port "
                                  "(logged and printed)", ge=0, le=65535)
    max_connections: int = setting(2048, "ACTIVITY_MAX_CONNECTIONS", "open connections per HTTP listener (API, "
                                   "OTLP/HTTP); at the cap a new one evicts the oldest idle one (lowered to fit "
                                   "the open-file limit)", ge=1)
    reserved_connections: int = setting(64, "ACTIVITY_RESERVED_CONNECTIONS", "API connections beyond the cap "
                                        "while every one is busy, only for health checks, login, the console's "
                                        "files and admins", ge=0)
    header_timeout_s: float = setting(10.0, "ACTIVITY_HEADER_TIMEOUT_S", "a request's headers must be complete "
                                      "this long after its first byte", gt=0)
    keepalive_timeout_s: float = setting(30.0, "ACTIVITY_KEEPALIVE_TIMEOUT_S", "an idle connection (between "
                                         "requests, or new and silent) is closed after this", gt=0)
    max_request_bytes: int = setting(8 * MiB, "ACTIVITY_MAX_REQUEST_BYTES", "OTLP request limit after "
                                     "decompression", ge=1024)
    max_pending_rows: int = setting(50_000, "ACTIVITY_MAX_PENDING_ROWS", "bound of the batch writer's queue; "
                                    "beyond it ingest answers retry-later", ge=100)
    writer_flushes_in_flight: int = setting(DEFAULT_FLUSHES_IN_FLIGHT, "ACTIVITY_WRITER_FLUSHES_IN_FLIGHT",
                                            "flushes the batch writer runs side by side, each on its own "
                                            "connection: their COPYs at once (a PostgreSQL backend each), their "
                                            "commits in id order; 1: one at a time; more for a PostgreSQL with "
                                            "cores to spare", ge=1, le=8)
    max_records_per_request: int = setting(20_000, "ACTIVITY_MAX_RECORDS_PER_REQUEST", "OTLP log records per "
                                           "request; more is refused (RESOURCE_EXHAUSTED / 413) before anything "
                                           "is decoded", ge=1)
    max_record_bytes: int = setting(256 * 1024, "ACTIVITY_MAX_RECORD_BYTES", "encoded size of one log record; a "
                                    "larger record is rejected (partial_success), the rest of its request "
                                    "stored", ge=1024)
    workers: int = setting(os.cpu_count() or 1, "ACTIVITY_WORKERS", "server processes sharing the ports "
                           "(serve only; default: the number of CPUs)", ge=1)
    worker_index: int | None = setting(None, "ACTIVITY_WORKER_INDEX", "set by serve --workers for each of its "
                                       "processes (their ports are shared, their spools apart)", ge=0)
    spool_max_bytes: int = setting(1024 * MiB, "ACTIVITY_SPOOL_MAX_BYTES", "disk the ingest spool may use for "
                                   "requests PostgreSQL cannot take now (data_dir/spool/worker-N, per process); "
                                   "past it ingest answers retry-later; 0 turns the spool off", ge=0)
    spool_min_free_bytes: int = setting(512 * MiB, "ACTIVITY_SPOOL_MIN_FREE_BYTES", "the spool never fills its disk "
                                        "below this much free space", ge=0)
    spool_after_s: float = setting(5.0, "ACTIVITY_SPOOL_AFTER_S", "a request not committed within this is spooled "
                                   "and acknowledged (below the OpenTelemetry exporters' 10 s timeout)", gt=0)
    native: bool = setting(True, "ACTIVITY_NATIVE", "encode OTLP requests with the native fast path when it "
                           "is built (collector/_fastpath.c); off maps every request in Python")
    ingest_memory_bytes: int = setting(512 * MiB, "ACTIVITY_INGEST_MEMORY_BYTES", "memory all OTLP requests in "
                                       "flight and the writer's queue may take together; beyond it ingest answers "
                                       "retry-later", ge=64 * MiB)
    otlp_body_timeout_s: float = setting(30.0, "ACTIVITY_OTLP_BODY_TIMEOUT_S", "an OTLP/HTTP body must arrive "
                                         "within this", gt=0)
    api_pool_size: int = setting(10, "ACTIVITY_API_POOL_SIZE", "database connections for the API and the live "
                                 "tail", ge=2)
    export_concurrency: int = setting(4, "ACTIVITY_EXPORT_CONCURRENCY", "exports streaming at once, server-wide; "
                                      "each has its own database connection, apart from the API's and ingest's",
                                      ge=1)
    exports_per_user: int = setting(2, "ACTIVITY_EXPORTS_PER_USER", "exports one user may stream at once; more "
                                    "get 429", ge=1)
    export_write_timeout_s: float = setting(30.0, "ACTIVITY_EXPORT_WRITE_TIMEOUT_S", "an export whose client takes "
                                            "longer than this to accept the next chunk is ended, and its database "
                                            "session freed", gt=0)
    settings_refresh_s: float = setting(5.0, "ACTIVITY_SETTINGS_REFRESH_S", "how often the writer re-reads its "
                                        "settings (batch size, flush interval) from the database", gt=0)
    log_level: str = setting("INFO", "ACTIVITY_LOG_LEVEL", "level of the server's log on stderr (DEBUG, INFO, "
                             "WARNING, ERROR)")
    bootstrap: bool = setting(True, "ACTIVITY_BOOTSTRAP", "create the first admin and a default ingest token "
                              "when there are none")
    admin_email: str = setting("admin@localhost", "ACTIVITY_ADMIN_EMAIL", "email of the first admin, created "
                               "when there is no admin")
    admin_password: str | None = setting(None, "ACTIVITY_ADMIN_PASSWORD", "password of the first admin; none = "
                                         "generated and kept in data_dir/initial-admin.txt", repr=False)
    jwt_secret: str | None = setting(None, "ACTIVITY_JWT_SECRET", "HS256 key of API tokens, at least 32 "
                                     "characters; none = generated once into data_dir/jwt-secret",
                                     repr=False, min_length=32)
    jwt_ttl_s: int = setting(12 * 3600, "ACTIVITY_JWT_TTL_S", "lifetime of an API token (JWT exp)", ge=60)
    login_max_failures: int = setting(10, "ACTIVITY_LOGIN_MAX_FAILURES", "failed logins per email and address "
                                      "before 429", ge=1)
    login_failure_window_s: int = setting(300, "ACTIVITY_LOGIN_FAILURE_WINDOW_S", "window of the failed-login "
                                          "counts", ge=1)
    login_max_failures_per_address: int = setting(30, "ACTIVITY_LOGIN_MAX_FAILURES_PER_ADDRESS", "failed logins "
                                                  "per client address, across all emails, before 429", ge=1)
    login_max_failures_per_account: int = setting(50, "ACTIVITY_LOGIN_MAX_FAILURES_PER_ACCOUNT", "failed logins "
                                                  "per email, across all addresses, before 429 (known or unknown "
                                                  "email alike)", ge=1)
    login_hash_concurrency: int = setting(1, "ACTIVITY_LOGIN_HASH_CONCURRENCY", "password hashes (argon2) "
                                          "computed at once", ge=1)
    login_queue: int = setting(32, "ACTIVITY_LOGIN_QUEUE", "requests waiting for a password hash before 503", ge=0)
    retention_interval_s: float = setting(3600.0, "ACTIVITY_RETENTION_INTERVAL_S", "how often the retention job "
                                          "deletes what is past each level's retention and makes the coming "
                                          "days' partitions (at most a day: they are made two days ahead)",
                                          gt=0, le=86400)  # fmt: skip
    allowed_origins: list[str] = setting([], "ACTIVITY_ALLOWED_ORIGINS", "Origins allowed on the live-tail "
                                         "WebSocket, comma-separated; none = the server's own origin")
    live_auth_timeout_s: float = setting(5.0, "ACTIVITY_LIVE_AUTH_TIMEOUT_S", "a live-tail client must "
                                         "authenticate within this", gt=0)
    live_queue_capacity: int = setting(4096, "ACTIVITY_LIVE_QUEUE_CAPACITY", "entries buffered per live-tail "
                                       "client before it is told it lagged", ge=1)
    live_recheck_s: float = setting(10.0, "ACTIVITY_LIVE_RECHECK_S", "how often open live-tail connections' "
                                    "accounts are re-read: a deleted account is closed, a changed role or "
                                    "membership re-scoped", gt=0)
    live_send_timeout_s: float = setting(10.0, "ACTIVITY_LIVE_SEND_TIMEOUT_S", "a live-tail client that does not "
                                         "accept a frame within this is disconnected (its socket aborted, its "
                                         "buffers freed)", gt=0)
    live_tails_per_user: int = setting(20, "ACTIVITY_LIVE_TAILS_PER_USER", "live-tail connections one user may "
                                       "hold open", ge=1)
    server_log_level: str = setting("INFO", "ACTIVITY_SERVER_LOG_LEVEL", "the server's own log records at or "
                                    "above this become admin-only api entries in the console; OFF = none",
                                    pattern=r"^(?i:DEBUG|INFO|WARNING|ERROR|CRITICAL|OFF)$")

    model_config = {"extra": "forbid"}

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        # The environment gives "https://a.example, https://b.example".
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


ENV_VARS: dict[str, str] = {name: field.json_schema_extra["env"] for name, field in Settings.model_fields.items()}
"""Setting name → its environment variable."""


def load_settings(arguments: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """The settings from ``arguments`` (None = not given), else ``environ`` (the process's by
    default), else the defaults. Invalid values raise ``ConfigurationError`` naming each variable;
    the values themselves are not repeated, since some are secrets."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {name: environ[env] for name, env in ENV_VARS.items() if environ.get(env)}
    values.update({name: value for name, value in (arguments or {}).items() if value is not None})
    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = [f"{_setting_of(error['loc'])}: {error['msg']}" for error in exc.errors()]
        raise ConfigurationError("invalid settings: " + "; ".join(problems)) from None


def _setting_of(location: tuple[Any, ...]) -> str:
    name = str(location[0]) if location else ""
    return f"{name} ({ENV_VARS[name]})" if name in ENV_VARS else name


def shown_default(name: str) -> str:
    """The default of setting ``name`` as help texts show it."""
    default = Settings.model_fields[name].default
    if default is None or default == []:
        return "none"
    if isinstance(default, bool):
        return str(default).lower()
    if name.endswith("_bytes") and default % MiB == 0:
        return f"{default} ({default // MiB} MiB)"
    if name.endswith("_bytes") and default % 1024 == 0:
        return f"{default} ({default // 1024} KiB)"
    return str(default)


def environment_help(width: int = 100) -> str:
    """Every setting's environment variable with its meaning and default, for ``--help``."""
    lines = ["environment variables (a command-line option wins over its variable, a variable over the default):"]
    for name, field in Settings.model_fields.items():
        lines.append(f"  {ENV_VARS[name]}")
        text = f"{field.description}; default {shown_default(name)}"
        lines += textwrap.wrap(text, width, initial_indent=" " * 6, subsequent_indent=" " * 6)
    return "\n".join(lines)
