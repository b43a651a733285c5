"""Keys crafted to collide in the fast path's hash tables (the duplicate-key check of every
record, resource and key-value list; the key catalogue's set) cannot make a lookup walk every
earlier key: the hashes are seeded per process, and a walk longer than ``MAX_KEY_PROBES`` hands
the record back to Python (whose dicts stay linear) or, in the catalogue, leaves the key out.
Here the seed is set to one the test knows, so that it can craft such keys."""

from __future__ import annotations

import subprocess
import sys

import pytest

from collector import copy_rows, key_catalogue
from collector.model import ActivityRow
from tests.support.native import FASTPATH as _fastpath, needs_fastpath
from tests.support.otlp import request_with

pytestmark = needs_fastpath

M64 = (1 << 64) - 1
MAX_KEY_PROBES = 32  # _fastpath.c
KNOWN_SEED = 0


def mix64(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & M64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & M64
    return h ^ (h >> 33)


def key_hash(key: bytes, seed: int) -> int:
    """_fastpath.c key_hash for keys without NUL."""
    h = 1469598103934665603
    for byte in key:
        h = ((h ^ byte) * 1099511628211) & M64
    return mix64(h ^ seed)


def catalogue_hash(key: bytes, seed: int, bucket: int, where: int, type_index: int) -> int:
    """_fastpath.c catalogue_key_hash, mixed with the bucket, place and type as keyset_add does."""
    h = 0x9E3779B97F4A7C15 ^ len(key)
    i = 0
    while i + 8 <= len(key):
        h = ((h ^ int.from_bytes(key[i:i + 8], "little")) * 0xBF58476D1CE4E5B9) & M64
        h ^= h >> 31
        i += 8
    tail = 0
    if i < len(key):
        tail = int.from_bytes(key[-8:], "little") if len(key) >= 8 else int.from_bytes(key, "little")
    h = ((h ^ tail) * 0x94D049BB133111EB) & M64
    h = mix64(h ^ (h >> 29) ^ seed)
    return h ^ ((bucket * 0x9E3779B97F4A7C15) & M64) ^ (where * 8 + type_index)


def colliding(count: int, mask: int, hash_of) -> list[str]:
    """`count` keys whose hashes agree in the bits of `mask`."""
    keys, target, n = [], None, 0
    while len(keys) < count:
        key = f"k{n}"
        n += 1
        slot = hash_of(key.encode()) & mask
        target = slot if target is None else target
        if slot == target:
            keys.append(key)
    return keys


@pytest.fixture
def known_seed():
    seed = _fastpath.hash_seed()
    _fastpath.hash_seed(KNOWN_SEED)
    yield KNOWN_SEED
    _fastpath.hash_seed(seed)


def encode(data: bytes):  # noqa: ANN201
    return _fastpath.encode_request(data, 0, 0, 10_000, 1 << 20)


def record_with(keys: list[str]) -> bytes:
    return request_with([{"body": "b", "attributes": {key: 1 for key in keys}}]).SerializeToString()


def test_a_record_of_keys_that_collide_is_handed_back(known_seed):
    # 40 attributes: a table of 128 slots (keys_capacity), every key in the same one.
    keys = colliding(40, 127, lambda key: key_hash(key, known_seed))
    _, count, handed_back, _ = encode(record_with(keys))
    assert (count, handed_back) == (0, [0]), "the walk past MAX_KEY_PROBES should hand the record back"
    # Python maps it (ingest then takes the whole request that way).
    assert copy_rows.encode_request_reference(record_with(keys), 0, 0, 10_000, 1 << 20)[1] == 1
    # Fewer than the bound in one place: encoded.
    assert encode(record_with(keys[:MAX_KEY_PROBES]))[1:3] == (1, [])


def test_keys_that_collide_under_another_seed_do_not_under_the_process_seed(known_seed):
    keys = colliding(40, 127, lambda key: key_hash(key, known_seed))
    _fastpath.hash_seed(KNOWN_SEED + 1)
    assert encode(record_with(keys))[1:3] == (1, [])


def test_the_catalogue_leaves_out_keys_past_the_bound(known_seed):
    # 100 keys of one row in one slot of the catalogue's 512 (max_keys 256), bucket 0, fields, int.
    keys = colliding(100, 511, lambda key: catalogue_hash(key, known_seed, 0, 0, 0))
    row = ActivityRow(copy_rows._UNIX_EPOCH, "info", "api", "m", resource={}, fields={key: 1 for key in keys})
    tuples = copy_rows.encode_copy_rows([row], range(1, 2))
    read = [key for _, _, key, _ in _fastpath.tuple_keys(tuples, 256)]
    assert read == keys[:MAX_KEY_PROBES + 1]
    _fastpath.hash_seed(KNOWN_SEED + 1)
    assert _fastpath.tuple_keys(tuples, 256) == key_catalogue.tuple_keys_reference(tuples, 256)


def test_each_process_draws_its_own_seed():
    code = "from collector import _fastpath; print(_fastpath.hash_seed())"
    seeds = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout for _ in range(2)}
    assert len(seeds) == 2
