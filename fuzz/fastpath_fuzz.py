"""Fuzzing the native fast path, built with AddressSanitizer and UBSan (``make fuzz``).

Every input goes through the sanitized extension and, differentially, through the Python
reference: a tuple the C code encodes must be the reference's, byte for byte. Half of the inputs
are random bytes as they come; the other half are valid requests whose record bytes are the
fuzzer's, so that the record decoder (the part that sees untrusted nesting) is reached often.

    LD_PRELOAD=$(gcc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0 \
        .venv/bin/python fuzz/fastpath_fuzz.py build/fuzz/_fastpath.so -max_total_time=60
"""

from __future__ import annotations

import importlib.util
import struct
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

with atheris.instrument_imports():
    from collector import copy_rows, key_catalogue
    from collector.errors import DecodeError, PayloadTooLarge

RECEIVED_NS = 1_795_694_400_000_000_000
FIRST_ID = 1000


def load_sanitized(path: str):  # noqa: ANN201 - the extension module
    spec = importlib.util.spec_from_file_location("collector._fastpath", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def request_around(records: list[bytes]) -> bytes:
    resource = field(1, field(1, field(1, b"service.name") + field(2, field(1, b"render-worker"))))
    scope = field(1, field(1, b"fuzz.scope"))
    return field(1, resource + field(2, scope + b"".join(field(2, record) for record in records)))


def check(fastpath, data: bytes) -> None:
    try:
        # Half the inputs without the GIL (as the server encodes large requests in a thread).
        native = fastpath.encode_request(data, RECEIVED_NS, FIRST_ID, 1000, 1 << 16, len(data) % 2 == 1)
    except fastpath.Declined:
        return
    try:
        reference = copy_rows.encode_request_reference(data, RECEIVED_NS, FIRST_ID, 1000, 1 << 16)
    except (DecodeError, PayloadTooLarge):
        assert native[2], "the fast path encoded whole a request Python refuses"
        return
    expected = copy_rows.tuples_by_id(reference[0])
    for row_id, encoded in copy_rows.tuples_by_id(native[0]).items():
        assert encoded == expected[row_id], f"record {row_id - FIRST_ID} differs"
    assert native[1] + len(native[2]) == reference[1]
    # The writer's id assignment on these tuples (their ids taken as ordinals), in split runs.
    ranges = [(7, 2), (1 << 40, 1 << 20)]
    assert fastpath.assign_ids(native[0], ranges) == copy_rows.assign_ids_reference(native[0], ranges)
    # And read back for the live tail, entry JSON included.
    limit = len(data) % 4096
    assert fastpath.decode_tuples(native[0], limit) == copy_rows.decode_tuples_reference(native[0], limit)
    # And the key catalogue's walk of them.
    assert fastpath.tuple_keys(native[0], 64) == key_catalogue.tuple_keys_reference(native[0], 64)
    # Bounded by what is reserved for them: the same tuples, or stopped past the bound.
    bound = len(native[0]) - len(data) % 3
    try:
        assert fastpath.encode_request(data, RECEIVED_NS, FIRST_ID, 1000, 1 << 16, False, bound) == native
    except fastpath.OverBudget as stopped:
        produced, done, total = stopped.args
        assert bound < produced <= len(native[0]) and done <= total


def check_assign_ids(fastpath, data: bytes) -> None:
    """assign_ids and decode_tuples on bytes that are not (quite) COPY tuples: refused, never read
    out of bounds."""
    for attempt in (lambda: fastpath.assign_ids(data, [(1, 1 << 20)]), lambda: fastpath.decode_tuples(data, 100),
                    lambda: fastpath.tuple_keys(data, 64)):
        try:
            attempt()
        except ValueError:  # UnicodeDecodeError included
            pass


# A tuple whose fields and resource JSON are {}, to put the fuzzer's bytes in place of them.
_EMPTY_JSONB = b"\x00\x00\x00\x03\x01{}"


def check_tuple_keys(fastpath, data: bytes) -> None:
    """The key catalogue's JSON walk on fields and resource text that is not our encoders':
    some keys or nothing, never a read outside the bytes."""
    from datetime import datetime, timezone

    from collector.model import ActivityRow

    row = ActivityRow(datetime(2026, 11, 28, tzinfo=timezone.utc), "info", "api", "m", project_id=1)
    tuples = copy_rows.encode_copy_rows([row], [1])
    jsonb = struct.pack("!i", len(data) + 1) + b"\x01" + data
    assert isinstance(fastpath.tuple_keys(tuples.replace(_EMPTY_JSONB, jsonb), 64), list)


def main() -> None:
    fastpath = load_sanitized(sys.argv[1])

    def one_input(data: bytes) -> None:
        if data[:1] == b"\x00":
            check(fastpath, data[1:])
        elif data[:1] == b"\x01":
            check_assign_ids(fastpath, b"\x00\x17\x00\x00\x00\x08" + data[1:])
        elif data[:1] == b"\x02":
            check_tuple_keys(fastpath, data[1:])
        else:
            check(fastpath, request_around([part for part in data[1:].split(b"\xfe\xfe")[:8]]))

    atheris.Setup([sys.argv[0], *sys.argv[2:]], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
