"""The native fast path (collector/_fastpath.c) against the Python reference (collector/copy_rows.py):
for every record the C code does not hand back, its COPY tuple is the reference's, byte for byte."""

from __future__ import annotations

import os
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList

from collector import copy_rows, key_catalogue, writer
from collector.contract import LEVEL_IDS, SOURCE_IDS
from collector.errors import DecodeError, PayloadTooLarge
from tests.support.otlp import SPAN, TRACE, request_with, to_any

try:
    from collector import _fastpath
except ImportError:  # pragma: no cover - depends on the build
    _fastpath = None

if _fastpath is None and os.environ.get("ACTIVITY_NATIVE", "").lower() == "off":
    pytest.skip("the native fast path is not built and ACTIVITY_NATIVE=off", allow_module_level=True)

RECEIVED = datetime(2026, 11, 26, 12, 0, 0, tzinfo=timezone.utc)
RECEIVED_NS = int(RECEIVED.timestamp()) * 1_000_000_000
FIRST_ID = 1000
MAX_RECORDS = 10_000
MAX_RECORD_BYTES = 1 << 20
# What the equivalence runs handed back, reported at the end of the session (-rA shows it).
HANDED_BACK: list[str] = []


def test_the_extension_is_built_and_used():
    assert _fastpath is not None, (
        "collector._fastpath is not built: install with a C compiler (pip install -e .), "
        "or set ACTIVITY_NATIVE=off to run without it"
    )
    if os.environ.get("ACTIVITY_NATIVE", "").lower() == "off":
        assert copy_rows.native_module() is None
    else:
        assert copy_rows.native_module() is _fastpath, "the extension was built from other sources: pip install -e ."


def assert_equivalent(data: bytes, received_ns: int = RECEIVED_NS, max_record_bytes: int = MAX_RECORD_BYTES) -> list[int] | None:
    """Both paths on one request; returns what the fast path handed back (None: it declined the
    request as a whole)."""
    assert _fastpath is not None
    try:
        reference = copy_rows.encode_request_reference(data, received_ns, FIRST_ID, MAX_RECORDS, max_record_bytes)
    except (DecodeError, PayloadTooLarge):
        # The request as a whole is refused: the fast path may decline it or hand records back,
        # never encode all of it as if nothing were wrong with a record it read.
        try:
            native = _fastpath.encode_request(data, received_ns, FIRST_ID, MAX_RECORDS, max_record_bytes)
        except _fastpath.Declined:
            return []
        assert native[2], "a request Python refuses was encoded whole"
        return native[2]
    try:
        native = _fastpath.encode_request(data, received_ns, FIRST_ID, MAX_RECORDS, max_record_bytes)
    except _fastpath.Declined:  # left whole to the reference: slower, never wrong
        HANDED_BACK.append("declined")
        return None
    # Without the GIL (as in a worker thread), the same.
    assert _fastpath.encode_request(data, received_ns, FIRST_ID, MAX_RECORDS, max_record_bytes, True) == native
    native_bytes, native_count, handed_back, (oversized, repaired, clamped) = native
    reference_bytes, reference_count, _, (ref_oversized, ref_repaired, ref_clamped) = reference
    assert native_count + len(handed_back) == reference_count
    assert oversized == ref_oversized
    expected, actual = copy_rows.tuples_by_id(reference_bytes), copy_rows.tuples_by_id(native_bytes)
    assert sorted(actual) == [FIRST_ID + i for i in range(reference_count) if i not in set(handed_back)]
    for row_id, encoded in actual.items():
        assert encoded == expected[row_id], f"record {row_id - FIRST_ID} differs"
    # The key catalogue reads the same keys from the tuples, whole and when capped, in C and on
    # the Python path.
    for max_keys in (key_catalogue.MAX_KEYS_PER_REQUEST, 3):
        keys = key_catalogue.tuple_keys_reference(reference_bytes, max_keys)
        assert _fastpath.tuple_keys(reference_bytes, max_keys) == keys
        assert key_catalogue.tuple_keys_python(reference_bytes, max_keys) == keys
    if not handed_back:
        assert native_bytes == reference_bytes
        assert (repaired, clamped) == (ref_repaired, ref_clamped)
    else:
        HANDED_BACK.append(f"{len(handed_back)} of {reference_count}")
        assert repaired <= ref_repaired and clamped <= ref_clamped
    return handed_back


