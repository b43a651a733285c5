"""What ingest may hold in memory at once, in bytes (docs/security.md, "What a request may cost").

Every OTLP request reserves an estimate of the memory it will occupy before it is read or decoded,
and keeps it until its records are committed (or refused). A request that does not fit is refused
at once with a retryable answer (``Overloaded``: gRPC UNAVAILABLE with RetryInfo, HTTP 503 with
Retry-After), so that however many requests arrive, and whatever they hold within the per-request
limits, what they occupy together stays within ``capacity``. The writer's queue is part of it: a
database that is slow or away fills the budget and further requests are asked to retry.

The estimates are upper bounds measured on this code (tests/system/test_ingest_memory.py checks the
whole): a protobuf request's mapped rows occupied at most about 17 times its size (arrays of empty
arrays, the worst shape found) and 4.4 times for records of a usual shape, plus up to 400 bytes per
record; ``PROTOBUF_FACTOR`` and ``RECORD_BYTES`` leave room above that. OTLP/JSON first becomes
Python objects, up to about 30 times its size. On the native fast path a request holds its
bytes, its COPY tuples and the key catalogue's keys read from them (``KEY_MEMORY_BYTES`` each),
whose sizes are known once encoded; the encoder stops as soon as the tuples take more than was
reserved for them (by at most one record's tuple), and ingest reserves more before encoding again
(collector/ingest.py).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from types import TracebackType

from collector.backoff import RetryAdvice
from collector.errors import Overloaded, PayloadTooLarge

log = logging.getLogger(__name__)

PROTOBUF_FACTOR = 24
RECORD_BYTES = 1024
JSON_FACTOR = 40
NATIVE_FACTOR = 3
# After a burst, once nothing is reserved any more, memory the allocator kept is handed back to the
# system (glibc keeps freed memory for reuse; without this the process stays at its peak).
TRIM_AFTER_BYTES = 64 * 1024 * 1024


def protobuf_cost(payload_bytes: int, records: int) -> int:
    return payload_bytes * PROTOBUF_FACTOR + records * RECORD_BYTES


def native_cost(payload_bytes: int) -> int:
    """What a request on the native fast path is expected to hold until its commit: its bytes and
    its COPY tuples (usual records: 1.2 to 2 times their protobuf). Once encoded, the reservation
    is set to the exact size of both (``IngestService``)."""
    return payload_bytes * NATIVE_FACTOR


def json_cost(payload_bytes: int) -> int:
    return payload_bytes * JSON_FACTOR


def _malloc_trim() -> None:
    """Return freed heap memory to the system where the C library can (glibc)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _load_libc():  # noqa: ANN202 - a ctypes library or None
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):  # not glibc: nothing to trim
        return None


_LIBC = _load_libc()


class IngestBudget:
    """A byte budget shared by every OTLP request in flight."""

    def __init__(self, capacity: int, *, retry_after: float = 1.0):
        self.capacity = capacity
        self.advice = RetryAdvice(retry_after)  # the delay advertised grows while it stays full
        self.reserved = 0
        self.refused = 0  # requests refused for want of room
        self._since_trim = 0

    def reserve(self, cost: int) -> "Reservation":
        reservation = Reservation(self)
        reservation.resize(cost)
        return reservation

    def _take(self, delta: int) -> None:
        if delta > 0:
            if self.reserved + delta > self.capacity:
                self.refused += 1
                raise Overloaded(
                    f"ingest is at its memory limit ({self.reserved // 2**20} of {self.capacity // 2**20} MiB "
                    "in flight); retry later", self.advice.delay(),
                )  # fmt: skip
            self.advice.clear()
            self._since_trim += delta
        self.reserved += delta
        if self.reserved == 0 and self._since_trim >= TRIM_AFTER_BYTES:
            self._since_trim = 0
            _malloc_trim()


class Reservation:
    """Bytes held for one request; ``resize`` grows or shrinks it, ``release`` (or leaving the
    ``with`` block) gives everything back. Growing never waits: it fits or raises."""

    def __init__(self, budget: IngestBudget):
        self._budget = budget
        self.bytes = 0

    def resize(self, cost: int) -> None:
        cost = max(0, cost)
        if cost > self._budget.capacity:
            raise PayloadTooLarge(
                f"this request would need {cost // 2**20} MiB of ingest memory, more than the "
                f"{self._budget.capacity // 2**20} MiB configured (ACTIVITY_INGEST_MEMORY_BYTES); send smaller requests"
            )
        self._budget._take(cost - self.bytes)
        self.bytes = cost

    def release(self) -> None:
        if self.bytes:
            self._budget._take(-self.bytes)
            self.bytes = 0

    def __enter__(self) -> "Reservation":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()
