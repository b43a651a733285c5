"""Server settings. Precedence: command-line argument > environment variable > default."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from pydantic import BaseModel, Field, ValidationError

from collector.errors import ConfigurationError

MiB = 1024 * 1024


class Settings(BaseModel):
    database_url: str | None = Field(None, description="PostgreSQL URL; empty = embedded server")
    data_dir: Path = Field(Path(".data"), description="embedded database and first-run secrets")
    host: str = Field("127.0.0.1", description="address every listener binds")
    http_port: int = Field(8080, ge=0, le=65535, description="HTTP API, WebSocket and console")
    otlp_grpc_port: int = Field(4317, ge=0, le=65535)
    otlp_http_port: int = Field(4318, ge=0, le=65535)
    max_request_bytes: int = Field(8 * MiB, ge=1024, description="OTLP request limit after decompression")
    max_pending_rows: int = Field(50_000, ge=100, description="bound of the batch writer's queue")
    settings_refresh_s: float = Field(5.0, gt=0, description="how often the writer re-reads its settings")
    log_level: str = "INFO"
    bootstrap: bool = Field(True, description="create the first admin and a default ingest token")

    model_config = {"extra": "forbid"}


# Environment variable of each setting.
ENV_VARS = {
    "database_url": "DATABASE_URL",
    "data_dir": "ACTIVITY_DATA_DIR",
    "host": "ACTIVITY_HOST",
    "http_port": "ACTIVITY_HTTP_PORT",
    "otlp_grpc_port": "ACTIVITY_OTLP_GRPC_PORT",
    "otlp_http_port": "ACTIVITY_OTLP_HTTP_PORT",
    "max_request_bytes": "ACTIVITY_MAX_REQUEST_BYTES",
    "max_pending_rows": "ACTIVITY_MAX_PENDING_ROWS",
    "settings_refresh_s": "ACTIVITY_SETTINGS_REFRESH_S",
    "log_level": "ACTIVITY_LOG_LEVEL",
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