def test_columns_and_lookup_ids_are_the_writers():
    assert copy_rows.COPY_COLUMNS == writer.COPY_COLUMNS
    # The C code numbers levels and sources in declaration order, as the contract does.
    assert list(LEVEL_IDS.values()) == [1, 2, 3, 4] and list(SOURCE_IDS) == ["api", "comfyui", "worker", "agent", "pipeline"]


# --- the edge cases of tests/unit/test_mapping.py, and more ------------------------------------

FUTURE_NS = RECEIVED_NS + 11 * 60 * 1_000_000_000
EDGE_RECORDS = [
    {"time_unix_nano": 1_764_158_400_123_456_789, "severity_number": 13, "severity_text": "WARN", "body": "GPU hot",
     "trace_id": TRACE, "span_id": SPAN, "flags": 0x101, "event_name": "gpu.temperature",
     "attributes": {"activity.source": "agent", "activity.category": "curated", "activity.entity.type": "worker",
                    "activity.entity.id": "17", "activity.user.id": 3, "activity.job.id": "99",
                    "activity.project.id": 5, "temperature": 91.5, "ok": False, "blob": b"\x00\x01",
                    "list": [1, "two"], "nested": {"a": {"b": 1}}}},
    {"body": "hello"},
    {"body": "x", "attributes": {"activity.source": "billing", "activity.category": "loud", "activity.job.id": "J-7",
                                 "activity.user.id": "99999999999999999999", "enduser.id": "12"}},
    {"body": "x", "attributes": {"activity.user.id": "7", "enduser.id": "12"}},
    {"body": "x", "attributes": {"activity.user.id": None, "enduser.id": [1]}},
    {"body": "x", "attributes": {"activity.source": " Agent ", "activity.category": "CURATED\t",
                                 "activity.entity.type": "", "activity.entity.id": " -9223372036854775808 ",
                                 "activity.job.id": "+9223372036854775807", "activity.project.id": "9223372036854775808"}},
    {"body": "x", "attributes": {"activity.entity.type": "t" * 257, "activity.entity.id": True,
                                 "activity.job.id": 1.5, "activity.project.id": "0x10"}},
    {"body": "x", "attributes": {"activity.entity.type": "é" * 256, "activity.source": 3}},
    {"body": "x", "trace_id": TRACE[:15], "span_id": SPAN},
    {"body": "x", "trace_id": bytes(16), "span_id": SPAN},
    {"body": "x", "trace_id": TRACE, "span_id": SPAN[:7], "flags": 0xFFFFFFFF},
    {"body": "x", "trace_id": TRACE, "span_id": bytes(8)},
    {"body": "x", "observed_time_unix_nano": 1_000_000_000},
    {"body": "x"},
    {"body": {"event": "done", "n": 2, "f": 0.5, "small": 1e-7, "big": 1e22}},
    {"body": [1, "two", [3.25, None], {"k": b"\xff"}]},
    {"body": 42}, {"body": -7}, {"body": True}, {"body": 2.5}, {"body": 1e-7}, {"body": 1e16},
    {"body": float("nan")}, {"body": float("-inf")}, {"body": b"\x00\xff"}, {"body": b""},
    {"event_name": "user.login"}, {"body": "", "event_name": "e\x00vent"}, {"body": b"", "event_name": "bytes.empty"},
    {"body": "x", "attributes": {"nan": float("nan"), "inf": float("inf"), "ninf": float("-inf")}},
    {"body": "bad\x00message", "attributes": {"k\x00": "v\x00", "deep": {"x": ["a\x00"]}}},
    {"body": "x", "attributes": {"k\x00": 1, "k\ufffd": 2}},
    {"body": {"a": 1}, "attributes": {"body": "attribute"}},
    # The same clash behind a nested key-value list, whose own keys are checked with the same table.
    {"body": {"a": 1}, "attributes": {"n": {"x": 1, "y": {"z": 2}}, "body": 3}},
    {"body": [1], "attributes": {"n": {"body": 1}, "body": [2]}},
    {"body": "x", "time_unix_nano": FUTURE_NS},
    {"body": "x", "time_unix_nano": FUTURE_NS + 123_456_000, "attributes": {"activity.original_timestamp": "mine"}},
    {"body": "x", "time_unix_nano": 2**64 - 1},
    {"body": "x", "time_unix_nano": RECEIVED_NS + 600 * 1_000_000_000},
    {"body": "x", "severity_number": 0, "severity_text": "  warning"},
    {"body": "x", "severity_number": 0, "severity_text": "\x0bFATAL"},
    {"body": "x", "severity_number": 0, "severity_text": "Ｗarn"},
    {"body": "x", "severity_number": 25, "severity_text": "s" * 300},
    {"body": "x", "severity_number": -3, "severity_text": "debug\x00"},
    {"body": "x", "event_name": "é" * 300, "severity_text": "\x00" + "x" * 400},
    {"body": "quote \" backslash \\ controls \x01\x1f\x7f \u2028 \t\n\r\b\f", "attributes": {"q\"\\\n": "\x1f"}},
    {"body": "x", "attributes": {"activity.source": "WOR\u212aER"}},
    {"body": "x", "attributes": {"activity.user.id": "\u00a012"}},
    {"body": "x", "attributes": {"int": -(2**63), "max": 2**63 - 1, "neg0": -0.0, "tiny": 5e-324, "huge": 1.7976931348623157e308}},
    # Whole numbers as doubles take a shortcut in C below 1e16.
    {"body": 3.0, "attributes": {"whole": 1234.0, "neg": -5.0, "below": 9999999999999998.0, "at": 1e16,
                                 "p53": 2.0**53, "zero": 0.0, "half": 0.5, "big": 123456789012345678.0}},
    {"body": -0.0}, {"body": 1e16}, {"body": 9999999999999998.0},
    # Long text, scanned eight bytes at a time, with what must be escaped or checked at every offset.
    *({"body": "x", "attributes": {"s": "a" * offset + special + "b" * 17, "k" * offset + special: 1}}
      for offset in range(9) for special in ('"', "\\", "\n", "\x00", "\x1f", "é", "\u2028", "\U0001f600", "\x7f")),
    {"body": "y" * 40 + "\x00", "attributes": {"trace": "line 1\n  line 2\n" * 50}},
]  # fmt: skip


