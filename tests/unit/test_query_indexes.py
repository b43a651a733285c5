"""Today's partial query indexes by name (collector/db/query_indexes.py) and the stretches a
newest-first page is read in (collector/db/repository.py): pure functions, no database."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from collector.db.query_indexes import (QUERY_INDEXES, day_table, indexed_before, partial_index_bound,
                                        partial_index_name, timestamp_literal)
from collector.db.repository import LogFilter, _expected, _Stretch, _stretches
from collector.model import LEVELS

DAY = date(2026, 11, 29)
T = datetime(2026, 11, 29, 14, 5, tzinfo=timezone.utc)


def full_set(bound: datetime, *, valid: bool = True) -> list[dict]:
    return [{"index_name": partial_index_name(day_table(level, DAY), suffix, bound), "valid": valid}
            for level in LEVELS for suffix, _ in QUERY_INDEXES]  # fmt: skip


def test_a_partial_index_name_gives_back_its_table_kind_and_bound():
    name = partial_index_name("activity_logs_info_20261129", "fields_idx", T)
    assert name == "activity_logs_info_20261129_fields_to1405"
    assert len(name) <= 63  # PostgreSQL's limit on names
    assert partial_index_bound(name) == ("activity_logs_info_20261129", "fields_idx", T)
    for other in ("activity_logs_info_20261129_fields_idx", "activity_logs_info_20261129", "x_fields_to1405"):
        assert partial_index_bound(other) is None


def test_today_is_covered_up_to_the_earliest_of_the_newest_complete_bounds():
    assert indexed_before([], DAY) is None
    assert indexed_before(full_set(T), DAY) == T
    later = T + timedelta(hours=1)
    assert indexed_before(full_set(T) + full_set(later), DAY) == later
    # One index of the later set still building (invalid): that table and kind fall back to the
    # earlier set, and the bound with them.
    building = full_set(later)
    building[5]["valid"] = False
    assert indexed_before(full_set(T) + building, DAY) == T
    # One kind missing on one table: nothing is covered.
    assert indexed_before(full_set(T)[1:], DAY) is None
    # Another day's indexes and other indexes count for nothing.
    yesterday = [{"index_name": r["index_name"].replace("20261129", "20261128"), "valid": True} for r in full_set(T)]
    assert indexed_before(yesterday + [{"index_name": "activity_logs_pkey", "valid": True}], DAY) is None


def test_a_timestamp_constant_is_utc_and_needs_a_zone():
    assert timestamp_literal(T) == "'2026-11-29T14:05:00+00:00'::timestamptz"
    assert timestamp_literal(T.astimezone(timezone(timedelta(hours=2)))) == timestamp_literal(T)
    with pytest.raises(ValueError):
        timestamp_literal(T.replace(tzinfo=None))


def test_stretches_cover_the_range_newest_first_without_gaps_and_mark_the_indexed_one():
    cuts = [T - timedelta(days=1), T - timedelta(days=3), T - timedelta(minutes=30)]
    indexed = T - timedelta(minutes=30)
    stretches = _stretches(LogFilter(), cuts, indexed)
    assert stretches == [
        _Stretch(indexed, None),
        _Stretch(T - timedelta(days=1), indexed, indexed),
        _Stretch(T - timedelta(days=3), T - timedelta(days=1), indexed),
        _Stretch(None, T - timedelta(days=3), indexed),
    ]
    # Cuts outside the filter's range are left out; its bounds are the outer edges.
    since, until = T - timedelta(days=2), T - timedelta(minutes=10)
    stretches = _stretches(LogFilter(since=since, until=until), cuts + [since, T], indexed)
    assert stretches == [_Stretch(indexed, until), _Stretch(T - timedelta(days=1), indexed, indexed),
                         _Stretch(since, T - timedelta(days=1), indexed)]  # fmt: skip
    # No cuts: the whole range in one.
    assert _stretches(LogFilter(since=since), [], None) == [_Stretch(since, None)]


def test_a_stretch_is_expected_to_hold_matches_as_the_stretches_before_it_did():
    hour = timedelta(hours=1)
    day = _Stretch(T - 24 * hour, T - hour)
    assert _expected(10, hour, day, T) == 230  # 10 an hour over 23 hours
    assert _expected(0, hour, day, T) == 0
    assert _expected(2, 24 * hour, day, T) == pytest.approx(2 * 23 / 24)
    assert _expected(80, 24 * hour, _Stretch(None, T - 24 * hour), T) == 80  # the rest: as long as read so far
    assert _expected(5, timedelta(0), day, T) == 0  # nothing read yet: no evidence
