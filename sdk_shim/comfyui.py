"""ComfyUI bridge: follows a ComfyUI server's WebSocket and sends its events as activity entries
(source ``comfyui``) through sdk_shim's OTLP exporter.

As a program::

    OTEL_EXPORTER_OTLP_ENDPOINT=http://console:4317 \\
    OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer <ingest token>" \\
    python -m sdk_shim.comfyui --url ws://127.0.0.1:8188 --service-name comfyui-bridge

As a library, in the process that submits prompts (so that entries carry job and project ids)::

    sdk_shim.configure(service_name="comfyui-bridge", source="comfyui")
    bridge = ComfyUIBridge("ws://127.0.0.1:8188")
    runner = asyncio.create_task(bridge.run())     # keep the task; await it after bridge.stop()
    ...
    bridge.track(prompt_id, job_id=42, project_id=7, traceparent=request_traceparent)
    ...
    bridge.stop(); await runner

Mapping of ComfyUI's messages (``{"type": ..., "data": {...}}`` text frames):

=========================  ===============================================================
connection up / lost       curated info / warn (a failed first connection: one warn per outage)
status                     curated info with queue_remaining (only when the value changes)
execution_start            curated info
execution_cached           curated info with the cached node ids
executing                  curated info with node_id, display_node_id (node null = prompt done)
progress                   curated info with node_id, step, total; at most one per prompt and
                           node per ``progress_interval_s``, the final step always
executed                   curated info with node_id and a summary of the outputs
execution_success          curated info
execution_error            curated error with node_id, node_type, exception_type,
                           exception_message, traceback (and the OTel exception.* attributes)
execution_interrupted      curated warn
binary frames              ignored (preview images)
progress_state             verbose, throttled like progress (it repeats progress in bulk)
any other type             verbose info with the message's data
malformed frames           verbose warn with the start of the raw text; never a crash
=========================  ===============================================================

Every entry about a prompt carries ``prompt_id`` in its fields; a prompt registered with
``track()`` adds its job, project and user ids, and its trace context when one was given.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import sdk_shim
from collector import attributes as attr

__all__ = ["BridgeEntry", "ComfyUIBridge", "TrackedPrompt", "translate_message", "websocket_url", "main"]

log = logging.getLogger(__name__)

_SCOPE = "sdk_shim.comfyui"
# Unknown messages keep their data in fields up to this many characters of JSON; beyond, a
# truncated text stands in so that one huge frame cannot become a huge row.
MAX_DATA_CHARS = 8_192
MAX_RAW_CHARS = 1_024
MAX_LISTED_OUTPUTS = 20


@dataclass(slots=True)
class BridgeEntry:
    """One entry to send, before job/project/trace information is attached."""

    level: str
    message: str
    fields: dict[str, Any] = field(default_factory=dict)
    category: str = "curated"
    prompt_id: str | None = None


@dataclass(slots=True)
class TrackedPrompt:
    job_id: int | None = None
    project_id: int | None = None
    user_id: int | None = None
    context: Context | None = None


def websocket_url(url: str, client_id: str) -> str:
    """``ws://host:8188``, ``http://host:8188`` or ``…/ws`` → ``ws://host:8188/ws?clientId=…``."""
    parts = urlsplit(url if "://" in url else f"ws://{url}")
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise ValueError(f"not a ComfyUI URL: {url!r} (use ws://HOST:PORT or http://HOST:PORT)")
    path = parts.path.rstrip("/")
    if not path.endswith("/ws"):
        path += "/ws"
    return urlunsplit((scheme, parts.netloc, path, urlencode({"clientId": client_id}), ""))


def _short(prompt_id: Any) -> str:
    return str(prompt_id)[:8] if prompt_id else "?"


def _node_label(node: Any, display_node: Any = None) -> str:
    if display_node not in (None, node):
        return f"node {node} (shown as {display_node})"
    return f"node {node}"


