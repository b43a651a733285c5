"""Pure mapping from OTLP protobufs to activity rows, and OTLP/JSON decoding (no database)."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from collector import mapping, otlp_codec
from collector.mapping import map_request
from tests.support.otlp import SPAN, TRACE, request_with

RECEIVED = datetime(2026, 11, 26, 12, 0, 0, tzinfo=timezone.utc)
def one_row(**record):
    return map_request(request_with([record]), RECEIVED).rows[0]


@pytest.mark.parametrize(
    ("number", "text", "level"),
    [
        (1, "", "debug"), (4, "", "debug"), (5, "", "debug"), (8, "", "debug"),
        (9, "", "info"), (12, "", "info"), (13, "", "warn"), (16, "", "warn"),
        (17, "", "error"), (20, "", "error"), (21, "", "error"), (24, "", "error"),
        (0, "WARNING", "warn"), (0, "err", "error"), (0, "Fatal", "error"), (0, "trace", "debug"),
        (0, "", "info"), (0, "whatever", "info"),
    ],
)  # fmt: skip
def test_severity_ranges(number, text, level):
    assert mapping.severity_to_level(number, text) == level


def test_full_record_maps_every_column():
    row = one_row(
        time_unix_nano=1_764_158_400_123_456_789,
        severity_number=13,
        severity_text="WARN",
        body="GPU hot",
        trace_id=TRACE,
        span_id=SPAN,
        flags=0x101,
        event_name="gpu.temperature",
        attributes={
            "activity.source": "agent",
            "activity.category": "curated",
            "activity.entity.type": "worker",
            "activity.entity.id": "17",
            "activity.user.id": 3,
            "activity.job.id": "99",
            "activity.project.id": 5,
            "temperature": 91.5,
            "ok": False,
            "blob": b"\x00\x01",
            "list": [1, "two"],
            "nested": {"a": {"b": 1}},
        },
    )
    assert row.timestamp == datetime(2025, 11, 26, 12, 0, 0, 123456, tzinfo=timezone.utc)
    assert (row.level, row.source, row.category, row.message) == ("warn", "agent", "curated", "GPU hot")
    assert (row.entity_type, row.entity_id, row.user_id, row.job_id, row.project_id) == ("worker", 17, 3, 99, 5)
    assert row.trace_id == TRACE.hex() and row.span_id == SPAN.hex() and row.trace_flags == 1
    assert (row.severity_number, row.severity_text, row.event_name) == (13, "WARN", "gpu.temperature")
    assert row.fields == {
        "temperature": 91.5, "ok": False, "blob": base64.b64encode(b"\x00\x01").decode(),
        "list": [1, "two"], "nested": {"a": {"b": 1}},
    }  # fmt: skip
    assert row.service_name == "billing-api" and row.resource == {"service.name": "billing-api"}
    assert (row.scope_name, row.scope_version) == ("my.scope", "1.2")


def test_defaults_when_attributes_are_absent():
    row = one_row(body="hello")
    assert row.category == "verbose"
    assert row.source == "api"  # derived from service.name "billing-api"
    assert row.trace_id is None and row.span_id is None and row.trace_flags is None
    assert row.fields == {}


@pytest.mark.parametrize(
    ("service_name", "source"),
    [("comfyui-bridge", "comfyui"), ("gpu-agent-3", "agent"), ("render-worker", "worker"),
     ("pipeline-engine", "pipeline"), ("public-api", "api"), ("billing", "api")],
)  # fmt: skip
def test_source_from_service_name(service_name, source):
    request = request_with([{"body": "x"}], resource={"service.name": service_name})
    assert map_request(request, RECEIVED).rows[0].source == source


def test_source_precedence_record_then_resource_then_service_name():
    request = request_with(
        [{"body": "a", "attributes": {"activity.source": "pipeline"}}, {"body": "b"}],
        resource={"service.name": "render-worker", "activity.source": "comfyui"},
    )
    rows = map_request(request, RECEIVED).rows
    assert [r.source for r in rows] == ["pipeline", "comfyui"]


def test_missing_service_name_is_unknown_service():
    row = map_request(request_with([{"body": "x"}], resource={}), RECEIVED).rows[0]
    assert row.service_name == "unknown_service" and row.source == "api"


def test_unusable_contract_values_stay_in_fields():
    row = one_row(
        body="x",
        attributes={"activity.source": "billing", "activity.category": "loud", "activity.job.id": "J-7",
                    "activity.user.id": "99999999999999999999", "enduser.id": "12"},
    )  # fmt: skip
    assert row.source == "api" and row.category == "verbose" and row.job_id is None
    assert row.user_id == 12  # enduser.id accepted when activity.user.id is unusable
    assert row.fields == {
        "activity.source": "billing", "activity.category": "loud", "activity.job.id": "J-7",
        "activity.user.id": "99999999999999999999",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("trace", "span", "expected"),
    [(TRACE, SPAN, (TRACE.hex(), SPAN.hex())), (TRACE[:15], SPAN, (None, None)), (bytes(16), SPAN, (None, None)),
     (TRACE, SPAN[:7], (TRACE.hex(), None)), (TRACE, bytes(8), (TRACE.hex(), None)), (b"", b"", (None, None))],
)  # fmt: skip
def test_invalid_trace_and_span_ids_become_null(trace, span, expected):
    row = one_row(body="x", trace_id=trace, span_id=span)
    assert (row.trace_id, row.span_id) == expected


def test_timestamp_fallbacks():
    assert one_row(body="x", observed_time_unix_nano=1_000_000_000).timestamp == datetime(
        1970, 1, 1, 0, 0, 1, tzinfo=timezone.utc
    )
    assert one_row(body="x").timestamp == RECEIVED


def test_structured_and_scalar_bodies():
    row = one_row(body={"event": "done", "n": 2})
    assert json.loads(row.message) == {"event": "done", "n": 2}
    assert row.fields["body"] == {"event": "done", "n": 2}
    assert one_row(body=42).message == "42"
    assert one_row(body=True).message == "true"
    assert one_row(event_name="user.login").message == "user.login"


def test_non_finite_doubles_are_json_safe():
    row = one_row(body="x", attributes={"nan": float("nan"), "inf": float("inf"), "ninf": float("-inf")})
    assert row.fields == {"nan": "NaN", "inf": "Infinity", "ninf": "-Infinity"}
    json.dumps(row.fields, allow_nan=False)


def test_nul_characters_are_repaired_and_counted():
    request = request_with(
        [
            {"body": "bad\x00message", "attributes": {"k\x00": "v\x00", "deep": {"x": ["a\x00"]}}},
            {"body": "clean"},
        ]
    )
    mapped = map_request(request, RECEIVED)
    assert mapped.repaired == 1
    bad = mapped.rows[0]
    assert bad.message == "bad\ufffdmessage"
    assert bad.fields == {"k\ufffd": "v\ufffd", "deep": {"x": ["a\ufffd"]}}
    assert "\x00" not in json.dumps(bad.to_dict())


def test_row_json_is_the_api_shape():
    row = one_row(time_unix_nano=1_764_158_400_000_000_000, body="x", trace_id=TRACE, span_id=SPAN)
    row.id = 7
    document = json.loads(row.json())
    assert document["id"] == 7 and document["level"] == "info" and document["source"] == "api"
    assert document["timestamp"] == "2025-11-26T12:00:00.000000Z"
    assert document["trace_id"] == TRACE.hex()


# --- OTLP/JSON ---------------------------------------------------------------------------


def otlp_json_of(request: ExportLogsServiceRequest) -> dict:
    """Encode a request the OTLP/JSON way: hex ids, integer enums, int64 as strings."""
    document = json_format.MessageToDict(request, use_integers_for_enums=True)
    for resource_logs in document["resourceLogs"]:
        for scope_logs in resource_logs["scopeLogs"]:
            for record in scope_logs["logRecords"]:
                for key in ("traceId", "spanId"):
                    if key in record:
                        record[key] = base64.b64decode(record[key]).hex()
    return document


def test_otlp_json_decodes_to_the_same_rows_as_protobuf():
    request = request_with(
        [
            {"time_unix_nano": 1_764_158_400_123_456_789, "severity_number": 17, "body": "boom",
             "trace_id": TRACE, "span_id": SPAN, "flags": 1,
             "attributes": {"activity.job.id": 9_007_199_254_740_993, "activity.category": "curated", "n": 1.5}},
            {"body": {"k": [1, 2]}, "observed_time_unix_nano": 5},
        ]
    )  # fmt: skip
    document = otlp_json_of(request)
    record = document["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    assert record["traceId"] == TRACE.hex() and record["severityNumber"] == 17
    assert record["timeUnixNano"] == "1764158400123456789"  # int64 as a string
    decoded = otlp_codec.parse_json(json.dumps(document).encode())
    assert decoded == request
    assert map_request(decoded, RECEIVED).rows == map_request(request, RECEIVED).rows


def test_otlp_json_accepts_numbers_for_int64_and_ignores_unknown_fields():
    document = {
        "resourceLogs": [{"scopeLogs": [{"logRecords": [{
            "timeUnixNano": 1764158400000000000, "severityNumber": 9, "body": {"stringValue": "hi"},
            "traceId": TRACE.hex().upper(), "futureField": {"x": 1},
        }]}], "somethingNew": 1}]
    }  # fmt: skip
    row = map_request(otlp_codec.parse_json(json.dumps(document).encode()), RECEIVED).rows[0]
    assert row.message == "hi" and row.trace_id == TRACE.hex() and row.level == "info"


def test_otlp_json_invalid_hex_id_means_no_trace():
    document = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "x"}, "traceId": "zz"}]}]}]}
    row = map_request(otlp_codec.parse_json(json.dumps(document).encode()), RECEIVED).rows[0]
    assert row.trace_id is None


@pytest.mark.parametrize("payload", [b"{", b"[1,2]", b'{"resourceLogs": 3}', b"\xff\xfe", b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"soon"}]}]}]}'])
def test_malformed_json_is_a_decode_error(payload):
    with pytest.raises(otlp_codec.DecodeError):
        otlp_codec.parse_json(payload)


def test_malformed_protobuf_is_a_decode_error():
    with pytest.raises(otlp_codec.DecodeError):
        otlp_codec.parse_protobuf(b"\x0a\xff\xff\xff\xff\x0f garbage")
