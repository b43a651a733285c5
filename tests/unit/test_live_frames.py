"""The live tail's frames: bounded in entries and bytes, and built once per batch for every client
that receives the same batch, also when the batch needs several frames (a burst commits large
batches; building them again for each of hundreds of clients is what made the tail fall behind)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from api.live import protocol
from api.live.registry import SHARED_FRAMES_MAX_BYTES, LiveRegistry
from collector.model import ActivityRow


def _rows(count: int, message_chars: int, first_id: int = 1) -> list[ActivityRow]:
    now = datetime.now(timezone.utc)
    return [ActivityRow(timestamp=now, level="info", source="worker", message=f"{i}:" + "m" * message_chars,
                        id=first_id + i) for i in range(count)]  # fmt: skip


def _registry() -> LiveRegistry:
    return LiveRegistry(queue_capacity=4096, auth_timeout_s=5, allowed_origins=[])


def _entries(frames: list[tuple[bytes, int]]) -> list[int]:
    ids = []
    for frame, count in frames:
        message = json.loads(frame)
        assert message["type"] == "entries" and len(message["entries"]) == count
        assert count <= protocol.FRAME_MAX_ENTRIES and len(frame) <= protocol.FRAME_MAX_BYTES + 64 * 1024
        ids += [entry["id"] for entry in message["entries"]]
    return ids


def test_a_batch_larger_than_a_frame_is_split_in_order_and_shared():
    rows = _rows(3000, 400)  # ~1.5 MB of entries, more than FRAME_MAX_ENTRIES and FRAME_MAX_BYTES
    registry = _registry()
    frames = registry.shared_frames(("same filter",), rows)
    assert len(frames) > 2
    assert _entries(frames) == [row.id for row in rows]
    assert registry.shared_frames(("same filter",), rows) is frames  # the second client reuses them
    assert registry.shared_frames(("other filter",), rows) is not frames


def test_unshared_batches_are_split_by_the_same_rule():
    rows = _rows(1500, 10)
    assert _entries(protocol.entries_frames([row.json() for row in rows])) == [row.id for row in rows]


def test_the_shared_frames_are_bounded_in_bytes():
    registry = _registry()
    batch_bytes = 0
    for batch in range(400):
        rows = _rows(100, 2000, first_id=batch * 100 + 1)
        batch_bytes = sum(len(frame) for frame, _ in registry.shared_frames(("k",), rows))
        assert registry._frames_bytes <= SHARED_FRAMES_MAX_BYTES
    assert batch_bytes * 400 > SHARED_FRAMES_MAX_BYTES  # the bound was reached and held