@pytest.mark.parametrize("record", EDGE_RECORDS, ids=range(len(EDGE_RECORDS)))
def test_edge_case_records(record):
    assert_equivalent(request_with([dict(record)]).SerializeToString())


@pytest.mark.parametrize(
    "resource",
    [{"service.name": "comfyui-bridge"}, {"service.name": "gpu-agent-3"}, {"service.name": "render-worker"},
     {"service.name": "pipeline-engine"}, {"service.name": "public-api"}, {"service.name": "billing"}, {},
     {"service.name": "render-worker", "activity.source": "comfyui"}, {"service.name": 5},
     {"service.name": "s" * 300}, {"service.name": "AP\u0130"}, {"service.name": "n\x00ul", "x": [1.5, {"y": None}]},
     {"service.name": "x", "tiny": 1e-9}],
)  # fmt: skip
def test_resources(resource):
    request = request_with([{"body": "a", "attributes": {"activity.source": "pipeline"}}, {"body": "b"}], resource=resource)
    assert_equivalent(request.SerializeToString())


@pytest.mark.parametrize("scope", [("my.scope", "1.2"), ("", ""), ("s" * 300, "v\x00"), ("é" * 257, "")])
def test_scopes(scope):
    assert_equivalent(request_with([{"body": "a"}], scope=scope).SerializeToString())


def test_oversized_records_are_left_out_with_their_ids():
    request = request_with([{"body": "a"}, {"body": "b" * 500}, {"body": "c"}])
    data = request.SerializeToString()
    assert assert_equivalent(data, max_record_bytes=100) == []
    _, count, _, (oversized, _, _) = _fastpath.encode_request(data, RECEIVED_NS, FIRST_ID, MAX_RECORDS, 100)
    assert (count, oversized) == (2, 1)


def test_duplicate_keys_and_merges_are_handed_back():
    request = request_with([{"body": "a"}, {"body": "b"}, {"body": "c"}])
    records = request.resource_logs[0].scope_logs[0].log_records
    records[0].attributes.extend([KeyValue(key="k", value=AnyValue(int_value=1)), KeyValue(key="k", value=AnyValue(int_value=2))])
    records[2].body.kvlist_value.values.extend([KeyValue(key="d"), KeyValue(key="d")])
    data = request.SerializeToString()
    assert assert_equivalent(data) == [0, 2]
    # A second body field merges into the first: handed back.
    merged = request_with([{"body": {"a": 1}}]).SerializeToString() + b""
    body = AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key="b", value=AnyValue(int_value=2))]))
    record = request_with([{"body": {"a": 1}}]).resource_logs[0].scope_logs[0].log_records[0]
    doubled = record.SerializeToString() + b"\x2a" + bytes([len(body.SerializeToString())]) + body.SerializeToString()
    assert doubled  # the request below carries the record with its body field twice
    merged = _request_with_raw_record(doubled)
    assert assert_equivalent(merged) == [0]


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _request_with_raw_record(record: bytes) -> bytes:
    scope_logs = _field(2, record)
    resource_logs = _field(2, scope_logs)
    return _field(1, resource_logs)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


