"""Helpers for tests that drive the WebSocket live tail of a running server."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any

import aiohttp
from aiohttp import WSMsgType

from collector.model import ActivityRow

POLICY_VIOLATION = 1008
GOING_AWAY = 1001


def ws_url(server) -> str:
    return f"{server.api_url}/ws/activity-logs"


def row(message: str, **values: Any) -> ActivityRow:
    values.setdefault("level", "info")
    values.setdefault("source", "worker")
    values.setdefault("timestamp", datetime.now(timezone.utc))
    return ActivityRow(message=message, **values)


async def ingest(server, rows: list[ActivityRow]) -> list[int]:
    """Commit rows through the batch writer (which publishes them to the hub after the commit)."""
    result = await server.runtime.writer.submit(rows)
    assert result.rejected == 0
    return [r.id for r in rows]


async def receive_json(ws, timeout: float = 10.0) -> dict[str, Any]:
    message = await ws.receive(timeout=timeout)
    assert message.type is WSMsgType.TEXT, f"expected a text frame, got {message.type} {message.data!r}"
    return json.loads(message.data)


async def connect(session: aiohttp.ClientSession, server, token: str | None, **subscribe: Any):
    """Open, authenticate and (unless subscribe is None) subscribe; returns the socket."""
    ws = await session.ws_connect(ws_url(server))
    if token is not None:
        await ws.send_json({"action": "auth", "token": token})
    if subscribe.pop("_skip_subscribe", False):
        return ws
    await ws.send_json({"action": "subscribe", **subscribe})
    reply = await receive_json(ws)
    assert reply["type"] == "subscribed", reply
    return ws


async def entries_until(ws, last_message: str, timeout: float = 15.0) -> list[dict[str, Any]]:
    """Every entry received up to and including the one whose message is ``last_message``.
    Entries arrive in id order, so once it is here everything before it is too."""
    received: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        frame = await receive_json(ws, timeout=max(0.1, deadline - time.monotonic()))
        assert frame["type"] == "entries", frame
        received.extend(frame["entries"])
        if any(e["message"] == last_message for e in frame["entries"]):
            return received


async def expect_close(ws, timeout: float = 10.0) -> int:
    """The close code, after any entries still in flight."""
    message = await ws.receive(timeout=timeout)
    while message.type is WSMsgType.TEXT and json.loads(message.data)["type"] == "entries":
        message = await ws.receive(timeout=timeout)
    assert message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING), (message.type, message.data)
    return ws.close_code
