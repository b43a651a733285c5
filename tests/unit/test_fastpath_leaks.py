"""The native fast path gives back everything it allocates, on every way out: each entry point,
run a few thousand times over requests it encodes, hands back in part or declines, and over bytes
it refuses, leaves the traced memory where it was. tracemalloc traces every allocator the C code
uses (``PyMem_Raw*`` without the GIL, ``PyMem_*`` with it) and the Python objects it returns, so
a buffer not freed, or a reference not dropped, shows as memory that stays. (The fuzz run cannot
say this: LeakSanitizer is off there, since CPython itself keeps memory until exit.)"""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from collector import copy_rows
from tests.support.native import FASTPATH as _fastpath, needs_fastpath
from tests.support.otlp import SPAN, TRACE, kv, request_with

pytestmark = needs_fastpath

RECEIVED_NS = 1_764_158_400_000_000_000
CALLS = 2000
# A leak of even eight bytes a call would leave twice this.
ALLOWED_GROWTH = 8 * 1024


def _records(count: int) -> list[dict]:
    return [{
        "time_unix_nano": RECEIVED_NS - i, "severity_number": 9, "body": f"job {i} done", "trace_id": TRACE, "span_id": SPAN,
        "attributes": {"activity.job.id": str(1000 + i), "activity.project.id": 3, "gpu": i % 8, "ratio": i / 7,
                       "nested": {"a": [1, "two", {"b": None}]}, "nul": "a\x00b"},
    } for i in range(count)]  # fmt: skip


def _with_duplicate_key() -> bytes:
    """A request of which one record is handed back to Python (a key given twice)."""
    request = request_with(_records(3))
    record = request.resource_logs[0].scope_logs[0].log_records[1]
    record.attributes.append(kv("gpu", 9))
    return request.SerializeToString()


ENCODED = request_with(_records(16), resource={"service.name": "render-worker", "host.name": "h"}).SerializeToString()
HANDED_BACK = _with_duplicate_key()
MALFORMED = ENCODED[:-7] + b"\xff\xff\xff"


def growth(call) -> int:
    """Traced bytes still held after CALLS more calls than a warmed-up start."""
    for _ in range(50):
        call()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(CALLS):
            call()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def encode(data: bytes, release_gil: bool = False, max_output: int = -1):  # noqa: ANN201 - the result or the exception
    try:
        return _fastpath.encode_request(data, RECEIVED_NS, 0, 10_000, 1 << 20, release_gil, max_output)
    except (_fastpath.Declined, _fastpath.OverBudget, ValueError) as exc:
        return exc


def test_the_corpus_takes_every_way_out():
    """The inputs below reach what they are meant to: encoded whole, a record handed back, and
    refused (a test of leaks on paths that are never taken would prove nothing)."""
    assert encode(ENCODED)[2] == [] and encode(ENCODED)[1] == 16
    assert encode(HANDED_BACK)[2] == [1]
    assert isinstance(encode(MALFORMED), Exception)
    with pytest.raises(ValueError):
        _fastpath.tuple_keys(b"\x00\x17" + b"\x7f" * 10, 16)
    with pytest.raises(ValueError):
        _fastpath.decode_tuples(b"\x00\x17\x00", 100)


@pytest.mark.parametrize("data", [ENCODED, HANDED_BACK, MALFORMED], ids=["encoded", "handed-back", "malformed"])
@pytest.mark.parametrize("release_gil", [False, True], ids=["with-gil", "without-gil"])
def test_encode_request_keeps_nothing(data, release_gil):
    assert growth(lambda: encode(data, release_gil)) < ALLOWED_GROWTH


def test_an_encoding_stopped_over_its_bound_keeps_nothing():
    assert isinstance(encode(ENCODED, max_output=100), _fastpath.OverBudget)
    assert growth(lambda: encode(ENCODED, max_output=100)) < ALLOWED_GROWTH


def test_reading_tuples_back_keeps_nothing():
    tuples = encode(ENCODED)[0]
    ranges = [(5000, 10), (9000, 6)]

    def read_back() -> None:
        copy_rows.live_rows(_fastpath.assign_ids(tuples, ranges), True)
        _fastpath.decode_tuples(tuples, 100)
        _fastpath.tuple_keys(tuples, 256)
        _fastpath.tuple_keys(tuples, 2)
        for broken in (tuples[:-3], b"\x00\x17" + b"\x7f" * 10):
            for reader in (lambda b: _fastpath.decode_tuples(b, 100), lambda b: _fastpath.tuple_keys(b, 16),
                           lambda b: _fastpath.assign_ids(b, ranges)):  # fmt: skip
                try:
                    reader(broken)
                except ValueError:
                    pass

    assert growth(read_back) < ALLOWED_GROWTH
