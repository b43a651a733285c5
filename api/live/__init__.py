"""The WebSocket live tail: ``GET /ws/activity-logs``, every committed entry a client may see, as it
is committed.

- ``protocol``: the messages (the contract's models) and the frames.
- ``matcher``: which entries a client receives, the twin of ``repository.where_clause``.
- ``connection``: one client: authentication, subscription, replay and its sender task.
- ``registry``: every open connection, the account re-checks, shared frames and shutdown.

Rules every connection follows:

- The token travels in the first message, never in the URL (URLs end up in access logs).
- ``Origin``, when the browser sends one, must be one of ``Settings.allowed_origins`` (default: the
  server's own origin, ``http(s)://<Host>``): browsers let any site open a WebSocket to any host
  with the user's cookies, so a foreign page must not be able to read the tail (cross-site
  WebSocket hijacking).
- A foreign origin, a missing/invalid/expired token or a first message other than ``auth`` closes
  the connection with 1008 (policy violation). Server shutdown closes with 1001 (going away).
- The account behind an open connection is re-read every ``live_recheck_s`` (10 s): a deleted
  account is closed with 1008, a changed role or project membership re-scopes the connection (what
  is still queued too); the connection is closed with 1008 when its token expires. A user holds at
  most ``live_tails_per_user`` connections (20); more are closed with 1008.
- A client that does not accept a frame within ``live_send_timeout_s`` (10 s) is disconnected: its
  socket is aborted, which frees the kernel buffers a client that never reads would pin.
- Refused origins and failed authentications are counted into one admin-only report per minute
  (api/security_events.py), never an entry each.
"""

from __future__ import annotations

import time
from typing import Any, AsyncIterator, Callable

from aiohttp import WSCloseCode, web

from api import security
from api.background import background
from api.live.connection import CLOSE_TIMEOUT_S, LiveConnection, close_socket
from api.live.matcher import EntryMatcher, JobProjects
from api.live.registry import LiveRegistry
from api.runtime import RUNTIME
from api.security_events import SECURITY_EVENTS
from api.server_entries import server_entry
from collector.contract import LIVE_CLIENT_MESSAGE_MAX_BYTES
from collector.model import ActivityRow

__all__ = [
    "PATH", "REGISTRY", "EntryMatcher", "JobProjects", "LiveConnection", "LiveRegistry", "close_live_tail",
    "handle_live_tail", "live_tail_ctx", "setup",
]  # fmt: skip

PATH = "/ws/activity-logs"
HEARTBEAT_S = 30.0

REGISTRY = web.AppKey("live_registry", LiveRegistry)


def _event_row(message: str, principal: security.Principal | None, fields: dict[str, Any]) -> ActivityRow:
    """A connect or disconnect: verbose, and visible to the user it is about (their own user id)."""
    return server_entry(message, scope_name=__name__, fields=fields, admin_only=False,
                        user_id=principal.user_id if principal else None)  # fmt: skip


async def handle_live_tail(request: web.Request) -> web.WebSocketResponse:
    registry = request.app[REGISTRY]
    ws = web.WebSocketResponse(
        heartbeat=HEARTBEAT_S, max_msg_size=LIVE_CLIENT_MESSAGE_MAX_BYTES, compress=False, timeout=CLOSE_TIMEOUT_S
    )
    await ws.prepare(request)
    if registry.closing:
        await close_socket(ws, WSCloseCode.GOING_AWAY, b"server shutting down")
        return ws
    if not registry.origin_allowed(request):
        registry.events.record("refused_origin", request.remote, request.headers.get("Origin"))
        await close_socket(ws, WSCloseCode.POLICY_VIOLATION, b"origin not allowed")
        return ws
    connection = registry.open(ws, request)
    try:
        if await connection.authenticate(request.app):
            registry.log_row(
                _event_row("live tail client connected", connection.principal, {
                    "connection_id": connection.id, "remote": connection.remote,
                    "email": connection.principal.email if connection.principal else None,
                })  # fmt: skip
            )
            try:
                await connection.serve()
            finally:
                await connection.stop_sender()
                registry.log_row(
                    _event_row("live tail client disconnected", connection.principal, {
                        "connection_id": connection.id, "remote": connection.remote,
                        "duration_s": round(time.monotonic() - connection.connected_at, 3),
                        "delivered": connection.stats.delivered, "skipped": connection.stats.skipped,
                        "close_code": ws.close_code,
                    })  # fmt: skip
                )
    finally:
        registry.forget(connection)
        connection.finished.set()
    return ws


async def live_tail_ctx(app: web.Application) -> AsyncIterator[None]:
    """The cleanup_ctx step: binds the registry once the pool and writer run; unwinding closes
    whatever is still open (``on_shutdown`` has normally closed everything already)."""
    runtime = app[RUNTIME]
    registry = app[REGISTRY]
    registry.attach(runtime.hub, runtime.pool, runtime.submit_server_row, app[SECURITY_EVENTS])
    # A role, account or membership changed by any process applies to open tails at once.
    for table in ("users", "project_members"):
        runtime.commit_feed.on_change(table, registry.recheck_soon)
    try:
        async with background(registry.watch_accounts(), "live-tail-accounts"):
            yield
    finally:
        await registry.close_all()


async def close_live_tail(app: web.Application) -> None:
    """``on_shutdown``: aiohttp waits for running handlers (up to its shutdown timeout) before
    cleanup_ctx unwinds, so the sockets must be closed here for shutdown to be prompt."""
    registry = app.get(REGISTRY)
    if registry is not None:
        await registry.close_all()


def setup(app: web.Application) -> Callable[[web.Application], AsyncIterator[None]]:
    """Add the route, the registry and the shutdown hook; returns the cleanup_ctx step for
    ``create_app`` to place after the writer's."""
    settings = app[RUNTIME].settings
    app[REGISTRY] = LiveRegistry(
        queue_capacity=settings.live_queue_capacity, auth_timeout_s=settings.live_auth_timeout_s,
        allowed_origins=settings.allowed_origins, recheck_s=settings.live_recheck_s,
        send_timeout_s=settings.live_send_timeout_s, tails_per_user=settings.live_tails_per_user,
    )  # fmt: skip
    app.router.add_get(PATH, handle_live_tail)
    app.on_shutdown.append(close_live_tail)
    return live_tail_ctx
