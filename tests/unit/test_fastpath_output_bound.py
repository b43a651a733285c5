"""The fast path's tuples never take much more than the caller allows (``max_output_bytes``):
a resource is repeated into every record's tuple, and escapes write up to six bytes for each of
its bytes, so the tuples of a small request can take hundreds of times its size. The encoder
stops as soon as they pass the bound, saying how far it got (ingest then reserves more, or
refuses the request)."""

from __future__ import annotations

import pytest

from tests.support.native import FASTPATH as _fastpath, needs_fastpath
from tests.support.otlp import request_with

pytestmark = needs_fastpath


def escaped(records: int, resource_bytes: int) -> bytes:
    return request_with([{"body": f"tiny {i}"} for i in range(records)],
                        resource={"service.name": "amp", "k": "\x01" * resource_bytes}).SerializeToString()  # fmt: skip


def encode(data: bytes, max_output: int = -1, release_gil: bool = False):  # noqa: ANN201
    return _fastpath.encode_request(data, 0, 0, 10_000, 1 << 20, release_gil, max_output)


@pytest.mark.parametrize("release_gil", [False, True])
def test_the_encoder_stops_past_the_bound_and_says_how_far_it_got(release_gil):
    data = escaped(50, 30_000)
    whole = encode(data)
    per_record = len(whole[0]) // 50
    assert len(whole[0]) > 200 * len(data)
    with pytest.raises(_fastpath.OverBudget) as stopped:
        encode(data, 3 * len(data), release_gil)
    produced, done, total = stopped.value.args
    assert total == 50 and 1 <= done < 50
    assert 3 * len(data) < produced <= 3 * len(data) + per_record
    assert produced == done * per_record


def test_within_the_bound_the_tuples_are_the_unbounded_ones():
    data = escaped(50, 30_000)
    whole = encode(data)
    assert encode(data, len(whole[0])) == whole
    with pytest.raises(_fastpath.OverBudget):
        encode(data, len(whole[0]) - 1)


def test_arguments_a_caller_could_get_wrong_are_refused():
    """Not from clients, but refused all the same rather than overflowing or reading a buffer
    another thread may change: a mutable request without the GIL, a record cap whose block
    budget would overflow, ids past int64."""
    with pytest.raises(TypeError):
        _fastpath.encode_request(bytearray(escaped(1, 10)), 0, 0, 10, 1 << 20, True)
    assert _fastpath.encode_request(bytearray(escaped(1, 10)), 0, 0, 10, 1 << 20, False)[1] == 1
    with pytest.raises(ValueError):
        _fastpath.encode_request(b"", 0, 0, 1 << 62, 1 << 20)
    with pytest.raises(ValueError):
        _fastpath.assign_ids(b"", [(2**63 - 2, 5)])
    assert _fastpath.assign_ids(b"", [(2**63 - 5, 5)]) == b""
