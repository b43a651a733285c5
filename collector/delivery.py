"""Where an accepted request's records go: straight to the batch writer while PostgreSQL keeps
up, and into the spool (collector/spool.py) when it does not.

A request is spooled, and acknowledged once it is on disk, when the database is unreachable, when
the writer's queue is full, when its commit has not come within ``spool_after_s`` (a database
that hangs rather than refuses), or when its flush broke off with the outcome unknown. While the
spool holds anything, every new request is appended to it too, so that requests are committed in
the order they arrived; a replayer commits the spool's requests through the writer as soon as the
database answers, and the direct path resumes once the spool is empty.

Every request gets an id here (a version 7 UUID: accept time first), which the writer records in
the same transaction as the request's rows; a request whose id is already recorded is skipped.
So a replay after a crash, or of a request whose first commit was in fact made, stores nothing
twice. Ids are kept ``REQUEST_ID_WINDOW`` (retention prunes them); a spool older than that when
replayed is stored at least once instead (a replica down for more than a week with a spool).

Whether healthy traffic also goes through the spool was decided by measurement (README,
"Delivery"): it would add a write and an fdatasync to every request for no gain in what is
promised, since the direct path acknowledges only after PostgreSQL's own durable commit.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from collector.backoff import RetryAdvice
from collector.copy_rows import RequestRecords
from collector.errors import StoreUnavailable
from collector.spool import Spool, SpooledRequest, SpoolFull
from collector.writer import BatchWriter, WriteResult

log = logging.getLogger(__name__)

REQUEST_ID_WINDOW = timedelta(days=7)
DEFAULT_SPOOL_AFTER_S = 5.0  # below the OpenTelemetry exporters' 10 s default export timeout
REPLAY_BYTES = 8 * 1024 * 1024  # spooled bytes the replayer has in the writer's queue at a time
AVAILABILITY_POLL_S = 0.2


def new_request_id(unix_ms: int | None = None) -> uuid.UUID:
    """A version 7 UUID: 48 bits of milliseconds since 1970, then random bits."""
    unix_ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
    value = (unix_ms & ((1 << 48) - 1)) << 80 | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return uuid.UUID(int=value)


def request_id_floor(moment: datetime) -> uuid.UUID:
    """The smallest request id of ``moment``: every id accepted before it is smaller."""
    return uuid.UUID(int=(int(moment.timestamp() * 1000) & ((1 << 48) - 1)) << 80)


def request_id_time(request_id: uuid.UUID) -> datetime:
    return datetime.fromtimestamp((request_id.int >> 80) / 1000, tz=timezone.utc)


@dataclass
class DeliveryStats:
    spooled_requests: int = 0
    spooled_records: int = 0
    replayed_records: int = 0  # committed from the spool
    replay_duplicate_records: int = 0  # replayed, found committed already (skipped)
    replay_rejected: int = 0  # refused by PostgreSQL when replayed (after their sender's success)
    refused_full: int = 0  # requests refused because the spool was full


class Delivery:
    """``start`` recovers the spool and starts the replayer; ``submit`` takes a request's
    records; ``close`` stops the replayer and writes what is pending. With ``spool`` None every
    request goes to the writer and is refused (retryably) when it cannot be committed."""

    def __init__(self, writer: BatchWriter, spool: Spool | None, *, spool_after_s: float = DEFAULT_SPOOL_AFTER_S,
                 replay_bytes: int = REPLAY_BYTES):  # fmt: skip
        self._writer = writer
        self.spool = spool
        self.spool_after_s = spool_after_s
        self.replay_bytes = replay_bytes
        self.stats = DeliveryStats()
        self.full_advice = RetryAdvice(writer.retry_after)
        self.spooling = False  # new requests go to the spool until it is replayed
        self.spooling_since: float | None = None
        self.spooling_reason = ""
        self.recovered_records = 0  # what the spool held at start-up
        self.started_replayed = spool is None  # /readyz: the start-up backlog is committed
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._episode = (0, 0.0)  # replayed records, start: for the line logged when it ends

    async def start(self) -> None:
        if self.spool is None:
            return
        report = await asyncio.to_thread(self.spool.recover)
        self.recovered_records = report.records
        if report.records:
            log.warning("spool: %d request(s) in %d segment(s), %d bytes, were not committed before the last "
                        "stop; replaying them before reporting ready", report.records, report.segments, report.bytes)  # fmt: skip
            self._begin("records spooled before a restart")
        await self.spool.start()
        self._task = asyncio.create_task(self._replay_loop(), name="spool-replay")

    async def close(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        if self.spool is not None:
            await self.spool.close()
            if self.spool.records:
                log.warning("spool: %d record(s) stay on disk, to be replayed at the next start", self.spool.records)

    # --- taking requests -------------------------------------------------------------------

    async def submit(self, records: RequestRecords, *, payload_bytes: int = 0) -> WriteResult:
        request_id = new_request_id()
        if self.spool is None:
            return await self._writer.submit(records, payload_bytes=payload_bytes, request_id=request_id)
        if self.spooling:
            return await self._to_spool(request_id, records, None)
        try:
            future = self._writer.enqueue(records, payload_bytes=payload_bytes, request_id=request_id)
        except StoreUnavailable as refusal:  # the database away, or the queue full
            return await self._to_spool(request_id, records, refusal)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.spool_after_s)
        except StoreUnavailable as refusal:  # its flush failed: not committed, or outcome unknown
            return await self._to_spool(request_id, records, refusal)
        except TimeoutError:
            # The writer may still commit it: then the replay finds its id and skips it.
            future.add_done_callback(_retrieve)
            return await self._to_spool(request_id, records, None, f"a commit took longer than {self.spool_after_s:g} s")

    async def _to_spool(self, request_id: uuid.UUID, records: RequestRecords, refusal: StoreUnavailable | None,
                        reason: str | None = None) -> WriteResult:  # fmt: skip
        assert self.spool is not None
        if not self.spooling:
            self._begin(reason or str(refusal))
        try:
            await self.spool.append(request_id, records.count, records.ordinal_tuples())
        except SpoolFull as full:
            self.stats.refused_full += 1
            why = f"{refusal}; {full}" if refusal is not None else str(full)
            delay = max(self.full_advice.delay(), refusal.retry_after if refusal is not None else 0.0)
            raise StoreUnavailable(why, delay) from None
        finally:
            self._wake.set()
        self.full_advice.clear()
        self.stats.spooled_requests += 1
        self.stats.spooled_records += records.count
        return WriteResult(accepted=records.count, spooled=True)

    def _begin(self, reason: str) -> None:
        self.spooling, self.spooling_since, self.spooling_reason = True, time.monotonic(), reason
        self._episode = (self.stats.replayed_records, time.monotonic())
        log.warning("ingest: spooling requests to disk until PostgreSQL takes them again (%s)", reason)
        self._wake.set()

    def _end(self) -> None:
        replayed = self.stats.replayed_records - self._episode[0]
        log.warning("ingest: spool replayed, %d record(s) committed from it over %.0f s; writing directly again",
                    replayed, time.monotonic() - self._episode[1])  # fmt: skip
        self.spooling, self.spooling_since, self.spooling_reason = False, None, ""

    # --- replaying -------------------------------------------------------------------------

    async def _replay_loop(self) -> None:
        spool = self.spool
        assert spool is not None
        while True:
            if spool.drained():
                if self.spooling:
                    spool.reset()
                    self._end()
                self.started_replayed = True
                self._wake.clear()
                await self._wake.wait()
                continue
            if not self._writer.available or not spool.readable():
                # The writer probes the database; the commit loop is writing what will be readable.
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), AVAILABILITY_POLL_S)
                except TimeoutError:
                    pass
                continue
            try:
                batch = await asyncio.to_thread(spool.read, self.replay_bytes)
            except OSError as exc:
                log.error("spool: cannot read (%s); retrying in 5 s", exc)
                await asyncio.sleep(5)
                continue
            await self._replay(batch)

    async def _replay(self, batch: list[SpooledRequest]) -> None:
        futures = []
        for spooled in batch:
            try:
                futures.append(self._writer.enqueue(RequestRecords([], spooled.tuples, spooled.count),
                                                    payload_bytes=len(spooled.tuples), request_id=spooled.request_id,
                                                    bounded=False))  # fmt: skip
            except StoreUnavailable:
                break
        results = await asyncio.gather(*futures, return_exceptions=True)
        done = []
        for spooled, result in zip(batch, results):
            if isinstance(result, StoreUnavailable):
                break  # the database went away again: this and what follows stay spooled
            if isinstance(result, BaseException):
                log.error("spool: request %s could not be replayed; its %d record(s) are counted as rejected",
                          spooled.request_id, spooled.count, exc_info=result)  # fmt: skip
                self.stats.replay_rejected += spooled.count
            else:
                if result.rejected:
                    log.warning("spool: PostgreSQL refused %d record(s) of replayed request %s: %s", result.rejected,
                                spooled.request_id, "; ".join(result.errors))  # fmt: skip
                    self.stats.replay_rejected += result.rejected
                if result.duplicate:
                    self.stats.replay_duplicate_records += spooled.count
                else:
                    self.stats.replayed_records += result.accepted
            done.append(spooled)
        assert self.spool is not None
        self.spool.consumed(done)

    # --- what /readyz and the console show -------------------------------------------------

    def status(self) -> dict[str, object]:
        writer, spool = self._writer, self.spool
        unavailable = writer.unavailable_advice.lasting if not writer.available else 0.0
        state = "direct"
        if writer.failed:
            state = "failed"
        elif not writer.available:
            state = "spooling" if spool is not None else "refusing"
        elif self.spooling:
            state = "replaying"
        parts = []
        if unavailable:
            parts.append(f"PostgreSQL unavailable for {unavailable:.0f} s")
        if spool is not None and spool.records:
            parts.append(f"{spool.records:,} records spooled, {spool.bytes / 1e6:,.0f} MB")
        if state == "replaying":
            parts.append("replaying the spool")
        if state == "refusing":
            parts.append("ingest answers retry-later (no spool)")
        if state == "failed":
            parts.append("the batch writer stopped unexpectedly; restart the server"
                         + (" (the spool keeps what arrives meanwhile)" if spool is not None else ""))
        return {
            "state": state,
            "message": "; ".join(parts),
            "database_unavailable_s": round(unavailable, 1),
            "spooled_records": spool.records if spool is not None else 0,
            "spooled_bytes": spool.bytes if spool is not None else 0,
            "spool_enabled": spool is not None,
        }


def _retrieve(future: asyncio.Future[WriteResult]) -> None:
    """A spooled request's first commit may still end either way; its outcome is not needed."""
    if not future.cancelled():
        future.exception()
