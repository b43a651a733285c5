"""Server settings. Precedence: command-line argument > environment variable > default."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from pydantic import BaseModel, Field, ValidationError, field_validator

from collector.errors import ConfigurationError

MiB = 1024 * 1024


class Settings(BaseModel):
    database_url: str | None = Field(None, description="PostgreSQL URL; empty = embedded server")
    data_dir: Path = Field(Path(".data"), description="embedded database and first-run secrets")
    host: str = Field("127.0.0.1", description="address every listener binds")
    http_port: int = Field(8080, ge=0, le=65535, description="HTTP API, WebSocket and console")
    otlp_grpc_port: int = Field(4317, ge=0, le=65535)
    otlp_http_port: int = Field(4318, ge=0, le=65535)
    max_connections: int = Field(2048, ge=1, description="open connections per HTTP listener (API, OTLP/HTTP); at the "
                                 "cap a new one evicts the oldest idle one (lowered to fit the open-file limit)")
    reserved_connections: int = Field(64, ge=0, description="API connections beyond the cap while every one is busy, "
                                      "only for health checks, login, the console's files and admins")
    header_timeout_s: float = Field(10.0, gt=0, description="a request's headers must be complete this long "
                                    "after its first byte")
    keepalive_timeout_s: float = Field(30.0, gt=0, description="an idle connection (between requests, or new "
                                       "and silent) is closed after this")
    max_request_bytes: int = Field(8 * MiB, ge=1024, description="OTLP request limit after decompression")
    max_pending_rows: int = Field(50_000, ge=100, description="bound of the batch writer's queue")
    max_records_per_request: int = Field(20_000, ge=1, description="OTLP log records per request; more is refused "
                                         "(RESOURCE_EXHAUSTED / 413) before anything is decoded")
    max_record_bytes: int = Field(256 * 1024, ge=1024, description="encoded size of one log record; a larger "
                                  "record is rejected (partial_success), the rest of its request stored")
    ingest_memory_bytes: int = Field(512 * MiB, ge=64 * MiB, description="memory all OTLP requests in flight and "
                                     "the writer's queue may take together; beyond it ingest answers retry-later")
    otlp_body_timeout_s: float = Field(30.0, gt=0, description="an OTLP/HTTP body must arrive within this")
    api_pool_size: int = Field(10, ge=2, description="database connections for the API and the live tail")
    export_concurrency: int = Field(4, ge=1, description="exports streaming at once, server-wide; each has its own "
                                    "database connection, apart from the API's and ingest's")
    exports_per_user: int = Field(2, ge=1, description="exports one user may stream at once; more get 429")
    export_write_timeout_s: float = Field(30.0, gt=0, description="an export whose client takes longer than this to "
                                          "accept the next chunk is ended, and its database session freed")
    settings_refresh_s: float = Field(5.0, gt=0, description="how often the writer re-reads its settings")
    log_level: str = "INFO"
    bootstrap: bool = Field(True, description="create the first admin and a default ingest token")
    jwt_secret: str | None = Field(None, repr=False, min_length=32,
                                   description="HS256 key of API tokens; empty = generated once into data_dir/jwt-secret")
    jwt_ttl_s: int = Field(12 * 3600, ge=60, description="lifetime of an API token (JWT exp)")
    login_max_failures: int = Field(10, ge=1, description="failed logins per email and address before 429")
    login_failure_window_s: int = Field(300, ge=1, description="window of the failed-login count")
    login_max_failures_per_address: int = Field(30, ge=1, description="failed logins per client address, "
                                                "across all emails, before 429")
    login_max_failures_per_account: int = Field(50, ge=1, description="failed logins per email, across all "
                                                "addresses, before 429 (known or unknown email alike)")
    login_hash_concurrency: int = Field(1, ge=1, description="password hashes (argon2) computed at once")
    login_queue: int = Field(32, ge=0, description="requests waiting for a password hash before 503")
    retention_interval_s: float = Field(3600.0, gt=0, description="how often the retention job runs")
    allowed_origins: list[str] = Field(default_factory=list, description="Origins allowed on the live-tail "
                                       "WebSocket (comma list in the env); empty = the server's own origin")
    live_auth_timeout_s: float = Field(5.0, gt=0, description="a live-tail client must authenticate within this")
    live_queue_capacity: int = Field(4096, ge=1, description="entries buffered per live-tail client before lagged")
    live_recheck_s: float = Field(10.0, gt=0, description="how often open live-tail connections' accounts are "
                                  "re-read: a deleted account is closed, a changed role or membership re-scoped")
    live_send_timeout_s: float = Field(10.0, gt=0, description="a live-tail client that does not accept a frame "
                                       "within this is disconnected (its socket aborted, its buffers freed)")
    live_tails_per_user: int = Field(20, ge=1, description="live-tail connections one user may hold open")
    server_log_level: str = Field("INFO", pattern=r"^(?i:DEBUG|INFO|WARNING|ERROR|CRITICAL|OFF)$",
                                  description="the server's own log records at or above this reach the console; OFF = none")

    model_config = {"extra": "forbid"}

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        # The environment gives "https://a.example, https://b.example".
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


# Environment variable of each setting.
ENV_VARS = {
    "database_url": "DATABASE_URL",
    "data_dir": "ACTIVITY_DATA_DIR",
    "host": "ACTIVITY_HOST",
    "http_port": "ACTIVITY_HTTP_PORT",
    "otlp_grpc_port": "ACTIVITY_OTLP_GRPC_PORT",
    "otlp_http_port": "ACTIVITY_OTLP_HTTP_PORT",
    "max_connections": "ACTIVITY_MAX_CONNECTIONS",
    "reserved_connections": "ACTIVITY_RESERVED_CONNECTIONS",
    "header_timeout_s": "ACTIVITY_HEADER_TIMEOUT_S",
    "keepalive_timeout_s": "ACTIVITY_KEEPALIVE_TIMEOUT_S",
    "max_request_bytes": "ACTIVITY_MAX_REQUEST_BYTES",
    "max_pending_rows": "ACTIVITY_MAX_PENDING_ROWS",
    "max_records_per_request": "ACTIVITY_MAX_RECORDS_PER_REQUEST",
    "max_record_bytes": "ACTIVITY_MAX_RECORD_BYTES",
    "ingest_memory_bytes": "ACTIVITY_INGEST_MEMORY_BYTES",
    "otlp_body_timeout_s": "ACTIVITY_OTLP_BODY_TIMEOUT_S",
    "api_pool_size": "ACTIVITY_API_POOL_SIZE",
    "export_concurrency": "ACTIVITY_EXPORT_CONCURRENCY",
    "exports_per_user": "ACTIVITY_EXPORTS_PER_USER",
    "export_write_timeout_s": "ACTIVITY_EXPORT_WRITE_TIMEOUT_S",
    "settings_refresh_s": "ACTIVITY_SETTINGS_REFRESH_S",
    "log_level": "ACTIVITY_LOG_LEVEL",
    "jwt_secret": "ACTIVITY_JWT_SECRET",
    "jwt_ttl_s": "ACTIVITY_JWT_TTL_S",
    "login_max_failures": "ACTIVITY_LOGIN_MAX_FAILURES",
    "login_failure_window_s": "ACTIVITY_LOGIN_FAILURE_WINDOW_S",
    "login_max_failures_per_address": "ACTIVITY_LOGIN_MAX_FAILURES_PER_ADDRESS",
    "login_max_failures_per_account": "ACTIVITY_LOGIN_MAX_FAILURES_PER_ACCOUNT",
    "login_hash_concurrency": "ACTIVITY_LOGIN_HASH_CONCURRENCY",
    "login_queue": "ACTIVITY_LOGIN_QUEUE",
    "retention_interval_s": "ACTIVITY_RETENTION_INTERVAL_S",
    "allowed_origins": "ACTIVITY_ALLOWED_ORIGINS",
    "live_auth_timeout_s": "ACTIVITY_LIVE_AUTH_TIMEOUT_S",
    "live_queue_capacity": "ACTIVITY_LIVE_QUEUE_CAPACITY",
    "live_recheck_s": "ACTIVITY_LIVE_RECHECK_S",
    "live_send_timeout_s": "ACTIVITY_LIVE_SEND_TIMEOUT_S",
    "live_tails_per_user": "ACTIVITY_LIVE_TAILS_PER_USER",
    "server_log_level": "ACTIVITY_SERVER_LOG_LEVEL",
}


def load_settings(arguments: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for name, env_var in ENV_VARS.items():
        if environ.get(env_var):
            values[name] = environ[env_var]
    for name, value in (arguments or {}).items():
        if value is not None:
            values[name] = value
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigurationError(f"invalid settings: {exc}") from None
