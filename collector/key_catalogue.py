"""The key catalogue: which attribute keys the stored entries carry, with the JSON type of their
values and when each was last seen, per visibility bucket. The query bar completes names from
it without scanning ``activity_logs``.

The keys are read from COPY tuples' fields and resource JSON by ``tuple_keys`` (in C when the
fast path is built: a byte walk of the top-level keys, about a tenth of a microsecond per row;
else ``tuple_keys_python``, which gives ``tuple_keys_reference``'s answer at 40 % of its cost).
The fast path reads a request's keys as soon as it has encoded it, while the tuples are in the
CPU's cache, and the writer hands them over once the whole request has committed (``add``); it
hands over the tuples themselves for every other committed request (``observe``). The keys are
merged into a bounded in-memory set and written to ``log_keys`` every few seconds
(``run_forever``), one statement.

Bounds, so that a client sending random keys costs the server a fixed amount: at most
``MAX_KEYS_PER_REQUEST`` distinct keys are taken from one request, at most ``MAX_PENDING``
wait in memory between writes (the rest are counted in ``dropped``), and the table keeps at
most ``MAX_KEYS_PER_BUCKET`` keys per bucket (an insert beyond it is skipped in SQL). Keys not
seen for longer than the longest retention are deleted by the retention job.

Buckets say who may see a key: ``-1`` admins only (the row was admin-only, or had a user or job
but no project: a creator's scope decides those per row, which a catalogue cannot), a project id
(members of that project), ``0`` (a row of no project, user or job: every role)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Iterable

import asyncpg
import orjson

from collector.copy_rows import decode_tuples_reference, native_module, tuple_columns
from collector.db.queries import q

log = logging.getLogger(__name__)

MAX_KEY_BYTES = 128  # _fastpath.c MAX_CATALOGUE_KEY
MAX_KEYS_PER_REQUEST = 256
# What one key ``tuple_keys`` returns holds in memory at most: its tuple, its strings and its
# bucket (338 bytes measured for a key of MAX_KEY_BYTES). Ingest reserves it for keys it holds
# from a request's encoding until its commit (collector/ingest.py).
KEY_MEMORY_BYTES = 400
MAX_PENDING = 4096
MAX_KEYS_PER_BUCKET = 2000
WRITE_INTERVAL_S = 5.0
ADMINS_ONLY = -1
EVERYONE = 0
WHERE_NAMES = ("field", "resource")

# decode_tuples_reference's column positions (collector.copy_rows.COPY_COLUMNS).
_FIELDS, _USER_ID, _JOB_ID, _PROJECT_ID, _RESOURCE, _ADMIN_ONLY = 5, 9, 10, 11, 19, 22

CatalogueKey = tuple[int, int, str, str]  # (bucket, where: 0 field / 1 resource, key, type)


def _type_of(value: object) -> str:
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if value is None:
        return "null"
    return "map" if isinstance(value, dict) else "array"


def bucket_of(admin_only: bool, project_id: int | None, user_id: int | None, job_id: int | None) -> int:
    if admin_only:
        return ADMINS_ONLY
    if project_id is not None:
        return project_id if project_id > 0 else ADMINS_ONLY
    return EVERYONE if user_id is None and job_id is None else ADMINS_ONLY


def _catalogued(key: str) -> bool:
    """Whether the catalogue takes a key: not empty, at most ``MAX_KEY_BYTES`` as JSON, and
    written without JSON escapes."""
    written = orjson.dumps(key)
    return bool(key) and len(written) - 2 <= MAX_KEY_BYTES and b"\\" not in written


def tuple_keys_reference(tuples: bytes, max_keys: int) -> list[CatalogueKey]:
    """``_fastpath.tuple_keys`` in Python: the distinct (bucket, where, key, type) of the
    tuples' top-level fields and resource keys, in the order first met, at most ``max_keys``;
    keys that are empty, longer than ``MAX_KEY_BYTES`` or need JSON escapes are left out."""
    seen: dict[CatalogueKey, None] = {}
    for values in decode_tuples_reference(tuples):
        bucket = bucket_of(bool(values[_ADMIN_ONLY]), values[_PROJECT_ID], values[_USER_ID], values[_JOB_ID])
        for where, column in ((0, _FIELDS), (1, _RESOURCE)):
            # json, not orjson: orjson reads an integer beyond 64 bits as a float.
            for key, value in json.loads(values[column]).items():
                if not _catalogued(key):
                    continue
                if len(seen) < max_keys:
                    seen.setdefault((bucket, where, key, _type_of(value)))
    return list(seen)


# Beyond this, a float from orjson may be an integer too large for 64 bits, which orjson reads as a
# float and json (the reference) as an int: such an object is read again with json.
_LARGEST_EXACT_INT = float(2**63)
_KEY_COLUMNS = (_ADMIN_ONLY, _FIELDS, _RESOURCE, _PROJECT_ID, _USER_ID, _JOB_ID)


def _int8(value: bytes | None) -> int | None:
    return None if value is None else int.from_bytes(value, "big", signed=True)


def _top_level(text: bytes) -> list[tuple[str, str]]:
    """(key, JSON type) of a JSON object's top-level members, as ``json.loads`` reads them."""
    try:
        members = orjson.loads(text)
    except orjson.JSONDecodeError:  # JSON that json accepts and orjson does not (NaN, huge numbers)
        members = json.loads(text)
    else:
        if any(type(v) is float and abs(v) >= _LARGEST_EXACT_INT for v in members.values()):
            members = json.loads(text)
    return [(key, _type_of(value)) for key, value in members.items()]


