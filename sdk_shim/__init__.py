"""sdk_shim: what a service imports to send activity entries through the OpenTelemetry SDK.

    import sdk_shim
    sdk_shim.configure(service_name="render-worker", source="worker")
    logging.getLogger(__name__).info("plain logs arrive as verbose entries")
    sdk_shim.curated("info", "Job started").with_job(42).with_project(7).with_fields({"gpu": 0}).emit()
    sdk_shim.shutdown()  # flushes

Configuration precedence is argument > standard ``OTEL_*`` variable > default:
endpoint (``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT``, ``OTEL_EXPORTER_OTLP_ENDPOINT``), headers
(``OTEL_EXPORTER_OTLP_LOGS_HEADERS``, ``OTEL_EXPORTER_OTLP_HEADERS``), protocol
(``OTEL_EXPORTER_OTLP_LOGS_PROTOCOL``, ``OTEL_EXPORTER_OTLP_PROTOCOL``; ``grpc`` by default, or
``http/protobuf``), service name (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``) and source
(``ACTIVITY_SOURCE``).
"""

from __future__ import annotations

import logging
import os
from typing import Any, Mapping

from opentelemetry._logs import SeverityNumber
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource

from collector import attributes as attr
from collector.contract import SOURCES, Category, Level

__all__ = ["CuratedEntry", "configure", "curated", "force_flush", "get_provider", "shutdown", "LEVEL_SEVERITY"]

# Our four levels as OTel severities (the first number of each range).
LEVEL_SEVERITY: dict[str, tuple[SeverityNumber, str]] = {
    Level.DEBUG: (SeverityNumber.DEBUG, "DEBUG"),
    Level.INFO: (SeverityNumber.INFO, "INFO"),
    Level.WARN: (SeverityNumber.WARN, "WARN"),
    Level.ERROR: (SeverityNumber.ERROR, "ERROR"),
}

_SCOPE = "sdk_shim"


class _State:
    provider: LoggerProvider | None = None
    handler: LoggingHandler | None = None
    source: str | None = None


_state = _State()


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def _exporter(endpoint: str | None, headers: Mapping[str, str] | None, protocol: str | None, insecure: bool | None) -> LogRecordExporter:
    protocol = (protocol or _env("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL") or "grpc").lower()
    header_dict = dict(headers) if headers is not None else None
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcExporter

        if endpoint is not None and insecure is None:
            insecure = endpoint.startswith("http://")
        return GrpcExporter(endpoint=endpoint, headers=header_dict, insecure=insecure)
    if protocol in ("http/protobuf", "http"):
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpExporter

        if endpoint is not None and not endpoint.rstrip("/").endswith("/v1/logs"):
            endpoint = endpoint.rstrip("/") + "/v1/logs"
        return HttpExporter(endpoint=endpoint, headers=header_dict)
    raise ValueError(f"unsupported OTLP protocol {protocol!r}: use 'grpc' or 'http/protobuf'")


def configure(
    service_name: str | None = None,
    source: str | None = None,
    endpoint: str | None = None,
    headers: Mapping[str, str] | None = None,
    *,
    protocol: str | None = None,
    insecure: bool | None = None,
    resource_attributes: Mapping[str, Any] | None = None,
    bridge_logging: bool = True,
    logging_level: int = logging.INFO,
    exporter: LogRecordExporter | None = None,
    schedule_delay_millis: float | None = None,
) -> LoggerProvider:
    """Set up a LoggerProvider with a BatchLogRecordProcessor and an OTLP exporter.

    ``source`` (a ``collector.contract.Source`` value) is set as the resource attribute
    ``activity.source``; with ``bridge_logging`` the stdlib root logger also feeds the SDK, so
    ordinary ``logging`` calls become verbose entries carrying the active span's trace context.
    """
    shutdown()
    source = source or _env("ACTIVITY_SOURCE")
    if source is not None and source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, not {source!r}")
    resource_values: dict[str, Any] = dict(resource_attributes or {})
    if service_name:
        resource_values[SERVICE_NAME] = service_name
    if source:
        resource_values[attr.SOURCE] = source
    provider = LoggerProvider(resource=Resource.create(resource_values))
    processor_options = {}
    if schedule_delay_millis is not None:
        processor_options["schedule_delay_millis"] = schedule_delay_millis
    provider.add_log_record_processor(
        BatchLogRecordProcessor(exporter or _exporter(endpoint, headers, protocol, insecure), **processor_options)
    )
    _state.provider = provider
    _state.source = source
    if bridge_logging:
        _state.handler = LoggingHandler(level=logging_level, logger_provider=provider)
        root = logging.getLogger()
        root.addHandler(_state.handler)
        if root.level > logging_level or root.level == logging.NOTSET:
            root.setLevel(logging_level)
    return provider


