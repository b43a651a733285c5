"""The ingest spool on a real file system: appends, replay reads, recovery from torn writes and
damaged segments, bounds, one process per directory."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest

from collector.delivery import new_request_id, request_id_floor, request_id_time
from collector.errors import ConfigurationError
from collector.spool import FRAME, HEADER, Spool, SpoolFull, encode_frame

pytestmark = pytest.mark.timeout(60)


def body(i: int, size: int = 100) -> bytes:
    return (f"tuples of request {i} ".encode() * (size // 20 + 1))[:size]


def make(directory: Path, **overrides) -> Spool:
    settings = dict(max_bytes=64 * 2**20, min_free_bytes=0, segment_bytes=4096)
    settings.update(overrides)
    return Spool(directory, **settings)


async def filled(directory: Path, count: int, size: int = 100, **overrides) -> tuple[Spool, list[uuid.UUID]]:
    spool = make(directory, **overrides)
    await asyncio.to_thread(spool.recover)
    await spool.start()
    ids = [new_request_id() for _ in range(count)]
    await asyncio.gather(*(spool.append(ids[i], i + 1, body(i, size)) for i in range(count)))
    return spool, ids


async def read_all(spool: Spool) -> list:
    found = []
    while spool.readable():
        batch = await asyncio.to_thread(spool.read, 1000)
        assert batch, "readable, yet nothing read"
        found += batch
        spool.consumed(batch)
    return found


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.spool"))


async def test_appended_requests_read_back_in_order_across_segments(tmp_path):
    spool, ids = await filled(tmp_path, 100)
    assert len(segments(tmp_path)) > 3  # 4 KiB segments
    assert spool.records == sum(range(1, 101))
    found = await read_all(spool)
    assert [r.request_id for r in found] == ids
    assert [r.count for r in found] == list(range(1, 101))
    assert all(r.tuples == body(i) for i, r in enumerate(found))
    # Every segment but the one appends go to is deleted once read past.
    assert len(segments(tmp_path)) == 1 and spool.records == 0 and spool.drained()
    spool.reset()
    assert segments(tmp_path) == [] and spool.disk_bytes == 0
    await spool.close()


async def test_appends_waiting_together_share_one_write(tmp_path, monkeypatch):
    syncs = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (syncs.append(fd), real(fd))[1])
    spool, _ = await filled(tmp_path, 50, segment_bytes=2**20)
    assert spool.appended == 50
    assert 1 <= len(syncs) < 10, len(syncs)  # group commit, not a sync per request
    await spool.close()


async def test_what_was_appended_survives_a_restart_and_is_replayed(tmp_path):
    spool, ids = await filled(tmp_path, 30)
    await spool.close()
    again = make(tmp_path)
    report = await asyncio.to_thread(again.recover)
    assert report.records == 30 and report.torn_bytes == 0 and report.damaged == []
    await again.start()
    # New appends go to a new segment after the recovered ones.
    later = new_request_id()
    await again.append(later, 1, b"later")
    assert [r.request_id for r in await read_all(again)] == ids + [later]
    await again.close()


async def test_a_torn_last_write_is_dropped_and_the_rest_replayed(tmp_path):
    spool, ids = await filled(tmp_path, 10, segment_bytes=2**20)
    await spool.close()
    [segment] = segments(tmp_path)
    size = segment.stat().st_size
    with open(segment, "r+b") as f:
        f.truncate(size - 7)  # the last frame cut short, as by a crash mid-write
    again = make(tmp_path)
    report = await asyncio.to_thread(again.recover)
    assert report.records == 9 and report.torn_bytes > 0 and report.damaged == []
    await again.start()
    assert [r.request_id for r in await read_all(again)] == ids[:9]
    await again.close()


async def test_a_zero_filled_tail_is_a_torn_write(tmp_path):
    spool, ids = await filled(tmp_path, 5, segment_bytes=2**20)
    await spool.close()
    [segment] = segments(tmp_path)
    with open(segment, "ab") as f:
        f.write(b"\0" * 4096)
    again = make(tmp_path)
    report = await asyncio.to_thread(again.recover)
    assert report.records == 5 and report.torn_bytes == 4096 and report.damaged == []
    await again.close()


async def test_a_last_frame_with_a_bad_checksum_is_a_torn_write(tmp_path):
    spool, ids = await filled(tmp_path, 5, segment_bytes=2**20)
    await spool.close()
    [segment] = segments(tmp_path)
    data = bytearray(segment.read_bytes())
    data[-1] ^= 0xFF
    segment.write_bytes(bytes(data))
    again = make(tmp_path)
    report = await asyncio.to_thread(again.recover)
    assert report.records == 4 and report.torn_bytes > 0 and report.damaged == []
    await again.close()


async def test_a_damaged_segment_is_cut_and_moved_aside_and_the_rest_goes_on(tmp_path, caplog):
    spool, ids = await filled(tmp_path, 100)
    await spool.close()
    files = segments(tmp_path)
    assert len(files) >= 3
    victim = files[1]
    data = bytearray(victim.read_bytes())
    # Damage the second frame of the second segment.
    length, _ = FRAME.unpack_from(data, len(HEADER))
    second = len(HEADER) + FRAME.size + length
    data[second + FRAME.size + 5] ^= 0xFF
    victim.write_bytes(bytes(data))
    in_first = sum(1 for _ in _frames(files[0].read_bytes()))
    in_victim = sum(1 for _ in _frames(bytes(data)))
    again = make(tmp_path)
    report = await asyncio.to_thread(again.recover)
    assert len(report.damaged) == 1 and Path(report.damaged[0]).parent.name == "damaged"
    assert "damaged" in caplog.text
    await again.start()
    replayed = [r.request_id for r in await read_all(again)]
    lost = ids[in_first + 1 : in_first + in_victim]
    assert replayed == [i for i in ids if i not in lost]
    assert Path(report.damaged[0]).stat().st_size == len(data) - second
    await again.close()


def _frames(data: bytes):
    offset = len(HEADER)
    while offset + FRAME.size <= len(data):
        length, _ = FRAME.unpack_from(data, offset)
        offset += FRAME.size + length
        yield offset


async def test_a_segment_of_another_format_is_moved_aside_not_replayed(tmp_path):
    (tmp_path / "0000000000000001.spool").write_bytes(b"ACSPOOL\x00" + b"\x00\x00\x00\x09" + b"x" * 40)
    spool = make(tmp_path)
    report = await asyncio.to_thread(spool.recover)
    assert report.records == 0 and len(report.damaged) == 1 and segments(tmp_path) == []
    await spool.close()


async def test_the_size_bound_refuses_what_does_not_fit(tmp_path):
    spool = make(tmp_path, max_bytes=3000, segment_bytes=2**20)
    await asyncio.to_thread(spool.recover)
    await spool.start()
    appended = 0
    with pytest.raises(SpoolFull, match="ACTIVITY_SPOOL_MAX_BYTES"):
        for i in range(100):
            await spool.append(new_request_id(), 1, body(i, 500))
            appended += 1
    assert appended == 5 and spool.disk_bytes <= 3000
    # Consuming frees nothing until the segment is deleted; a reset after replay does.
    spool.consumed(await asyncio.to_thread(spool.read, 10**6))
    spool.reset()
    await spool.append(new_request_id(), 1, body(0, 500))
    await spool.close()


async def test_the_free_disk_floor_refuses_before_the_disk_fills(tmp_path):
    spool = make(tmp_path, min_free_bytes=2**62)
    await asyncio.to_thread(spool.recover)
    await spool.start()
    with pytest.raises(SpoolFull, match="ACTIVITY_SPOOL_MIN_FREE_BYTES"):
        await spool.append(new_request_id(), 1, b"x")
    await spool.close()


async def test_one_process_per_spool_directory(tmp_path):
    first = make(tmp_path)
    await asyncio.to_thread(first.recover)
    second = make(tmp_path)
    with pytest.raises(ConfigurationError, match="in use"):
        await asyncio.to_thread(second.recover)
    await first.close()
    await asyncio.to_thread(second.recover)  # free once the first has closed
    await second.close()


def test_frames_carry_their_checksum():
    frame = encode_frame(uuid.UUID(int=1), 3, b"abc")
    length, crc = FRAME.unpack_from(frame)
    assert length == len(frame) - FRAME.size
    import zlib

    assert crc == zlib.crc32(frame[FRAME.size :])


def test_request_ids_are_time_ordered_version_7_uuids():
    a, b = new_request_id(1_700_000_000_000), new_request_id(1_700_000_000_001)
    assert a.version == 7 and a.variant == uuid.RFC_4122 and a < b
    assert request_id_time(a).timestamp() == 1_700_000_000.0
    floor = request_id_floor(request_id_time(b))
    assert a < floor <= b


async def test_a_failed_write_leaves_no_trace_for_a_restart_to_replay(tmp_path, monkeypatch):
    """A group that could not be written (a full disk) was refused to its senders, who will send
    it again: neither the replay nor a restart may store it."""
    spool, ids = await filled(tmp_path, 3, segment_bytes=2**20)
    real_sync = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    with pytest.raises(SpoolFull, match="could not be written"):
        await spool.append(new_request_id(), 1, b"refused")
    monkeypatch.setattr(os, "fdatasync", real_sync)
    later = new_request_id()
    await spool.append(later, 1, b"later")
    await spool.close()
    again = make(tmp_path)
    report = await asyncio.to_thread(again.recover)
    assert report.damaged == [] and report.torn_bytes == 0
    await again.start()
    assert [r.request_id for r in await read_all(again)] == ids + [later]
    await again.close()