@pytest.mark.parametrize(
    "record",
    [b"\x1a\x02\xc3\x28", b"\x2a\x03\x0a\x01\xff", b"\x32\x04\x0a\x02\xed\xa0", b"\x0b\x0c", b"\x08", b"\x62\x05ab",
     b"\x2a\x02\x42\x00", b"\x32\x02\x18\x01", b"\x00\x00", b"\x3f",
     # Tags padded to six bytes (corrupt to protobuf) and to five (accepted); found by make fuzz.
     b"\xd8\x81\x81\x81\x81\x00\xd8\x31", b"\x98\x80\x80\x80\x00\x05", b"\xd8\x81\x81\x81\x01\x05",
     # Lengths padded with empty groups.
     b"\x1a\x82\x80\x80\x00ab", b"\x1a\x82\x80\x80\x80\x80\x80\x80\x80\x00ab"],
)  # fmt: skip
def test_malformed_or_unusual_records(record):
    assert_equivalent(_request_with_raw_record(record))


def _texts_with_one_odd_byte():
    """ASCII text of the lengths around the UTF-8 check's eight-byte words, with one NUL,
    non-ASCII character or invalid byte at each place, the last word's overlap included."""
    for length in (7, 8, 9, 15, 16, 17):
        for at in range(length):
            for odd in (b"\x00", "é".encode(), b"\xff", b"\x80", b"\xed\xa0\x80"):
                yield (b"a" * length)[:at] + odd + (b"b" * length)[at + 1:]


def test_text_with_one_odd_byte_anywhere_in_its_words():
    for text in _texts_with_one_odd_byte():
        string = _field(1, text)  # AnyValue.string_value
        for record in (_field(5, string),  # the body
                       _field(6, _field(1, text) + _field(2, string)),  # an attribute's key and value
                       _field(6, _field(1, b"activity.entity.type") + _field(2, string)),  # a contract value
                       _field(3, text)):  # severity_text  # fmt: skip
            assert_equivalent(_request_with_raw_record(record))


@pytest.mark.parametrize("number", [3, 12])  # severity_text, event_name
def test_a_string_field_sent_twice_is_handed_back(number):
    """The last value wins, but protobuf refuses the request when an earlier one is not UTF-8;
    the fast path once encoded such a record from its valid last value (found by make fuzz)."""
    tag = _varint(number << 3 | 2)
    invalid_then_valid = tag + b"\x02\x40\x8c" + tag + b"\x02ok"
    assert assert_equivalent(_request_with_raw_record(invalid_then_valid)) == [0]
    valid_twice = tag + b"\x02no" + tag + b"\x02ok"
    assert assert_equivalent(_request_with_raw_record(valid_twice)) == [0]


def test_malformed_outer_levels_are_declined():
    for data in (b"\x0a\xff\xff\xff\xff\x0f garbage", b"\x0a\x05\x12\x03\x12\x01", b"\x0b"):
        with pytest.raises(_fastpath.Declined):
            _fastpath.encode_request(data, RECEIVED_NS, FIRST_ID, MAX_RECORDS, MAX_RECORD_BYTES)
        with pytest.raises((DecodeError, PayloadTooLarge)):
            copy_rows.encode_request(data, RECEIVED_NS, FIRST_ID, MAX_RECORDS, MAX_RECORD_BYTES)


def test_limits_are_declined_as_the_reference_refuses():
    data = request_with([{"body": str(i)} for i in range(5)]).SerializeToString()
    with pytest.raises(_fastpath.Declined):
        _fastpath.encode_request(data, RECEIVED_NS, FIRST_ID, 4, MAX_RECORD_BYTES)
    with pytest.raises(PayloadTooLarge):
        copy_rows.encode_request(data, RECEIVED_NS, FIRST_ID, 4, MAX_RECORD_BYTES)
    assert assert_equivalent(data) == []


