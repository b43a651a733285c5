"""The hub wakes subscribers at most once per interval: an idle hub at once, rows committed in
between together (one frame per client, not one per commit), and a filling queue at once."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from collector.hub import LiveHub
from collector.model import ActivityRow


def _row(i: int) -> ActivityRow:
    return ActivityRow(timestamp=datetime.now(timezone.utc), level="info", source="worker", message=f"m{i}", id=i)


async def test_an_idle_hub_wakes_at_once_and_a_busy_one_once_per_interval():
    hub = LiveHub(wake_interval_s=0.2)
    with hub.subscribe() as subscription:
        hub.publish([_row(1)])
        rows, _ = await asyncio.wait_for(subscription.get(), 0.1)  # well before the interval ends
        assert [r.id for r in rows] == [1]
        hub.publish([_row(2)])
        hub.publish([_row(3)])
        waiting = asyncio.create_task(subscription.get())
        await asyncio.sleep(0.05)
        assert not waiting.done()  # within the interval of the last wake
        rows, _ = await asyncio.wait_for(waiting, 1)
        assert [r.id for r in rows] == [2, 3]  # both commits in one hand-out
    hub.close()


async def test_a_filling_queue_is_woken_without_waiting_for_the_interval():
    hub = LiveHub(wake_interval_s=10)
    with hub.subscribe(capacity=10) as subscription:
        hub.publish([_row(1)])
        await asyncio.wait_for(subscription.get(), 1)  # the first wake: the hub was idle
        hub.publish([_row(i) for i in range(2, 8)])  # 6 of 10: more than half
        rows, skipped = await asyncio.wait_for(subscription.get(), 1)
        assert [r.id for r in rows] == list(range(2, 8)) and skipped == 0
    hub.close()


async def test_closing_wakes_a_waiting_subscriber_and_cancels_the_timer():
    hub = LiveHub(wake_interval_s=10)
    subscription = hub.subscribe()
    hub.publish([_row(1)])
    await subscription.get()
    hub.publish([_row(2)])  # its wake is ten seconds away
    waiting = asyncio.create_task(subscription.get())
    await asyncio.sleep(0.01)
    hub.close()
    rows, _ = await asyncio.wait_for(waiting, 1)
    assert subscription.closed and hub._wake_timer is None
