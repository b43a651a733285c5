"""The key catalogue's reading of committed tuples (collector/key_catalogue.py): which keys, with
which types and visibility buckets, and its bounds. The C walk is checked against this reference
on the fast path's whole corpus in test_fastpath_equivalence.py; here both run on rows made by hand."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector import copy_rows, key_catalogue
from collector.key_catalogue import ADMINS_ONLY, EVERYONE, KeyCatalogue, tuple_keys_python, tuple_keys_reference
from collector.model import ActivityRow
from tests.support.native import FASTPATH as _fastpath, needs_fastpath

AT = datetime(2026, 11, 28, 12, tzinfo=timezone.utc)


def encoded(*rows: ActivityRow) -> bytes:
    return copy_rows.encode_copy_rows(list(rows), range(1, len(rows) + 1))


def both(tuples: bytes, max_keys: int = 256) -> list:
    reference = tuple_keys_reference(tuples, max_keys)
    assert tuple_keys_python(tuples, max_keys) == reference
    if _fastpath is not None:
        assert _fastpath.tuple_keys(tuples, max_keys) == reference
    return reference


def test_keys_types_and_where():
    row = ActivityRow(AT, "info", "worker", "m", project_id=7, resource={"service.name": "w", "host.name": "h1"},
                      fields={"gpu": 1, "ratio": 0.5, "ok": True, "none": None, "name": "x", "nested": {"a": [1, {"b": 2}]},
                              "list": ["]", "}", "\""], "http.status_code": 503, "é": "ü", "big": 2**70, "tiny": 1e-05})  # fmt: skip
    assert both(encoded(row)) == [
        (7, 0, "gpu", "int"), (7, 0, "ratio", "float"), (7, 0, "ok", "bool"), (7, 0, "none", "null"),
        (7, 0, "name", "string"), (7, 0, "nested", "map"), (7, 0, "list", "array"), (7, 0, "http.status_code", "int"),
        (7, 0, "é", "string"), (7, 0, "big", "int"), (7, 0, "tiny", "float"),
        (7, 1, "service.name", "string"), (7, 1, "host.name", "string"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("row", "bucket"),
    [
        (ActivityRow(AT, "info", "api", "m", fields={"k": 1}), EVERYONE),
        (ActivityRow(AT, "info", "api", "m", fields={"k": 1}, project_id=3), 3),
        (ActivityRow(AT, "info", "api", "m", fields={"k": 1}, project_id=3, admin_only=True), ADMINS_ONLY),
        # A creator's scope decides rows of a user or a job without a project per row: admins only.
        (ActivityRow(AT, "info", "api", "m", fields={"k": 1}, user_id=5), ADMINS_ONLY),
        (ActivityRow(AT, "info", "api", "m", fields={"k": 1}, job_id=9), ADMINS_ONLY),
        (ActivityRow(AT, "info", "api", "m", fields={"k": 1}, admin_only=True), ADMINS_ONLY),
    ],
)
def test_buckets(row, bucket):
    assert both(encoded(row)) == [(bucket, 0, "k", "int")]


def test_distinct_in_first_order_and_capped():
    rows = [ActivityRow(AT, "info", "api", "m", fields={f"k{i % 5}": i, "s": "x"}) for i in range(20)]
    rows.append(ActivityRow(AT, "info", "api", "m", fields={"k0": "now a string"}))
    keys = both(encoded(*rows))
    assert keys == [(0, 0, "k0", "int"), (0, 0, "s", "string"), (0, 0, "k1", "int"), (0, 0, "k2", "int"),
                    (0, 0, "k3", "int"), (0, 0, "k4", "int"), (0, 0, "k0", "string")]  # fmt: skip
    assert both(encoded(*rows), 3) == keys[:3]
    assert both(encoded(*rows), 0) == []


def test_keys_that_differ_in_any_byte_are_told_apart():
    """The C hash mixes keys eight bytes at a time, the last eight overlapping: keys of every
    length up to 40 that differ in one byte, first, middle or last, stay distinct entries."""
    keys = []
    for n in range(1, 41):
        base = "".join(chr(ord("a") + i % 26) for i in range(n))
        for at in {0, n // 2, n - 1}:
            keys.append(base[:at] + "Z" + base[at + 1:])
        keys.append(base)
    keys = list(dict.fromkeys(keys))
    rows = [ActivityRow(AT, "info", "api", "m", fields={key: 1 for key in keys[i:i + 20]}) for i in range(0, len(keys), 20)]
    assert both(encoded(*rows), 1000) == [(0, 0, key, "int") for key in keys]


def test_keys_left_out():
    long_key = "k" * 129
    row = ActivityRow(AT, "info", "api", "m", fields={"": 1, long_key: 1, "k" * 128: 1, 'q"uote': 1, "nl\n": 1, "ok": 1})
    assert both(encoded(row)) == [(0, 0, "k" * 128, "int"), (0, 0, "ok", "int")]


@needs_fastpath
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_are_refused_or_read_within_them(data):
    """Not tuples at all, or tuples whose JSON is not ours: a ValueError or some keys, never a
    read outside the bytes (the fuzz target runs this under AddressSanitizer)."""
    try:
        _fastpath.tuple_keys(data, 16)
    except ValueError:
        pass
    tuples = encoded(ActivityRow(AT, "info", "api", "m", fields={"a": 1}))
    fields_at = tuples.index(b'{"a":1}')
    for cut in range(len(data) + 1):
        broken = tuples[:fields_at] + data[:cut][:7].ljust(7, b"{") + tuples[fields_at + 7:]
        assert isinstance(_fastpath.tuple_keys(broken, 16), list)


def test_rows_of_alternating_resources():
    """The Python path's walk reads a resource once per run of rows repeating it: rows that
    alternate between resources, and carry different buckets, still give every key."""
    a, b = {"service.name": "a", "zone": "x"}, {"service.name": "b", "rack": 3}
    rows = [ActivityRow(AT, "info", "api", "m", resource=r, project_id=p, fields={"f": p})
            for r, p in ((a, 1), (b, 1), (a, 2), (a, 2), (b, None))]  # fmt: skip
    assert both(encoded(*rows)) == [
        (1, 0, "f", "int"), (1, 1, "service.name", "string"), (1, 1, "zone", "string"), (1, 1, "rack", "int"),
        (2, 0, "f", "int"), (2, 1, "service.name", "string"), (2, 1, "zone", "string"),
        (0, 0, "f", "null"), (0, 1, "service.name", "string"), (0, 1, "rack", "int"),
    ]  # fmt: skip


_VALUES = st.one_of(
    st.none(), st.booleans(), st.text(max_size=5),
    st.integers(min_value=-(2**80), max_value=2**80),  # beyond 64 bits: orjson would read a float
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)  # fmt: skip
_KEYS = st.one_of(st.text(max_size=6), st.sampled_from(["", "k" * 128, "k" * 129, 'q"', "a\\b", "\x01", "é"]))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.dictionaries(_KEYS, _VALUES, max_size=6), st.dictionaries(_KEYS, _VALUES, max_size=3),
                          st.sampled_from([None, 0, 4, -2]), st.booleans()), min_size=1, max_size=8),
       st.integers(min_value=0, max_value=12))  # fmt: skip
def test_the_python_walk_is_the_reference(rows, max_keys):
    """The Python path's walk (``tuple_keys_python``) gives the reference's keys, types, buckets
    and order for rows of any keys and values, whole and capped."""
    made = [ActivityRow(AT, "info", "api", "m", fields=f, resource=r, project_id=p, admin_only=admin)
            for f, r, p, admin in rows]  # fmt: skip
    tuples = encoded(*made)
    assert tuple_keys_python(tuples, max_keys) == tuple_keys_reference(tuples, max_keys)


def test_the_catalogue_is_bounded(monkeypatch):
    monkeypatch.setattr(key_catalogue, "MAX_PENDING", 10)
    catalogue = KeyCatalogue()
    rows = [ActivityRow(AT, "info", "api", "m", fields={f"random-{i}-{j}": 1 for j in range(10)}) for i in range(5)]
    catalogue.observe([encoded(row) for row in rows])
    assert catalogue.pending == 10
    assert catalogue.stats.dropped == 40 and catalogue.stats.observed_requests == 5
    # A key already pending is refreshed, not dropped.
    catalogue.observe([encoded(rows[0])])
    assert catalogue.stats.dropped == 40