def get_provider() -> LoggerProvider:
    if _state.provider is None:
        raise RuntimeError("sdk_shim.configure() has not been called")
    return _state.provider


def force_flush(timeout_millis: int = 30_000) -> bool:
    return _state.provider.force_flush(timeout_millis) if _state.provider else True


def shutdown() -> None:
    """Flush what is buffered and stop exporting. Safe to call more than once."""
    if _state.handler is not None:
        logging.getLogger().removeHandler(_state.handler)
        _state.handler = None
    if _state.provider is not None:
        provider, _state.provider = _state.provider, None
        provider.shutdown()


class CuratedEntry:
    """The curated-entry builder: ``curated(level, message).with_…(…).emit()``."""

    __slots__ = ("level", "message", "source", "fields", "entity_type", "entity_id", "user_id", "job_id", "project_id",
                 "time_unix_nano")  # fmt: skip

    def __init__(self, level: str, message: str):
        if level not in LEVEL_SEVERITY:
            raise ValueError(f"level must be one of {', '.join(LEVEL_SEVERITY)}, not {level!r}")
        self.level = level
        self.message = message
        self.source: str | None = None
        self.fields: dict[str, Any] = {}
        self.entity_type: str | None = None
        self.entity_id: int | None = None
        self.user_id: int | None = None
        self.job_id: int | None = None
        self.project_id: int | None = None
        self.time_unix_nano: int | None = None

    def with_entity(self, entity_type: str, entity_id: int) -> "CuratedEntry":
        self.entity_type, self.entity_id = entity_type, entity_id
        return self

    def with_user(self, user_id: int) -> "CuratedEntry":
        self.user_id = user_id
        return self

    def with_job(self, job_id: int) -> "CuratedEntry":
        self.job_id = job_id
        return self

    def with_project(self, project_id: int) -> "CuratedEntry":
        self.project_id = project_id
        return self

    def with_source(self, source: str) -> "CuratedEntry":
        if source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, not {source!r}")
        self.source = source
        return self

    def with_timestamp(self, time_unix_nano: int) -> "CuratedEntry":
        """When the event happened (nanoseconds since the Unix epoch), for an entry emitted later
        than it occurred; by default the SDK stamps the moment of ``emit()``."""
        if isinstance(time_unix_nano, bool) or not isinstance(time_unix_nano, int) or time_unix_nano <= 0:
            raise ValueError(f"time_unix_nano must be a positive int, not {time_unix_nano!r}")
        self.time_unix_nano = time_unix_nano
        return self

    def with_fields(self, fields: Mapping[str, Any]) -> "CuratedEntry":
        self.fields.update(fields)
        return self

    def attributes(self) -> dict[str, Any]:
        """The OTel attributes this entry is sent with (the contract in collector.attributes)."""
        attributes: dict[str, Any] = {key: _attribute_value(value) for key, value in self.fields.items()}
        attributes[attr.CATEGORY] = Category.CURATED.value
        for name, value in (
            (attr.SOURCE, self.source),
            (attr.ENTITY_TYPE, self.entity_type),
            (attr.ENTITY_ID, self.entity_id),
            (attr.USER_ID, self.user_id),
            (attr.JOB_ID, self.job_id),
            (attr.PROJECT_ID, self.project_id),
        ):
            if value is not None:
                attributes[name] = value
        return attributes

    def emit(self) -> None:
        """Send through the configured provider, inside the current trace context if any."""
        severity, text = LEVEL_SEVERITY[self.level]
        logger = get_provider().get_logger(_SCOPE)
        logger.emit(
            timestamp=self.time_unix_nano,
            severity_number=severity,
            severity_text=text,
            body=self.message,
            attributes=self.attributes(),
        )


def curated(level: str, message: str) -> CuratedEntry:
    return CuratedEntry(level, message)


def _attribute_value(value: Any) -> Any:
    """Log attributes may be any OTel AnyValue (scalars, bytes, lists, string-keyed maps); anything
    else is sent as its ``str()`` so that it is never silently dropped by the SDK."""
    if value is None or isinstance(value, (str, bool, int, float, bytes)):
        return value
    if isinstance(value, (list, tuple)):
        return [_attribute_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _attribute_value(v) for k, v in value.items()}
    return str(value)
