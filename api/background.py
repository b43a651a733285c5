"""A background task tied to a ``with`` block: started on entry, cancelled and awaited on exit,
so that every long-running job has an owner that stops it (no fire-and-forget tasks)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator, Coroutine


@contextlib.asynccontextmanager
async def background(job: Coroutine[object, object, object], name: str) -> AsyncIterator[asyncio.Task]:
    task = asyncio.create_task(job, name=name)
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