# --- random requests ----------------------------------------------------------------------------

KEYS = st.one_of(
    st.sampled_from(["activity.source", "activity.category", "activity.entity.type", "activity.entity.id",
                     "activity.user.id", "activity.job.id", "activity.project.id", "enduser.id", "body",
                     "activity.original_timestamp", "service.name", "k", "k\x00"]),
    st.text(max_size=8),
)  # fmt: skip
STRINGS = st.one_of(
    st.sampled_from(["api", " Worker ", "curated", "VERBOSE", "12", " -5 ", "+0", "99999999999999999999", "", "x\x00",
                     "comfy-bridge", "\u00a07"]),
    st.text(max_size=12),
)  # fmt: skip
SCALARS = st.one_of(
    st.none(), STRINGS, st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True), st.binary(max_size=8),
)  # fmt: skip
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=4), st.lists(st.tuples(KEYS, children), max_size=4)),
    max_leaves=12,
)


def any_value(value) -> AnyValue:
    """As ``to_any``, but lists of pairs are key-value lists (duplicate keys allowed), other
    lists arrays."""
    if not isinstance(value, list):
        return to_any(value)
    if value and all(isinstance(item, tuple) for item in value):
        return AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key=k, value=any_value(v)) for k, v in value]))
    return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value if not isinstance(v, tuple)]))


TIMES = st.one_of(
    st.just(0), st.integers(min_value=0, max_value=2**64 - 1),
    st.integers(min_value=RECEIVED_NS - 10**12, max_value=RECEIVED_NS + 10**12),
)  # fmt: skip
RECORDS = st.fixed_dictionaries(
    {
        "time_unix_nano": TIMES, "observed_time_unix_nano": TIMES,
        "severity_number": st.one_of(st.integers(min_value=-2, max_value=26), st.integers(min_value=-(2**31), max_value=2**31 - 1)),
        "severity_text": st.one_of(st.sampled_from(["", "WARN", " error", "Trace", "fatal", "info"]), st.text(max_size=8)),
        "event_name": st.one_of(st.just(""), st.text(max_size=8)),
        "trace_id": st.one_of(st.just(TRACE), st.just(bytes(16)), st.binary(max_size=17)),
        "span_id": st.one_of(st.just(SPAN), st.just(bytes(8)), st.binary(max_size=9)),
        "flags": st.integers(min_value=0, max_value=2**32 - 1),
        "body": st.one_of(st.just("absent"), VALUES),
        "attributes": st.lists(st.tuples(KEYS, VALUES), max_size=6),
    }
)  # fmt: skip
RESOURCES = st.lists(st.tuples(KEYS, VALUES), max_size=4)


def build_request(resources) -> bytes:
    request = ExportLogsServiceRequest()
    for resource_attributes, scopes in resources:
        resource_logs = request.resource_logs.add()
        for key, value in resource_attributes:
            resource_logs.resource.attributes.append(KeyValue(key=key, value=any_value(value)))
        for (name, version), records in scopes:
            scope_logs = resource_logs.scope_logs.add()
            scope_logs.scope.name, scope_logs.scope.version = name, version
            for spec in records:
                record = scope_logs.log_records.add()
                for key in ("time_unix_nano", "observed_time_unix_nano", "severity_number", "severity_text",
                            "event_name", "trace_id", "span_id", "flags"):  # fmt: skip
                    setattr(record, key, spec[key])
                if spec["body"] != "absent":
                    record.body.CopyFrom(any_value(spec["body"]))
                for key, value in spec["attributes"]:
                    record.attributes.append(KeyValue(key=key, value=any_value(value)))
    return request.SerializeToString()


SCOPES = st.lists(st.tuples(st.tuples(st.text(max_size=6), st.text(max_size=6)), st.lists(RECORDS, max_size=4)), max_size=2)
REQUESTS = st.lists(st.tuples(st.one_of(RESOURCES, st.just([("service.name", "render-worker")])), SCOPES), max_size=2)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(REQUESTS)
def test_random_requests(resources):
    assert_equivalent(build_request(resources))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes(data):
    assert_equivalent(data)


def test_report_handed_back():
    """Not an assertion: what the runs above handed back, for the record (-rA)."""
    print(f"handed back in {len(HANDED_BACK)} requests: {HANDED_BACK[:20]}")
