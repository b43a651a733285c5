"""The ingest spool: a write-ahead log on local disk for requests PostgreSQL cannot take now.

A request goes to the spool when the database is unreachable, slower than a bound, or the writer's
queue is full (collector/delivery.py decides); it is acknowledged only once its bytes are on disk
(``fdatasync``), and a replayer later commits it with the id it was given, which the writer records
in ``ingest_requests`` in the same transaction, so that a replay of a request already committed
is recognised and skipped (exactly once, docs/architecture.md "Delivery").

On disk: ``<dir>/<sequence>.spool`` segment files, each a header (magic, format, a digest of the
COPY columns, so that a segment written by a version with other columns is never replayed into
this one) and then frames: ``length (u32) | crc32 (u32) | body``, where the body is the request id
(16 bytes), its record count (u32) and its COPY tuples with ordinals in place of ids
(collector/copy_rows.py). Appends are grouped: every request that arrives while a write is on
disk goes into the next write, with one ``fdatasync`` for all of them.

Recovery (``recover``, at start-up, before anything is appended): a frame whose length runs past
the end of the last segment, or the last frame of the last segment with a bad CRC, is a write
that a crash cut off; it was never acknowledged and is dropped. Any other bad frame is damage:
the segment is cut there, the bytes from the bad frame on are moved to ``<dir>/damaged/`` with a
log line, and everything before it, and every other segment, is replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import struct
import uuid
import zlib
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from collector.copy_rows import COPY_COLUMNS
from collector.errors import ConfigurationError

log = logging.getLogger(__name__)

FORMAT = 1
MAGIC = b"ACSPOOL\x00"
HEADER = MAGIC + struct.pack("!I", FORMAT) + hashlib.sha256(",".join(COPY_COLUMNS).encode()).digest()[:8]
FRAME = struct.Struct("!II")  # body length, crc32 of the body
BODY_HEAD = struct.Struct("!16sI")  # request id, records
# A length beyond this is damage, not a request (requests are bounded far below it).
MAX_BODY_BYTES = 1 << 30
SUFFIX = ".spool"
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024


class SpoolFull(Exception):
    """The spool is at its size bound or the disk at its free-space floor."""


@dataclass(frozen=True, slots=True)
class SpooledRequest:
    request_id: uuid.UUID
    count: int
    tuples: bytes
    segment: int  # where the frame ends: the replay's position once it is committed
    end: int

    @property
    def frame_bytes(self) -> int:
        return FRAME.size + BODY_HEAD.size + len(self.tuples)


@dataclass
class RecoveryReport:
    segments: int = 0
    records: int = 0
    bytes: int = 0
    torn_bytes: int = 0  # an unacknowledged last write, dropped
    damaged: list[str] = field(default_factory=list)  # files moved aside


def encode_frame(request_id: uuid.UUID, count: int, tuples: bytes) -> bytes:
    body = BODY_HEAD.pack(request_id.bytes, count) + tuples
    return FRAME.pack(len(body), zlib.crc32(body)) + body


def _segment_name(sequence: int) -> str:
    return f"{sequence:016d}{SUFFIX}"


def _scan(data: bytes) -> tuple[int, int, bool]:
    """``(records, valid_end, complete)`` of a segment's bytes: the frames that check out from
    the header on, where they end, and whether the first bad frame (if any) is complete (its
    length lies within the data), i.e. damage rather than a cut-off write."""
    offset, records = len(HEADER), 0
    while offset < len(data):
        if offset + FRAME.size > len(data):
            return records, offset, False
        length, crc = FRAME.unpack_from(data, offset)
        start = offset + FRAME.size
        if length < BODY_HEAD.size or length > MAX_BODY_BYTES:
            return records, offset, True
        if start + length > len(data):
            return records, offset, False
        if zlib.crc32(memoryview(data)[start : start + length]) != crc:
            return records, offset, True
        offset = start + length
        records += 1
    return records, offset, True


class Spool:
    """Segments under ``directory``. ``recover`` (in a thread) once, then ``start``; ``append``
    waits until the request is on disk; ``read`` (in a thread) and ``consumed`` are the replayer's.
    Counters are the event loop's: ``records``/``bytes`` not yet consumed, ``disk_bytes`` held."""

    def __init__(self, directory: Path, *, max_bytes: int, min_free_bytes: int,
                 segment_bytes: int = DEFAULT_SEGMENT_BYTES):  # fmt: skip
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.min_free_bytes = min_free_bytes
        self.segment_bytes = segment_bytes
        self.records = 0
        self.bytes = 0
        self.disk_bytes = 0
        self.appended = 0  # requests, since start
        self.consumed_records = 0
        # Segments on disk, oldest first, with the size known to be on disk (durable) for each.
        self._segments: deque[int] = deque()
        self._durable: dict[int, int] = {}
        self._next_sequence = 1
        self._active: int | None = None  # the segment appends go to, and its size
        self._active_size = 0
        self._fd: int | None = None
        self._read_at: tuple[int, int] | None = None  # the replay's next frame
        self._pending: list[tuple[bytes, int, asyncio.Future[None]]] = []
        self._pending_bytes = 0
        self._writing = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock_fd: int | None = None

    # --- start-up -------------------------------------------------------------------------

    def recover(self) -> RecoveryReport:
        """Check every segment, cut torn and damaged tails, count what is to be replayed. (A
        crash can also leave a file's tail zero-filled: in the last segment that is a torn write.)"""
        report = RecoveryReport()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock()
        names = sorted(p for p in self.directory.iterdir() if p.suffix == SUFFIX and p.stem.isdigit())
        for index, path in enumerate(names):
            sequence, last = int(path.stem), index == len(names) - 1
            data = path.read_bytes()
            if data[: len(HEADER)] != HEADER:
                if len(data) < len(HEADER) and HEADER.startswith(data):
                    path.unlink()  # created, header not yet on disk: nothing was acknowledged in it
                    continue
                report.damaged.append(self._move_aside(path, data, 0, "it was written by another version or is not a spool segment"))
                continue
            records, valid_end, complete = _scan(data)
            if valid_end < len(data):
                if last and (not complete or self._is_last_frame(data, valid_end) or not data[valid_end:].strip(b"\0")):
                    report.torn_bytes += len(data) - valid_end
                    log.warning("spool: dropped an unfinished write of %d bytes at the end of %s (a crash cut it "
                                "off; it was never acknowledged)", len(data) - valid_end, path.name)  # fmt: skip
                else:
                    report.damaged.append(self._move_aside(path, data, valid_end, f"a damaged frame at byte {valid_end}; "
                                                           f"the {records} request(s) before it will be replayed"))  # fmt: skip
                with open(path, "r+b") as f:
                    f.truncate(valid_end)
                    os.fsync(f.fileno())
            if records == 0:
                path.unlink()
                continue
            self._segments.append(sequence)
            self._durable[sequence] = valid_end
            report.segments += 1
            report.records += records
            report.bytes += valid_end - len(HEADER)
        if names:
            self._next_sequence = int(names[-1].stem) + 1
            self._sync_directory()
        self.records, self.bytes = report.records, report.bytes
        self.disk_bytes = sum(self._durable.values())
        if self._segments:
            self._read_at = (self._segments[0], len(HEADER))
        return report

    def _lock(self) -> None:
        """One process per spool directory: two would replay and delete each other's segments."""
        fd = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConfigurationError(f"the spool directory {self.directory} is in use by another server process; "
                                     "give each server its own ACTIVITY_DATA_DIR") from None  # fmt: skip
        self._lock_fd = fd

    @staticmethod
    def _is_last_frame(data: bytes, offset: int) -> bool:
        length, _ = FRAME.unpack_from(data, offset)
        return offset + FRAME.size + length == len(data)

    def _move_aside(self, path: Path, data: bytes, offset: int, why: str) -> str:
        damaged = self.directory / "damaged"
        damaged.mkdir(exist_ok=True)
        target = damaged / f"{path.name}.{offset}"
        target.write_bytes(data[offset:])
        if offset == 0:
            path.unlink()
        log.error("spool: segment %s is damaged (%s): %d bytes moved to %s", path.name, why, len(data) - offset, target)
        return str(target)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._commit_loop(), name="spool-commit")

    async def close(self) -> None:
        """Write what is pending, then stop."""
        if self._task is None:
            self._unlock()
            return
        while self._pending or self._writing:
            self._wake.set()
            await asyncio.sleep(0.005)
        task, self._task = self._task, None  # appends from now on are refused
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._unlock()

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # --- appending ------------------------------------------------------------------------

    def room_for(self, frame_bytes: int) -> str | None:
        """Why a frame of this size does not fit now, or None."""
        if self.disk_bytes + self._pending_bytes + frame_bytes > self.max_bytes:
            return f"the spool is full ({self.disk_bytes // 2**20} MiB of {self.max_bytes // 2**20} MiB, ACTIVITY_SPOOL_MAX_BYTES)"
        free = shutil.disk_usage(self.directory).free
        if free - self._pending_bytes - frame_bytes < self.min_free_bytes:
            return (f"the spool's disk has {free // 2**20} MiB free, at its floor of {self.min_free_bytes // 2**20} MiB "
                    "(ACTIVITY_SPOOL_MIN_FREE_BYTES)")  # fmt: skip
        return None

    async def append(self, request_id: uuid.UUID, count: int, tuples: bytes) -> None:
        """Return once the request is on disk; ``SpoolFull`` when it does not fit."""
        if self._task is None:
            raise SpoolFull("the spool is closed (the server is shutting down)")
        frame = encode_frame(request_id, count, tuples)
        why = self.room_for(len(frame))
        if why is not None:
            raise SpoolFull(why)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((frame, count, future))
        self._pending_bytes += len(frame)
        self._wake.set()
        await future

    async def _commit_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._pending:
                continue
            group, self._pending = self._pending, []
            size = sum(len(frame) for frame, _, _ in group)
            self._writing = True
            try:
                where = await asyncio.to_thread(self._write, [frame for frame, _, _ in group])
            except OSError as exc:
                log.error("spool: could not write %d request(s): %s", len(group), exc)
                for _, _, future in group:
                    if not future.done():
                        future.set_exception(SpoolFull(f"the spool could not be written ({exc})"))
                continue
            finally:
                self._writing = False
                self._pending_bytes -= size
            for sequence, end in where:
                if sequence not in self._durable:
                    self._segments.append(sequence)
                    self._durable[sequence] = len(HEADER)
                    self.disk_bytes += len(HEADER)
                self.disk_bytes += end - self._durable[sequence]
                self._durable[sequence] = end
            if self._read_at is None:
                self._read_at = (self._segments[0], len(HEADER))
            self.records += sum(count for _, count, _ in group)
            self.bytes += size
            self.appended += len(group)
            for _, _, future in group:
                if not future.done():
                    future.set_result(None)

    def _write(self, frames: list[bytes]) -> list[tuple[int, int]]:
        """Append frames (in a thread), rolling to a new segment past ``segment_bytes``, then
        fdatasync. Returns each touched segment's durable end."""
        touched: dict[int, int] = {}
        try:
            for frame in frames:
                if self._fd is None or (self._active_size > len(HEADER) and self._active_size + len(frame) > self.segment_bytes):
                    self._roll(touched)
                os.write(self._fd, frame)
                self._active_size += len(frame)
                touched[self._active] = self._active_size
            os.fdatasync(self._fd)
        except OSError:
            # (A full disk, say.) Nothing of this group was acknowledged: cut what it wrote, so
            # that each segment ends with its last acknowledged frame (a restart must not replay
            # what its senders were told to send again), and go on in a new segment.
            self._abandon(touched)
            raise
        return list(touched.items())

    def _abandon(self, touched: dict[int, int]) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._fd, self._active, self._active_size = None, None, 0
        for sequence in touched:
            with contextlib.suppress(OSError), open(self.directory / _segment_name(sequence), "r+b") as f:
                f.truncate(self._durable.get(sequence, len(HEADER)))
                os.fsync(f.fileno())

    def _roll(self, touched: dict[int, int]) -> None:
        if self._fd is not None:
            if self._active in touched:
                os.fdatasync(self._fd)
            os.close(self._fd)
        sequence = self._next_sequence
        self._next_sequence += 1
        self._fd = os.open(self.directory / _segment_name(sequence), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(self._fd, HEADER)
        self._sync_directory()
        self._active, self._active_size = sequence, len(HEADER)
        touched[sequence] = len(HEADER)

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # --- replaying ------------------------------------------------------------------------

    def readable(self) -> bool:
        """Whether frames wait on disk beyond the replay's position."""
        if self._read_at is None:
            return False
        sequence, offset = self._read_at
        return offset < self._durable.get(sequence, 0) or sequence != self._segments[-1]

    def read(self, max_bytes: int) -> list[SpooledRequest]:
        """The next frames on disk from the replay's position, about ``max_bytes`` of them (at
        least one when any is readable). Runs in a thread; the position moves with ``consumed``."""
        if self._read_at is None:
            return []
        sequence, offset = self._read_at
        durable = dict(self._durable)
        found: list[SpooledRequest] = []
        total = 0
        for segment in [s for s in list(self._segments) if s >= sequence]:
            position, end = (offset if segment == sequence else len(HEADER)), durable.get(segment, 0)
            if position >= end:
                continue
            fd = os.open(self.directory / _segment_name(segment), os.O_RDONLY)
            try:
                while position < end and (not found or total < max_bytes):
                    length, crc = FRAME.unpack(os.pread(fd, FRAME.size, position))
                    body = os.pread(fd, length, position + FRAME.size)
                    if len(body) != length or zlib.crc32(body) != crc:
                        raise OSError(f"spool segment {_segment_name(segment)} changed on disk at byte {position}")
                    request_id, count = BODY_HEAD.unpack_from(body)
                    position += FRAME.size + length
                    total += FRAME.size + length
                    found.append(SpooledRequest(uuid.UUID(bytes=request_id), count, body[BODY_HEAD.size :], segment, position))
            finally:
                os.close(fd)
            if total >= max_bytes:
                break
        return found

    def consumed(self, done: list[SpooledRequest]) -> None:
        """These requests (the next ones from the replay's position, in order) are committed:
        move the position past them and delete the segments left behind."""
        if not done:
            return
        last = done[-1]
        self._read_at = (last.segment, last.end)
        self.records -= sum(r.count for r in done)
        self.bytes -= sum(r.frame_bytes for r in done)
        self.consumed_records += sum(r.count for r in done)
        while len(self._segments) > 1 and self._segments[0] < last.segment:
            self._delete(self._segments.popleft())
        if last.end >= self._durable[last.segment] and last.segment != self._segments[-1]:
            self._delete(self._segments.popleft())
            self._read_at = (self._segments[0], len(HEADER))

    def drained(self) -> bool:
        """Nothing waits on disk or to be written: the replay has caught up."""
        return not self._pending and not self._writing and not self.readable()

    def reset(self) -> None:
        """Once drained: delete what is left on disk, so that the next outage starts afresh."""
        if not self.drained():
            return
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        while self._segments:
            self._delete(self._segments.popleft())
        self._active = None
        self._read_at = None
        self.records = self.bytes = 0

    def _delete(self, sequence: int) -> None:
        if sequence == self._active and self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._active = None
        self.disk_bytes -= self._durable.pop(sequence, 0)
        with contextlib.suppress(FileNotFoundError):
            (self.directory / _segment_name(sequence)).unlink()
