"""The batch writer's loop on its own (no database): its flushes and its settings reads stubbed,
to check when it starts a flush."""

from __future__ import annotations

import asyncio
import time

from collector.writer import BatchWriter, WriteResult


class _Hub:
    subscriber_count = 0


class _Records:
    count = 1
    tuples = b"x"

    def prepare(self) -> None:
        pass


class _StubbedWriter(BatchWriter):
    """Settings reads take 20 ms (a round trip); a flush takes 5 ms and commits its requests."""

    async def _read_settings(self) -> None:
        self._next_settings_read = time.monotonic() + self.settings_refresh
        await asyncio.sleep(0.02)

    async def _flush(self, batch, after=None, reserved=None) -> None:  # noqa: ANN001
        if reserved is not None:
            reserved.set_result(None)
        await asyncio.sleep(0.005)
        for request in batch:
            request.future.set_result(WriteResult(accepted=request.count))


async def test_a_flush_that_ends_during_a_settings_read_wakes_the_loop():
    """A request queued while the loop reads its settings, behind a flush that ends during that
    read, is flushed when the read returns, not after the loop's long sleep (``settings_refresh``)."""
    writer = _StubbedWriter(pool=None, hub=_Hub(), settings_refresh=60.0, linger=0.0, flushes_in_flight=1)
    writer._next_settings_read = float("inf")
    writer._task = asyncio.create_task(writer._run())
    try:
        first = writer.enqueue(_Records())
        await asyncio.sleep(0)  # the loop takes it: a flush is under way
        writer._next_settings_read = 0  # the periodic settings read is due
        await asyncio.sleep(0.002)  # the loop is inside the read now
        second = writer.enqueue(_Records())  # queued behind the flush (one at a time)
        await first
        assert (await asyncio.wait_for(second, timeout=10)).accepted == 1
    finally:
        await writer.close()