def tuple_keys_python(tuples: bytes, max_keys: int) -> list[CatalogueKey]:
    """``tuple_keys_reference``'s answer at 40 % of its cost: the catalogue's reading on the
    Python path (no C compiler, or ``ACTIVITY_NATIVE=off``), where the reference cost about as
    much as mapping and encoding the rows. It reads only the six columns it needs, a resource's
    JSON once per run of rows that repeat it, and the JSON with orjson; each key is checked once,
    and the walk stops once ``max_keys`` are taken. ``ValueError`` (or ``struct.error``) when the
    bytes are not tuples."""
    seen: dict[CatalogueKey, None] = {}
    catalogued: dict[str, bool] = {}
    last_resource: bytes | None = None
    resource_keys: list[tuple[str, str]] = []
    if max_keys <= 0:
        return []
    for admin_only, fields, resource, project_id, user_id, job_id in tuple_columns(tuples, _KEY_COLUMNS):
        bucket = bucket_of(admin_only is not None and admin_only[:1] not in (b"", b"\x00"), _int8(project_id),
                           _int8(user_id), _int8(job_id))  # fmt: skip
        if resource != last_resource:
            last_resource, resource_keys = resource, _top_level(resource[1:]) if resource else []
        for where, members in ((0, _top_level(fields[1:]) if fields else []), (1, resource_keys)):
            for key, kind in members:
                taken = catalogued.get(key)
                if taken is None:
                    taken = catalogued[key] = _catalogued(key)
                if taken and len(seen) < max_keys:
                    seen.setdefault((bucket, where, key, kind))
        if len(seen) >= max_keys:  # nothing more can be taken: the rest is not read
            break
    return list(seen)


def tuple_keys(tuples: bytes, max_keys: int = MAX_KEYS_PER_REQUEST) -> list[CatalogueKey]:
    native = native_module()
    if native is not None:
        return native.tuple_keys(tuples, max_keys)
    return tuple_keys_python(tuples, max_keys)


@dataclass
class CatalogueStats:
    observed_requests: int = 0
    written: int = 0
    dropped: int = 0  # keys not kept because MAX_PENDING were waiting
    failed_writes: int = 0


class KeyCatalogue:
    """The keys seen since the last write, and the loop that writes them."""

    def __init__(self, write_interval_s: float = WRITE_INTERVAL_S) -> None:
        self.write_interval_s = write_interval_s
        self._pending: dict[CatalogueKey, float] = {}
        self._known: set[CatalogueKey] = set()  # written within the last KNOWN_TTL_S: not rewritten
        self._known_since = time.monotonic()
        self.stats = CatalogueStats()

    # A key already written is written again (to move its last_seen) at most this often.
    KNOWN_TTL_S = 3600.0

    def observe(self, parts: Iterable[bytes]) -> None:
        """The keys of committed COPY tuples (one part per request). Never raises: the records
        are committed, the catalogue is a convenience."""
        for part in parts:
            try:
                keys = tuple_keys(part)
            except Exception:  # noqa: BLE001 - a bug here must not touch what was committed
                log.exception("could not read attribute keys from committed tuples")
                return
            self.add([keys])

    def add(self, requests_keys: Iterable[list[CatalogueKey]]) -> None:
        """The keys of committed requests, one list per request, as ``tuple_keys`` read them
        (the fast path reads them when it encodes a request)."""
        now = time.time()
        for keys in requests_keys:
            self.stats.observed_requests += 1
            for key in keys:
                if key in self._known:
                    continue
                if key in self._pending or len(self._pending) < MAX_PENDING:
                    self._pending[key] = now
                else:
                    self.stats.dropped += 1

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def write(self, conn: asyncpg.Connection) -> int:
        """Writes the pending keys (one statement); returns how many were taken."""
        if time.monotonic() - self._known_since > self.KNOWN_TTL_S:
            self._known.clear()
            self._known_since = time.monotonic()
        if not self._pending:
            return 0
        pending, self._pending = self._pending, {}
        keys = list(pending)
        try:
            await conn.execute(
                q("upsert_log_keys"),
                [k[0] for k in keys], [WHERE_NAMES[k[1]] for k in keys], [k[2] for k in keys], [k[3] for k in keys],
                [pending[k] for k in keys], MAX_KEYS_PER_BUCKET,
            )  # fmt: skip
        except BaseException:
            for key, seen in pending.items():  # kept for the next try, within the bound
                if len(self._pending) < MAX_PENDING:
                    self._pending.setdefault(key, seen)
            raise
        self._known.update(keys)
        self.stats.written += len(keys)
        return len(keys)

    async def run_forever(self, pool: asyncpg.Pool) -> None:
        while True:
            await asyncio.sleep(self.write_interval_s)
            try:
                async with pool.acquire() as conn:
                    await self.write(conn)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                self.stats.failed_writes += 1
                log.warning("could not write the key catalogue (%s); trying again in %.0f s", exc,
                            self.write_interval_s)  # fmt: skip

    async def close(self, pool: asyncpg.Pool) -> None:
        """The last write, at shutdown (after the writer has committed what it held)."""
        try:
            async with pool.acquire() as conn:
                await self.write(conn)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("could not write the key catalogue at shutdown (%s)", exc)