def _bounded_json(value: Any, limit: int = MAX_DATA_CHARS) -> Any:
    """The value itself when its JSON is small, else its JSON cut to ``limit`` characters."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return value if len(text) <= limit else text[:limit] + "…"


def _output_summary(output: Any) -> dict[str, Any]:
    if not isinstance(output, Mapping):
        return {}
    summary: dict[str, Any] = {"output_keys": sorted(str(key) for key in output)}
    files = [
        item["filename"]
        for items in output.values() if isinstance(items, list)
        for item in items if isinstance(item, Mapping) and isinstance(item.get("filename"), str)
    ]  # fmt: skip
    if files:
        summary["output_files"] = files[:MAX_LISTED_OUTPUTS]
        summary["output_file_count"] = len(files)
    return summary


def translate_message(message_type: str, data: Mapping[str, Any]) -> BridgeEntry | None:
    """One ComfyUI message as an entry (no throttling or deduplication here: see ``ComfyUIBridge``).
    ``None`` for messages that carry nothing worth an entry."""
    prompt_id = data.get("prompt_id")
    prompt_id = str(prompt_id) if prompt_id not in (None, "") else None
    fields: dict[str, Any] = {"comfyui.message_type": message_type}
    if prompt_id:
        fields["prompt_id"] = prompt_id

    def entry(level: str, text: str, **extra: Any) -> BridgeEntry:
        fields.update({key: value for key, value in extra.items() if value is not None})
        return BridgeEntry(level, text, fields, prompt_id=prompt_id)

    if message_type == "status":
        exec_info = (data.get("status") or {}).get("exec_info") or {}
        remaining = exec_info.get("queue_remaining")
        if remaining is None:
            return None
        return entry("info", f"ComfyUI queue: {remaining} remaining", queue_remaining=remaining)
    if message_type == "execution_start":
        return entry("info", f"Prompt {_short(prompt_id)} started")
    if message_type == "execution_cached":
        nodes = [str(node) for node in data.get("nodes") or []]
        return entry("info", f"Prompt {_short(prompt_id)}: {len(nodes)} nodes cached", node_ids=nodes, cached_count=len(nodes))
    if message_type == "executing":
        node, display_node = data.get("node"), data.get("display_node")
        if node is None:
            return entry("info", f"Prompt {_short(prompt_id)} finished executing")
        return entry(
            "info", f"Executing {_node_label(node, display_node)}",
            node_id=str(node), display_node_id=str(display_node) if display_node is not None else None,
        )  # fmt: skip
    if message_type == "progress":
        node, step, total = data.get("node"), data.get("value"), data.get("max")
        return entry(
            "info", f"Node {node} step {step}/{total}",
            node_id=str(node) if node is not None else None, step=step, total=total,
        )  # fmt: skip
    if message_type == "executed":
        node, display_node = data.get("node"), data.get("display_node")
        return entry(
            "info", f"Executed {_node_label(node, display_node)}",
            node_id=str(node) if node is not None else None,
            display_node_id=str(display_node) if display_node is not None else None,
            **_output_summary(data.get("output")),
        )  # fmt: skip
    if message_type == "execution_success":
        return entry("info", f"Prompt {_short(prompt_id)} completed")
    if message_type == "execution_error":
        node_id, node_type = data.get("node_id"), data.get("node_type")
        exception_type = str(data.get("exception_type") or "Exception")
        exception_message = str(data.get("exception_message") or "")
        trace = data.get("traceback")
        trace_text = "".join(trace) if isinstance(trace, list) else (str(trace) if trace else None)
        return entry(
            "error", f"Node {node_id} ({node_type}) failed: {exception_type}: {exception_message}".rstrip(": "),
            node_id=str(node_id) if node_id is not None else None, node_type=node_type,
            exception_type=exception_type, exception_message=exception_message, traceback=trace_text,
            executed=[str(n) for n in data.get("executed") or []] or None,
            **{attr.EXCEPTION_TYPE: exception_type, attr.EXCEPTION_MESSAGE: exception_message,
               attr.EXCEPTION_STACKTRACE: trace_text},
        )  # fmt: skip
    if message_type == "execution_interrupted":
        node_id, node_type = data.get("node_id"), data.get("node_type")
        where = f" at node {node_id} ({node_type})" if node_id is not None else ""
        return entry(
            "warn", f"Prompt {_short(prompt_id)} interrupted{where}",
            node_id=str(node_id) if node_id is not None else None, node_type=node_type,
            executed=[str(n) for n in data.get("executed") or []] or None,
        )  # fmt: skip
    unknown = entry("info", f"ComfyUI message {message_type}", data=_bounded_json(dict(data)))
    unknown.category = "verbose"
    return unknown


class ComfyUIBridge:
    """Follows one ComfyUI server until ``stop()``; reconnects with exponential backoff and jitter."""

    def __init__(
        self,
        url: str,
        *,
        client_id: str | None = None,
        progress_interval_s: float = 1.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        heartbeat_s: float = 20.0,
        max_tracked_prompts: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.client_id = client_id or uuid.uuid4().hex
        self.url = websocket_url(url, self.client_id)
        self.server_url = url
        self.progress_interval_s = progress_interval_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.heartbeat_s = heartbeat_s
        self.max_tracked_prompts = max_tracked_prompts
        self.clock = clock
        self.connections = 0  # successful connections so far
        self.failed_connects = 0  # connection attempts that failed so far
        self._tracked: OrderedDict[str, TrackedPrompt] = OrderedDict()
        # (prompt_id, node_id or message type) → clock time of the last entry sent.
        self._progress_sent: OrderedDict[tuple[str | None, str | None], float] = OrderedDict()
        self._last_queue_remaining: Any = None
        self._stopping = asyncio.Event()

    # --- registration by the code that submits prompts ---

    def track(
        self,
        prompt_id: str,
        *,
        job_id: int | None = None,
        project_id: int | None = None,
        user_id: int | None = None,
        traceparent: str | None = None,
        context: Context | None = None,
    ) -> None:
        """Attach ids (and a trace, as a W3C ``traceparent`` or an OTel ``Context``) to the entries
        of one prompt. The oldest registrations are forgotten past ``max_tracked_prompts``."""
        if traceparent is not None and context is None:
            context = TraceContextTextMapPropagator().extract({"traceparent": traceparent})
        self._tracked[str(prompt_id)] = TrackedPrompt(job_id, project_id, user_id, context)
        self._tracked.move_to_end(str(prompt_id))
        while len(self._tracked) > self.max_tracked_prompts:
            self._tracked.popitem(last=False)

    def untrack(self, prompt_id: str) -> None:
        self._tracked.pop(str(prompt_id), None)

    # --- lifecycle ---

    def stop(self) -> None:
        """Ask ``run()`` to return; safe from a signal handler and more than once."""
        self._stopping.set()

    async def run(self) -> None:
        """Connect, follow, reconnect, until ``stop()``. Requires ``sdk_shim.configure()`` first."""
        sdk_shim.get_provider()  # fail now, not at the first message, when nothing is configured
        failures = 0
        outage_reported = False
        # The timeouts bound the handshake only; an open WebSocket is watched by its heartbeat.
        timeout = aiohttp.ClientTimeout(total=None, connect=10, sock_connect=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while not self._stopping.is_set():
                try:
                    websocket = await session.ws_connect(self.url, heartbeat=self.heartbeat_s, max_msg_size=0)
                except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
                    failures += 1
                    self.failed_connects += 1
                    delay = self._backoff(failures)
                    if not outage_reported:
                        self._emit(BridgeEntry(
                            "warn", f"Cannot reach ComfyUI at {self.server_url}: {exc}; retrying",
                            {"url": self.url, "client_id": self.client_id, "reason": str(exc), "retry_in_s": round(delay, 2)},
                        ))  # fmt: skip
                        outage_reported = True
                    log.debug("ComfyUI connection attempt %d failed: %s", failures, exc)
                    await self._sleep(delay)
                    continue
                failures, outage_reported = 0, False
                self.connections += 1
                self._last_queue_remaining = None
                self._emit(BridgeEntry(
                    "info", f"Connected to ComfyUI at {self.server_url}",
                    {"url": self.url, "client_id": self.client_id, "connection": self.connections},
                ))  # fmt: skip
                reason = await self._follow_until_stopped(websocket)
                if self._stopping.is_set():
                    self._emit(BridgeEntry(
                        "info", f"Disconnected from ComfyUI at {self.server_url} (bridge stopped)",
                        {"url": self.url, "client_id": self.client_id},
                    ))  # fmt: skip
                    break
                failures = 1
                delay = self._backoff(failures)
                self._emit(BridgeEntry(
                    "warn", f"Lost connection to ComfyUI at {self.server_url}: {reason}; reconnecting",
                    {"url": self.url, "client_id": self.client_id, "reason": reason, "retry_in_s": round(delay, 2)},
                ))  # fmt: skip
                outage_reported = True
                await self._sleep(delay)

    async def _follow_until_stopped(self, websocket: aiohttp.ClientWebSocketResponse) -> str:
        async def close_on_stop() -> None:
            await self._stopping.wait()
            # Closing ends the pending receive at once instead of at ComfyUI's next frame.
            await websocket.close()

        closer = asyncio.create_task(close_on_stop())
        try:
            return await self._follow(websocket)
        finally:
            closer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await closer

    async def _follow(self, websocket: aiohttp.ClientWebSocketResponse) -> str:
        """Handle frames until the connection ends; returns why it ended."""
        try:
            async for frame in websocket:
                if frame.type == aiohttp.WSMsgType.TEXT:
                    self.handle_text(frame.data)
                elif frame.type == aiohttp.WSMsgType.ERROR:
                    return f"WebSocket error: {websocket.exception()}"
                # BINARY frames are preview images: nothing to log.
            code = websocket.close_code
            return f"closed by server (code {code})" if code is not None else "connection closed"
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            return f"{type(exc).__name__}: {exc}"
        finally:
            await websocket.close()

    def _backoff(self, failures: int) -> float:
        ceiling = min(self.backoff_max_s, self.backoff_initial_s * 2 ** (failures - 1))
        # Jitter so that many bridges do not reconnect to a restarted server in lockstep.
        return random.uniform(ceiling / 2, ceiling)

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            pass

    # --- messages ---

    def handle_text(self, text: str) -> None:
        """One text frame; malformed ones become verbose warnings."""
        try:
            message = json.loads(text)
        except ValueError as exc:
            self._malformed(text, f"invalid JSON: {exc}")
            return
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            self._malformed(text, "not an object with a string 'type'")
            return
        data = message.get("data")
        if data is None:
            data = {}
        if not isinstance(data, dict):
            self._malformed(text, "'data' is not an object")
            return
        self.handle_message(message["type"], data)

    def handle_message(self, message_type: str, data: Mapping[str, Any]) -> None:
        try:
            entry = translate_message(message_type, data)
        except Exception as exc:  # a shape we did not foresee must not end the bridge
            log.debug("cannot translate ComfyUI %s message", message_type, exc_info=True)
            self._malformed(json.dumps({"type": message_type, "data": data}, default=str), f"{type(exc).__name__}: {exc}")
            return
        if entry is None or not self._should_send(message_type, entry):
            return
        self._emit(entry)
        if message_type in ("execution_success", "execution_error", "execution_interrupted"):
            self._forget_progress(entry.prompt_id)

    def _should_send(self, message_type: str, entry: BridgeEntry) -> bool:
        if message_type == "status":
            remaining = entry.fields.get("queue_remaining")
            if remaining == self._last_queue_remaining:
                return False
            self._last_queue_remaining = remaining
            return True
        if message_type == "progress":
            step, total = entry.fields.get("step"), entry.fields.get("total")
            final = step is not None and step == total
            return self._progress_due((entry.prompt_id, entry.fields.get("node_id")), final)
        if message_type == "progress_state":
            return self._progress_due((entry.prompt_id, "progress_state"), final=False)
        return True

    def _progress_due(self, key: tuple[str | None, str | None], final: bool) -> bool:
        now = self.clock()
        last = self._progress_sent.get(key)
        if not final and last is not None and now - last < self.progress_interval_s:
            return False
        self._progress_sent[key] = now
        self._progress_sent.move_to_end(key)
        while len(self._progress_sent) > 4 * self.max_tracked_prompts:  # bound for never-finished prompts
            self._progress_sent.popitem(last=False)
        return True

    def _forget_progress(self, prompt_id: str | None) -> None:
        for key in [key for key in self._progress_sent if key[0] == prompt_id]:
            del self._progress_sent[key]

    def _malformed(self, text: str, reason: str) -> None:
        self._emit(BridgeEntry(
            "warn", f"Malformed ComfyUI message: {reason}", {"raw": text[:MAX_RAW_CHARS]}, category="verbose",
        ))  # fmt: skip

    def _emit(self, entry: BridgeEntry) -> None:
        builder = sdk_shim.curated(entry.level, entry.message).with_source("comfyui").with_fields(entry.fields)
        tracked = self._tracked.get(entry.prompt_id) if entry.prompt_id else None
        if tracked is not None:
            for value, method in (
                (tracked.job_id, builder.with_job),
                (tracked.project_id, builder.with_project),
                (tracked.user_id, builder.with_user),
            ):
                if value is not None:
                    method(value)
        attributes = builder.attributes()
        attributes[attr.CATEGORY] = entry.category
        severity, severity_text = sdk_shim.LEVEL_SEVERITY[entry.level]
        sdk_shim.get_provider().get_logger(_SCOPE).emit(
            severity_number=severity,
            severity_text=severity_text,
            body=entry.message,
            attributes=attributes,
            context=tracked.context if tracked is not None else None,
        )


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sdk_shim.comfyui",
        description="Send a ComfyUI server's events to Activity Console over OTLP. The exporter is "
        "configured by the standard OTEL_EXPORTER_OTLP_* variables (endpoint, headers with the "
        "ingest token, protocol).",
    )
    parser.add_argument("--url", required=True, help="ComfyUI server, e.g. ws://127.0.0.1:8188")
    parser.add_argument("--client-id", help="clientId to connect with (default: a random one)")
    parser.add_argument("--service-name", default=None, help="service.name (default: OTEL_SERVICE_NAME or comfyui-bridge)")
    parser.add_argument("--progress-interval", type=float, default=1.0, help="seconds between progress entries per node")
    parser.add_argument("--log-level", default="WARNING", help="the bridge's own console log level")
    return parser.parse_args(argv)


async def _serve(bridge: ComfyUIBridge) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, bridge.stop)
    try:
        await bridge.run()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    service_name = args.service_name or os.environ.get("OTEL_SERVICE_NAME") or "comfyui-bridge"
    # The bridge's own stdlib logs stay on the console; only ComfyUI's events go to the console.
    sdk_shim.configure(service_name=service_name, source="comfyui", bridge_logging=False)
    try:
        bridge = ComfyUIBridge(args.url, client_id=args.client_id, progress_interval_s=args.progress_interval)
        asyncio.run(_serve(bridge))
    finally:
        sdk_shim.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
