"""What the writer does with COPY tuples besides sending them: ids given in place of ordinals
(``assign_ids``, native and reference), and rows read back for the live tail (``rows_from_copy``),
over the fast path's equivalence corpus."""

from __future__ import annotations

import dataclasses
import json
import struct
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector import copy_rows
from collector.mapping import map_request
from collector.model import ActivityRow
from collector.otlp_codec import parse_protobuf
from tests.support.otlp import request_with
from tests.unit.test_fastpath_equivalence import EDGE_RECORDS, RECEIVED_NS, REQUESTS, build_request

try:
    from collector import _fastpath
except ImportError:  # pragma: no cover - depends on the build
    _fastpath = None

RECEIVED = copy_rows.received_at_of(RECEIVED_NS)


def mapped_rows(data: bytes) -> list[ActivityRow]:
    try:
        return map_request(parse_protobuf(data), RECEIVED).rows
    except Exception:  # noqa: BLE001 - requests Python refuses have no rows to compare
        return []


def assert_read_back(rows: list[ActivityRow], first_id: int = 7) -> None:
    ids = range(first_id, first_id + 3 * len(rows), 3)
    encoded = copy_rows.encode_copy_rows(rows, ids)
    read = copy_rows.rows_from_copy(encoded)
    assert [row.id for row in read] == list(ids)
    live = copy_rows.live_rows(encoded)
    if _fastpath is not None:
        assert _fastpath.decode_tuples(encoded) == copy_rows.decode_tuples_reference(encoded)
        for limit in (-1, 0, 300, 4096):
            assert _fastpath.decode_tuples(encoded, limit) == copy_rows.decode_tuples_reference(encoded, limit)
    for row, row_id, back, shown in zip(rows, ids, read, live):
        row.id = row_id
        assert back == row
        assert back.json() == row.json()
        # What the live tail sends: the same entry (the same bytes, but where the standard
        # library wrote integers beyond 64 bits), and the same columns for its filters.
        assert json.loads(shown.json()) == json.loads(row.json())
        if not copy_rows._LONG_DIGITS.search(row.json()):
            assert shown.json() == row.json()
        live_copy, expected = shown.for_live(), row.for_live()
        assert dataclasses.replace(live_copy, _json=None) == dataclasses.replace(expected, _json=None)


def test_edge_records_read_back_as_mapped():
    rows = mapped_rows(request_with([dict(record) for record in EDGE_RECORDS]).SerializeToString())
    assert len(rows) == len(EDGE_RECORDS)
    assert_read_back(rows)


def test_rows_of_one_resource_share_its_dict():
    rows = mapped_rows(request_with([{"body": "a"}, {"body": "b"}], resource={"service.name": "w"}).SerializeToString())
    read = copy_rows.rows_from_copy(copy_rows.encode_copy_rows(rows, [1, 2]))
    assert read[0].resource is read[1].resource and read[0].resource == {"service.name": "w"}


def test_server_rows_read_back():
    """The server's own rows (admin only, integers beyond 64 bits in fields, no trace)."""
    rows = [ActivityRow(RECEIVED, "error", "api", "disk full", "curated", {"big": 2**70, "n": [1.5]}, admin_only=True),
            # What the C code leaves to Python: a time before 1970, a NUL (which orjson escapes).
            ActivityRow(datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=timezone.utc), "debug", "agent", "old"),
            ActivityRow(datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=timezone.utc), "warn", "pipeline", "late"),
            ActivityRow(RECEIVED, "info", "comfyui", "n\x00ul", severity_text="\x00")]
    assert_read_back(rows)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(REQUESTS)
def test_random_requests_read_back_as_mapped(resources):
    assert_read_back(mapped_rows(build_request(resources)))


# --- ids in place of ordinals ---------------------------------------------------------------------

# Runs as the writer gets them: increasing, disjoint, some empty, some adjacent.
RANGES = st.lists(st.tuples(st.integers(min_value=0, max_value=2**20), st.integers(min_value=0, max_value=5)), max_size=8).map(
    lambda gaps: [(first, count) for first, count in _runs(gaps)]
)


def _runs(gaps):
    at = 1
    for gap, count in gaps:
        at += gap
        yield at, count
        at += count


def ordinal_tuples(count: int) -> bytes:
    rows = mapped_rows(request_with([{"body": f"r{i}", "attributes": {"i": i}} for i in range(count)]).SerializeToString())
    return copy_rows.encode_copy_rows(rows, range(count))


@settings(max_examples=300, deadline=None)
@given(RANGES)
def test_ids_replace_ordinals_run_by_run(ranges):
    total = sum(count for _, count in ranges)
    tuples = ordinal_tuples(total)
    expected = [first + k for first, count in ranges for k in range(count)]
    assert copy_rows.ids_of(range(total), ranges) == expected
    reference = copy_rows.assign_ids_reference(tuples, ranges)
    assert list(copy_rows.tuples_by_id(reference)) == expected
    if _fastpath is not None:
        assert _fastpath.assign_ids(tuples, ranges) == reference
    # Only the id changes.
    for before, after in zip(copy_rows.tuples_by_id(tuples).values(), copy_rows.tuples_by_id(reference).values()):
        assert before[:6] == after[:6] and before[14:] == after[14:]


def test_large_rows_are_shortened_for_the_live_tail_as_for_list_views():
    rows = [ActivityRow(RECEIVED, "info", "worker", "m" * 20_000, fields={f"k{i}": "v" * 2_000 for i in range(80)},
                        resource={"service.name": "w", "big": "r" * 5_000})]
    assert_read_back(rows)
    [shown] = copy_rows.live_rows(copy_rows.encode_copy_rows(rows, [1]))
    assert json.loads(shown.json())["truncated"] is True


def implementation(which: str, reference, native_name: str):  # noqa: ANN201 - the function under test
    if which == "reference":
        return reference
    if _fastpath is None:
        pytest.skip("the native fast path is not built")
    return getattr(_fastpath, native_name)


@pytest.mark.parametrize("which", ["reference", "native"])
def test_decoding_refuses_what_is_not_tuples(which):
    function = implementation(which, copy_rows.decode_tuples_reference, "decode_tuples")
    tuples = ordinal_tuples(2)
    assert len(function(tuples)) == 2
    for broken in (tuples[:-1], tuples + b"\x00", tuples[:40], b"\x00\x05" + tuples[2:]):
        with pytest.raises((ValueError, struct.error)):
            function(broken)


@pytest.mark.parametrize("which", ["reference", "native"])
def test_malformed_tuples_and_missing_ids_are_refused(which):
    function = implementation(which, copy_rows.assign_ids_reference, "assign_ids")
    tuples = ordinal_tuples(3)
    with pytest.raises(ValueError):
        function(tuples, [(100, 2)])  # ordinal 2 has no id
    for broken in (tuples[:-1], tuples + b"\x00", b"\x00\x17" + struct.pack("!i", 4) + b"abcd", tuples[:20]):
        with pytest.raises((ValueError, struct.error)):
            function(broken, [(100, 10)])
    assert copy_rows.tuples_by_id(function(tuples, [(100, 1), (500, 2)])).keys() == {100, 500, 501}
