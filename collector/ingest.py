"""What both OTLP transports do with a request's bytes: bound what it may cost, map it record by
record, have it committed, answer (docs/security.md, "What a request may cost").

The transports authenticate, then read and decompress, reserving in the ``IngestBudget`` the bytes
as they receive them; then ``IngestService.export`` counts the records (``otlp_wire``),
refuses a request beyond the limits before decoding any of it, grows the reservation to the
request's estimated cost (or refuses it, retryably, when ingest is at its memory limit), decodes
and maps one record at a time, and waits for the commit. The reservation is held until then.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

from collector import admission, copy_rows, otlp_codec, otlp_wire
from collector.admission import IngestBudget, Reservation
from collector.copy_rows import RequestRecords
from collector.errors import PayloadTooLarge
from collector.key_catalogue import KEY_MEMORY_BYTES, MAX_KEYS_PER_REQUEST
from collector.mapping import MappedRequest, iter_split
from collector.otlp_codec import export_response
from collector.delivery import Delivery
from collector.writer import BatchWriter

log = logging.getLogger(__name__)

# The event loop gets a turn after this many records or bytes of records have been mapped.
# Mapping costs about 25 µs per usual record (65 ns per byte); unbroken, a large request would
# delay the batch writer's database round trips and every other request by as much.
MAP_CHUNK_RECORDS = 64
MAP_CHUNK_BYTES = 64 * 1024
# OTLP/JSON is decoded by protobuf's pure-Python JSON parser at a few µs per JSON object.
MAX_JSON_CONTAINERS = 200_000
# The native fast path encodes about 1 µs per record (bench/fastpath.py), without the GIL: a
# request larger than this is encoded in a worker thread, so that the event loop keeps its turns.
NATIVE_INLINE_BYTES = 256 * 1024
# Encodings of one request that ran out of reserved room (each with at least twice the room of
# the one before) before it is refused.
MAX_ENCODE_ATTEMPTS = 4


@dataclass(frozen=True)
class IngestLimits:
    """Per-request and per-record bounds (settings; defaults in api/settings.py)."""

    max_request_bytes: int
    max_records_per_request: int
    max_record_bytes: int
    body_timeout_s: float = 30.0  # a request's bytes must arrive within this (both transports)


def _ignore_refusal(kind: str, remote: str | None = None, sample: object = None) -> None:
    pass


class IngestService:
    """``report_refusal(kind, remote, sample)`` hears of every request refused for its token
    ("ingest_unauthenticated") or its content ("ingest_malformed"); the server aggregates them
    into reports for admins (api/security_events.py)."""

    def __init__(self, writer: Delivery | BatchWriter, budget: IngestBudget, limits: IngestLimits, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 report_refusal: Callable[[str, str | None, object], None] = _ignore_refusal,
                 native: bool = True):  # fmt: skip
        self._writer = writer
        self.budget = budget
        self.limits = limits
        self._clock = clock
        self.report_refusal = report_refusal
        self._json_turns = asyncio.Semaphore(1)
        # Records of committed requests by transport, stored and rejected (GET /metrics).
        self.records: dict[str, Counter[str]] = {"grpc": Counter(), "http": Counter()}
        # None: every request takes the Python path (switched off, or no build).
        self._native = copy_rows.native_module() if native else None
        self._native_turns = asyncio.Semaphore(1)

    async def export(self, payload: bytes, content_type: str, reservation: Reservation,
                     protocol: str = "http") -> ExportLogsServiceResponse:  # fmt: skip
        """Commit every acceptable record of a decompressed request. Raises ``PayloadTooLarge``
        (too many records), ``DecodeError``, ``Overloaded`` or ``StoreUnavailable`` (retryable:
        nothing was committed); rejects individual records through ``partial_success``."""
        if content_type == otlp_codec.JSON:
            payload = await self._json_to_protobuf(payload, reservation)
        received_at = self._clock()
        encoded = await self._encode_native(payload, received_at, reservation)
        if encoded is not None:
            records, oversized, repaired, future_clamped = encoded
        else:
            split = otlp_wire.split_request(payload, self.limits.max_records_per_request, self.limits.max_record_bytes)
            reservation.resize(admission.protobuf_cost(len(payload), split.records))
            mapped, oversized = await self._map(split, received_at)
            records, repaired, future_clamped = RequestRecords(mapped.rows), mapped.repaired, mapped.future_clamped
        result = await self._writer.submit(records, payload_bytes=len(payload))
        counts = self.records[protocol]
        counts["spooled" if result.spooled else "stored"] += result.accepted
        counts["rejected"] += result.rejected + oversized
        notes = []
        if oversized:
            notes.append(
                f"{oversized} log record(s) larger than {self.limits.max_record_bytes} bytes rejected "
                "(ACTIVITY_MAX_RECORD_BYTES)"
            )
        if result.rejected:
            notes.append(f"{result.rejected} log record(s) rejected by the database: " + "; ".join(result.errors))
        if repaired:
            # OTLP allows a message with rejected_log_records = 0 as a warning.
            notes.append(f"{repaired} log record(s) stored with NUL characters replaced by U+FFFD")
        if future_clamped:
            notes.append(
                f"{future_clamped} log record(s) timestamped more than 10 minutes ahead were stored at "
                "their receive time (their own time is in fields.activity.original_timestamp)"
            )
        return export_response(result.rejected + oversized, "; ".join(notes))

    async def _encode_native(
        self, payload: bytes, received_at: datetime, reservation: Reservation
    ) -> tuple[RequestRecords, int, int, int] | None:
        """The request's records as COPY tuples by the native fast path: ``(records, oversized,
        repaired, future_clamped)``, or None when it is to take the Python path (no fast path, or
        the request declined or any record handed back: the Python path then maps the whole
        request, and raises what the receivers answer for a malformed one). Its tuples take about
        what the request's bytes do, which the reservation grows by beforehand. Tuples that would
        take more than is reserved (a resource repeated into every record, escapes: hundreds of
        times a small request's size) stop the encoder at once; the reservation is grown to what
        the whole request will take, estimated from what was encoded, and the encoding runs again
        (the budget refuses a request that does not fit: 503, or 413 beyond its capacity)."""
        native = self._native
        if native is None:
            return None
        reservation.resize(admission.native_cost(len(payload)))
        received_ns = copy_rows.unix_nano_of(received_at)
        limits = self.limits
        max_output = reservation.bytes - len(payload)

        def encode(release_gil: bool) -> tuple[RequestRecords | None, tuple[int, int, int]]:
            tuples, count, handed_back, counts = native.encode_request(
                payload, received_ns, 0, limits.max_records_per_request, limits.max_record_bytes, release_gil,
                max_output)
            if handed_back:
                return None, counts
            # The catalogue's keys are read now, while the tuples are in the CPU's cache, rather
            # than at commit, after the COPY has streamed them through.
            try:
                keys = native.tuple_keys(tuples, MAX_KEYS_PER_REQUEST)
            except Exception:  # noqa: BLE001 - the catalogue is a convenience: read at commit instead
                log.exception("could not read attribute keys from encoded tuples")
                keys = None
            return RequestRecords([], tuples, count, keys), counts

        for _attempt in range(MAX_ENCODE_ATTEMPTS):
            try:
                if len(payload) <= NATIVE_INLINE_BYTES:
                    records, counts = encode(False)
                else:
                    async with self._native_turns:
                        records, counts = await asyncio.to_thread(encode, True)
                break
            except native.Declined:
                return None
            except native.OverBudget as exc:
                produced, done, total = exc.args
                max_output = max(2 * max_output, produced * max(total, 1) // max(done, 1) + 65536)
                reservation.resize(len(payload) + max_output)
        else:  # records of very unequal sizes: the estimates fell short every time
            raise PayloadTooLarge(f"this request's records would take more than {max_output // 2**20} MiB stored; "
                                  "send fewer records per request, or a smaller resource")
        if records is None:
            return None
        # Held until the commit: the request's bytes, its tuples and its catalogue keys (up to
        # MAX_KEYS_PER_REQUEST, which for a request of a few records with long keys take more
        # memory than the request itself).
        keys = len(records.catalogue_keys) if records.catalogue_keys is not None else 0
        reservation.resize(len(payload) + len(records.tuples) + keys * KEY_MEMORY_BYTES)
        oversized, repaired, future_clamped = counts
        return records, oversized, repaired, future_clamped

    async def _json_to_protobuf(self, payload: bytes, reservation: Reservation) -> bytes:
        """OTLP/JSON as protobuf bytes. protobuf's JSON parser is pure Python (a few µs per JSON
        object): the objects are bounded first, by counting braces and brackets (strings may hold
        some, so the count is an upper bound), and the parse runs in a worker thread, one at a
        time, so that the event loop keeps its turns."""
        containers = payload.count(b"{") + payload.count(b"[")
        if containers > MAX_JSON_CONTAINERS:
            raise PayloadTooLarge(
                f"an OTLP/JSON request may hold at most {MAX_JSON_CONTAINERS} JSON objects and arrays "
                f"(this one has up to {containers}); send fewer records per request, or use protobuf"
            )
        reservation.resize(len(payload) + admission.json_cost(len(payload)))
        max_records = self.limits.max_records_per_request
        async with self._json_turns:
            return await asyncio.to_thread(lambda: otlp_codec.parse_json(payload, max_records).SerializeToString())

    async def _map(self, split: otlp_wire.SplitRequest, received_at: datetime) -> tuple[MappedRequest, int]:
        """Decode and map record by record, giving the event loop a turn now and then; records
        over the per-record limit are counted, never decoded."""
        mapped = MappedRequest(rows=[])
        oversized = chunk_bytes = 0
        for record in iter_split(split, received_at, self.limits.max_record_bytes):
            if record is None:
                oversized += 1
                continue
            row, repairs, size = record
            mapped.add(row, repairs)
            chunk_bytes += size
            if len(mapped.rows) % MAP_CHUNK_RECORDS == 0 or chunk_bytes >= MAP_CHUNK_BYTES:
                chunk_bytes = 0
                await asyncio.sleep(0)
        return mapped, oversized
