"""collector/copy_rows.py's COPY tuples (and the native fast path's) store exactly the rows that
asyncpg's own codecs store from the same rows (``copy_rows.asyncpg_records``)."""

from __future__ import annotations

from collector import copy_rows
from collector.mapping import map_request
from collector.otlp_codec import parse_protobuf
from collector.copy_rows import COPY_COLUMNS
from collector.writer import copy_tuples
from tests.support.otlp import request_with
from tests.unit.test_fastpath_equivalence import EDGE_RECORDS, MAX_RECORD_BYTES, MAX_RECORDS, RECEIVED_NS

COMPARED = ", ".join(column for column in COPY_COLUMNS if column != "id")


def varied_request() -> bytes:
    records = [dict(record) for record in EDGE_RECORDS]
    return request_with(records, resource={"service.name": "render-worker", "n\x00": [1.5, {"y": None}]}).SerializeToString()


async def stored(db, first: int, count: int) -> list[tuple]:
    rows = await db.fetch(f"SELECT {COMPARED} FROM activity_logs WHERE id >= $1 AND id < $2 ORDER BY id", first, first + count)
    return [tuple(row.values()) for row in rows]


async def test_reference_and_native_tuples_store_what_asyncpg_stores(db):
    data = varied_request()
    rows = map_request(parse_protobuf(data), copy_rows.received_at_of(RECEIVED_NS)).rows
    count = len(rows)
    assert count == len(EDGE_RECORDS)

    # asyncpg's codecs, ids 1..count.
    await db.copy_records_to_table(
        "activity_logs", records=copy_rows.asyncpg_records(rows, range(1, count + 1)), columns=COPY_COLUMNS
    )
    # The reference, from the same rows.
    await copy_tuples(db, [copy_rows.encode_copy_rows(rows, range(10_001, 10_001 + count))])
    # The request through encode_request (the native path when built), with handed-back
    # records mapped by the reference.
    tuples, encoded, handed_back, _ = copy_rows.encode_request(data, RECEIVED_NS, 20_001, MAX_RECORDS, MAX_RECORD_BYTES)
    reference, _, _, _ = copy_rows.encode_request_reference(data, RECEIVED_NS, 20_001, MAX_RECORDS, MAX_RECORD_BYTES)
    assert encoded + len(handed_back) == count
    await copy_tuples(db, [tuples])

    by_writer = await stored(db, 1, count)
    by_reference = await stored(db, 10_001, count)
    assert len(by_writer) == count
    for index, (expected, actual) in enumerate(zip(by_writer, by_reference)):
        for column, want, got in zip(COMPARED.split(", "), expected, actual):
            assert got == want, f"row {index}, column {column}: {got!r} != {want!r}"
    by_request = await stored(db, 20_001, count)
    expected_rows = [row for index, row in enumerate(by_writer) if index not in set(handed_back)]
    assert by_request == expected_rows
