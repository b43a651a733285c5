"""The ComfyUI bridge against a fake ComfyUI WebSocket server, through the real SDK and our server
into the database: message mapping, progress throttling, a disconnect mid-run and the reconnect,
tracked prompts, malformed frames, and the command-line program."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import WSMsgType, web

import sdk_shim
from collector.db.repository import LogFilter, Scope, query_logs
from sdk_shim.comfyui import ComfyUIBridge, translate_message, websocket_url
from tests.support.server import wait_for

pytestmark = pytest.mark.timeout(90)

REPO_ROOT = Path(__file__).resolve().parents[2]
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"
P1 = "11111111-aaaa-4000-8000-000000000001"
P2 = "22222222-bbbb-4000-8000-000000000002"
P3 = "33333333-cccc-4000-8000-000000000003"

Script = Callable[[web.WebSocketResponse, int], Awaitable[None]]


class FakeComfyUI:
    """A ComfyUI stand-in: ``/ws?clientId=…`` runs ``script(ws, connection_number)``."""

    def __init__(self, script: Script):
        self.script = script
        self.connections = 0
        self.client_ids: list[str] = []
        self.url = ""

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        self.client_ids.append(request.query.get("clientId", ""))
        await self.script(ws, self.connections)
        return ws


@asynccontextmanager
async def fake_comfyui(script: Script) -> AsyncIterator[FakeComfyUI]:
    fake = FakeComfyUI(script)
    app = web.Application()
    app.router.add_get("/ws", fake.websocket)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.url = f"ws://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    try:
        yield fake
    finally:
        await runner.cleanup()


async def send(ws: web.WebSocketResponse, message_type: str, data: dict) -> None:
    await ws.send_str(json.dumps({"type": message_type, "data": data}))


async def hold_open(ws: web.WebSocketResponse) -> None:
    """Keep the connection until the client closes it, as ComfyUI does between prompts."""
    async for message in ws:
        if message.type == WSMsgType.CLOSE:
            break


async def comfyui_script(ws: web.WebSocketResponse, connection: int) -> None:
    if connection == 1:
        await send(ws, "status", {"status": {"exec_info": {"queue_remaining": 1}}, "sid": "abc"})
        await send(ws, "execution_start", {"prompt_id": P1, "timestamp": 1})
        await send(ws, "execution_cached", {"nodes": ["1", "2"], "prompt_id": P1, "timestamp": 2})
        await send(ws, "executing", {"node": "3", "display_node": "3", "prompt_id": P1})
        for step in range(1, 11):
            await send(ws, "progress", {"value": step, "max": 20, "prompt_id": P1, "node": "3"})
        await ws.send_bytes(b"\x00\x00\x00\x01\x00\x00\x00\x02\x89PNG preview")
        await ws.send_str("{not json")
        await ws.send_str("[1, 2]")
        await send(ws, "crystools.monitor", {"cpu_utilization": 12.5, "gpus": [{"gpu_utilization": 99}]})
        await ws.close()  # the disconnect mid-run
        return
    if connection == 2:
        for _ in range(2):  # the same queue state twice: one entry
            await send(ws, "status", {"status": {"exec_info": {"queue_remaining": 1}}})
        for step in range(11, 21):
            await send(ws, "progress", {"value": step, "max": 20, "prompt_id": P1, "node": "3"})
        await send(ws, "executed", {
            "node": "9", "display_node": "9", "prompt_id": P1,
            "output": {"images": [{"filename": "out_00001_.png", "subfolder": "", "type": "output"}]},
        })  # fmt: skip
        await send(ws, "execution_success", {"prompt_id": P1, "timestamp": 3})
        await send(ws, "executing", {"node": None, "prompt_id": P1})
        await send(ws, "execution_start", {"prompt_id": P2, "timestamp": 4})
        await send(ws, "executing", {"node": "5", "display_node": "4", "prompt_id": P2})
        await send(ws, "execution_error", {
            "prompt_id": P2, "node_id": "5", "node_type": "KSampler", "executed": ["1", "2"],
            "exception_type": "torch.OutOfMemoryError", "exception_message": "CUDA out of memory",
            "traceback": ["Traceback (most recent call last):\n", '  File "execution.py", line 1\n',
                          "torch.OutOfMemoryError: CUDA out of memory\n"],
            "current_inputs": {}, "current_outputs": {}, "timestamp": 5,
        })  # fmt: skip
        await send(ws, "execution_start", {"prompt_id": P3, "timestamp": 6})
        await send(ws, "execution_interrupted", {"prompt_id": P3, "node_id": "7", "node_type": "VAEDecode", "executed": []})
    await hold_open(ws)


async def comfyui_rows(db) -> list:
    return await query_logs(db, LogFilter(sources=["comfyui"]), Scope.admin(), limit=200)


async def row_with(db, message: str):
    rows = await query_logs(db, LogFilter(sources=["comfyui"], search=message), Scope.admin(), limit=5)
    return rows or None


def configure_sdk(server) -> None:
    server.configure_sdk("comfyui-bridge-test", "comfyui", bridge_logging=False)


async def test_bridge_maps_comfyui_messages_across_a_reconnect(server, db):
    configure_sdk(server)
    try:
        async with fake_comfyui(comfyui_script) as fake:
            # A clock that never moves: every progress step after a node's first falls in the
            # same throttle window, so exactly the first and the final step pass.
            bridge = ComfyUIBridge(fake.url, client_id="console-test", backoff_initial_s=0.05, clock=lambda: 0.0)
            bridge.track(P1, job_id=11, project_id=5, user_id=3, traceparent=TRACEPARENT)
            bridge.track(P2, job_id=12, project_id=5)
            runner = asyncio.create_task(bridge.run())
            try:
                delivered = await wait_for(lambda: row_with(db, f"Prompt {P3[:8]} interrupted"), timeout=20)
                assert delivered, f"bridge entries did not arrive; connections={fake.connections}"
            finally:
                bridge.stop()
                await asyncio.wait_for(runner, timeout=10)
            assert fake.connections == 2 and fake.client_ids == ["console-test", "console-test"]
        assert await asyncio.to_thread(sdk_shim.force_flush, 10_000)
    finally:
        await asyncio.to_thread(sdk_shim.shutdown)
    assert await wait_for(lambda: row_with(db, "bridge stopped"), timeout=10)

    rows = list(reversed(await comfyui_rows(db)))  # oldest first
    messages = [row.message for row in rows]
    by_message = {row.message: row for row in rows}
    for row in rows:
        assert row.source == "comfyui" and row.service_name == "comfyui-bridge-test"

    connected = [row for row in rows if row.message.startswith("Connected to ComfyUI")]
    assert [(r.level, r.category, r.fields["connection"]) for r in connected] == [("info", "curated", 1), ("info", "curated", 2)]
    lost = [row for row in rows if row.message.startswith("Lost connection")]
    assert len(lost) == 1 and (lost[0].level, lost[0].category) == ("warn", "curated")
    assert "closed by server" in lost[0].fields["reason"]
    stopped = by_message[f"Disconnected from ComfyUI at {fake.url} (bridge stopped)"]
    assert (stopped.level, stopped.category) == ("info", "curated")

    status = [row for row in rows if row.message == "ComfyUI queue: 1 remaining"]
    assert len(status) == 2  # once per connection, the repeat on connection 2 dropped
    assert status[0].fields["queue_remaining"] == 1

    start = by_message[f"Prompt {P1[:8]} started"]
    assert (start.level, start.category) == ("info", "curated")
    assert (start.job_id, start.project_id, start.user_id) == (11, 5, 3)
    assert start.trace_id == TRACE_ID
    assert start.fields["prompt_id"] == P1

    cached = by_message[f"Prompt {P1[:8]}: 2 nodes cached"]
    assert cached.fields["node_ids"] == ["1", "2"] and cached.job_id == 11

    executing = by_message["Executing node 3"]
    assert (executing.fields["node_id"], executing.fields["display_node_id"]) == ("3", "3")

    progress = [row for row in rows if row.message.startswith("Node 3 step")]
    assert [(r.fields["step"], r.fields["total"]) for r in progress] == [(1, 20), (20, 20)]
    assert all(r.fields["node_id"] == "3" and r.fields["prompt_id"] == P1 and r.job_id == 11 for r in progress)

    executed = by_message["Executed node 9"]
    assert executed.fields["output_files"] == ["out_00001_.png"] and executed.fields["output_keys"] == ["images"]
    success = by_message[f"Prompt {P1[:8]} completed"]
    assert (success.level, success.job_id, success.trace_id) == ("info", 11, TRACE_ID)
    assert f"Prompt {P1[:8]} finished executing" in by_message

    assert by_message["Executing node 5 (shown as 4)"].job_id == 12
    error = by_message["Node 5 (KSampler) failed: torch.OutOfMemoryError: CUDA out of memory"]
    assert (error.level, error.category, error.job_id, error.project_id) == ("error", "curated", 12, 5)
    assert error.trace_id is None
    assert error.fields["node_id"] == "5" and error.fields["node_type"] == "KSampler"
    assert error.fields["exception_type"] == "torch.OutOfMemoryError"
    assert error.fields["exception_message"] == "CUDA out of memory"
    assert error.fields["traceback"].startswith("Traceback (most recent call last):")
    assert error.fields["exception.stacktrace"] == error.fields["traceback"]
    assert error.fields["exception.type"] == "torch.OutOfMemoryError"

    interrupted = by_message[f"Prompt {P3[:8]} interrupted at node 7 (VAEDecode)"]
    assert (interrupted.level, interrupted.category, interrupted.job_id) == ("warn", "curated", None)
    assert interrupted.fields["prompt_id"] == P3

    unknown = by_message["ComfyUI message crystools.monitor"]
    assert (unknown.level, unknown.category) == ("info", "verbose")
    assert unknown.fields["data"] == {"cpu_utilization": 12.5, "gpus": [{"gpu_utilization": 99}]}

    malformed = [row for row in rows if row.message.startswith("Malformed ComfyUI message")]
    assert [(r.level, r.category, r.fields["raw"]) for r in malformed] == [
        ("warn", "verbose", "{not json"),
        ("warn", "verbose", "[1, 2]"),
    ]
    assert not any("PNG" in message or "preview" in message for message in messages)

    # Everything but the verbose entries is curated; the stored order follows ComfyUI's.
    assert messages.index(f"Prompt {P1[:8]} started") < messages.index(lost[0].message) < messages.index(
        f"Prompt {P1[:8]} completed"
    )


async def test_bridge_reports_one_outage_while_comfyui_is_down(server, db, unused_tcp_port):
    configure_sdk(server)
    bridge = ComfyUIBridge(f"ws://127.0.0.1:{unused_tcp_port}", backoff_initial_s=0.01, backoff_max_s=0.05)
    runner = asyncio.create_task(bridge.run())
    async def failed_three_times():
        return bridge.failed_connects >= 3

    try:
        assert await wait_for(failed_three_times, timeout=10)
    finally:
        bridge.stop()
        await asyncio.wait_for(runner, timeout=10)
        assert await asyncio.to_thread(sdk_shim.force_flush, 10_000)
        await asyncio.to_thread(sdk_shim.shutdown)
    rows = await wait_for(lambda: row_with(db, "Cannot reach ComfyUI"), timeout=10)
    assert rows and len(rows) == 1
    assert (rows[0].level, rows[0].category) == ("warn", "curated")
    assert bridge.connections == 0


async def test_command_line_bridge_runs_until_sigterm(server, db, tmp_path):
    async def script(ws: web.WebSocketResponse, connection: int) -> None:
        await send(ws, "status", {"status": {"exec_info": {"queue_remaining": 4}}, "sid": "cli"})
        await hold_open(ws)

    async with fake_comfyui(script) as fake:
        env = {
            **os.environ,
            "OTEL_EXPORTER_OTLP_ENDPOINT": server.grpc_endpoint,
            "OTEL_EXPORTER_OTLP_HEADERS": f"authorization=Bearer {server.token}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_BLRP_SCHEDULE_DELAY": "100",
            "PYTHONPATH": str(REPO_ROOT),
        }
        stderr_path = tmp_path / "bridge.stderr"
        with stderr_path.open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "sdk_shim.comfyui", "--url", fake.url, "--client-id", "cli-bridge",
                "--service-name", "comfyui-cli", env=env, cwd=REPO_ROOT,
                stdin=asyncio.subprocess.DEVNULL, stdout=stderr, stderr=stderr,
            )  # fmt: skip
        try:
            queued = await wait_for(lambda: row_with(db, "ComfyUI queue: 4 remaining"), timeout=30, interval=0.1)
            assert queued, "no entry from the CLI bridge:\n" + stderr_path.read_text(errors="replace")
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), timeout=20) == 0, stderr_path.read_text(errors="replace")
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert fake.client_ids == ["cli-bridge"]
    assert queued[0].service_name == "comfyui-cli" and queued[0].source == "comfyui"
    # shutdown() flushed the last entry before the process exited.
    stopped = await wait_for(lambda: row_with(db, "bridge stopped"), timeout=10)
    assert stopped and stopped[0].service_name == "comfyui-cli"


def test_websocket_url_forms():
    assert websocket_url("ws://h:8188", "c") == "ws://h:8188/ws?clientId=c"
    assert websocket_url("http://h:8188/", "c") == "ws://h:8188/ws?clientId=c"
    assert websocket_url("https://h/comfy/ws", "c") == "wss://h/comfy/ws?clientId=c"
    assert websocket_url("h:8188", "c") == "ws://h:8188/ws?clientId=c"
    with pytest.raises(ValueError):
        websocket_url("ftp://h", "c")


def test_translate_tolerates_odd_shapes():
    # Shapes a newer or patched ComfyUI might send: never an exception.
    assert translate_message("status", {}) is None
    assert translate_message("progress", {"value": None}).message == "Node None step None/None"
    assert translate_message("executed", {"node": "1", "output": ["not", "a", "map"]}).fields["node_id"] == "1"
    assert translate_message("execution_error", {"traceback": "one string"}).fields["traceback"] == "one string"
    assert translate_message("something_new", {"x": "y" * 20_000}).fields["data"].endswith("…")
