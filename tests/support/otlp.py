"""Building OTLP log requests in tests."""

from __future__ import annotations

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList

TRACE = bytes(range(1, 17))
SPAN = bytes(range(1, 9))


def kv(key: str, value) -> KeyValue:
    return KeyValue(key=key, value=to_any(value))


def to_any(value) -> AnyValue:
    if value is None:
        return AnyValue()
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[to_any(v) for v in value]))
    if isinstance(value, dict):
        return AnyValue(kvlist_value=KeyValueList(values=[kv(k, v) for k, v in value.items()]))
    return AnyValue(string_value=value)


def request_with(records: list[dict], resource: dict | None = None, scope=("my.scope", "1.2")) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    for key, value in (resource if resource is not None else {"service.name": "billing-api"}).items():
        resource_logs.resource.attributes.append(kv(key, value))
    scope_logs = resource_logs.scope_logs.add()
    scope_logs.scope.name, scope_logs.scope.version = scope
    for spec in records:
        record = scope_logs.log_records.add()
        attributes = spec.pop("attributes", {})
        body = spec.pop("body", None)
        for key, value in spec.items():
            setattr(record, key, value)
        if body is not None:
            record.body.CopyFrom(to_any(body))
        for key, value in attributes.items():
            record.attributes.append(kv(key, value))
    return request


