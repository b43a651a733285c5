"""Connection guard for the HTTP listeners (the API/console site and the OTLP/HTTP site), so that
clients that open connections and never finish a request (slowloris) cannot make the server
unreachable by exhausting its connections or file descriptors.

What it enforces, per listener (``ConnectionLimits``, from ``Settings``):

- **Header timeout**: once the first byte of a request has arrived, its headers must be complete
  within ``header_timeout_s``, otherwise the connection is closed. Before that first byte, and
  between requests, the idle keep-alive timeout applies.
- **Idle keep-alive timeout**: ``keepalive_timeout_s`` between requests, and for a new connection
  that sends nothing (aiohttp's own keep-alive timer, whose default would be an hour). That timer
  also closes a connection still sending its first request's headers at ``keepalive_timeout_s``
  after it opened, whichever comes first.
- **Connection cap** (``max_connections``): at the cap, a new connection evicts the oldest
  connection that is not busy (idle keep-alive, still sending its headers, or draining an unread
  body after its answer). "Busy" means a handler is running for it; a WebSocket is busy for its
  whole life. Evicted connections are aborted (``transport.abort()``): nothing is flushed, no buffer
  lingers.
- **Reserve** (``reserved_connections``, API only): when every connection is busy, a new connection
  is admitted into the reserve while there is room (and an idle reserve connection is evicted for
  it when there is not, so that idle clients cannot hold the reserve either). On a reserve
  connection ``reserve_middleware`` lets through only ``/healthz``, ``/readyz``,
  ``POST /api/v1/auth/login``, the console's static files (paths not under ``/api/`` or ``/ws/``)
  and ``/api/v1/`` requests of an admin; anything else gets 503 with ``Retry-After``. Reserve
  connections are never kept alive. Beyond cap + reserve, with every connection busy, a new
  connection is aborted at once.
- **File descriptors**: ``fit_to_open_file_limit`` raises the soft ``RLIMIT_NOFILE`` to the hard
  limit and lowers the caps (with a warning) when ``2 × (max + reserve) + FD_HEADROOM`` does not fit.

How: ``GuardedAppRunner`` builds a ``GuardedServer`` (a ``web.Server``) that makes
``GuardedRequestHandler``s (aiohttp's ``RequestHandler``); ``start_guarded_site`` listens with it.
aiohttp is pinned (3.14.5), and these classes rely on its internals, each override marked "aiohttp
internals" below. What they read of ``RequestHandler``: ``_messages`` (parsed requests not yet
handled), ``_waiter`` (set while ``start()`` waits for the next request), ``_request_count``,
``_upgraded``, ``_loop``; what they override: ``data_received``, ``connection_lost``,
``_handle_request`` (one call per request, around the handler), ``finish_response``; of
``web.Server``: ``__call__``, ``connection_made``/``connection_lost`` (called by each handler),
``_kwargs``, ``_loop``; of ``AppRunner``: ``_make_server``. tests/system/test_connection_limits.py checks
that these still exist and still behave as relied upon.
"""

from __future__ import annotations

import logging
import resource
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from api.errors import API_PREFIX, error_response
from api.security import API_V1, PRINCIPAL, Handler, auth_middleware
from api.settings import Settings

log = logging.getLogger(__name__)

# File descriptors kept free of HTTP connections: database connections, gRPC, files, the event
# loop's own. Also absorbs connections accepted in one burst before the cap evicts for them.
FD_HEADROOM = 256
# Listeners with a cap: the API/console site and the OTLP/HTTP site.
GUARDED_LISTENERS = 2
# How long a client refused on the reserve is told to wait: busy connections are requests and
# WebSockets, which come and go in seconds.
RESERVE_RETRY_AFTER_S = 5
# At most one "at the cap" warning per listener this often: an attack would otherwise log (and
# store, through the server's own log capture) one line per connection.
CAP_WARNING_INTERVAL_S = 60.0

LOGIN_PATH = "/api/v1/auth/login"
HEALTH_PATHS = frozenset({"/healthz", "/readyz"})
# Paths of the API and the WebSocket; everything else on the API site is the console's static files.
SERVER_PREFIXES = (API_PREFIX, "/ws/")


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """The limits of one listener."""

    listener: str  # for log messages: "API", "OTLP/HTTP"
    max_connections: int
    reserved_connections: int
    header_timeout_s: float
    keepalive_timeout_s: float


def api_limits(settings: Settings) -> ConnectionLimits:
    return ConnectionLimits("API", settings.max_connections, settings.reserved_connections,
                            settings.header_timeout_s, settings.keepalive_timeout_s)  # fmt: skip


def otlp_http_limits(settings: Settings) -> ConnectionLimits:
    # No reserve: OTLP/HTTP has no health check, login or admin to let through.
    return ConnectionLimits("OTLP/HTTP", settings.max_connections, 0,
                            settings.header_timeout_s, settings.keepalive_timeout_s)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ConnectionCounts:
    """A snapshot of one listener's connections (diagnostics and tests)."""

    regular: int
    reserve: int
    busy: int
    evicted: int  # since start
    refused: int  # since start


# --- file descriptors --------------------------------------------------------------------------


def raise_open_file_limit() -> int | None:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit; returns the soft limit now in force
    (None: unlimited)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard and soft != resource.RLIM_INFINITY:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:  # e.g. an unlimited hard limit the kernel will not grant
            log.debug("could not raise the open-file limit from %d to %d: %s", soft, hard, exc)
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


def connection_caps_for_file_limit(max_connections: int, reserved_connections: int, file_limit: int) -> tuple[int, int]:
    """``(max_connections, reserved_connections)`` lowered, when needed, so that both guarded
    listeners at their caps fit in ``file_limit`` with ``FD_HEADROOM`` to spare. The reserve keeps
    its size unless it would be more than a quarter of what a listener gets."""
    if GUARDED_LISTENERS * (max_connections + reserved_connections) + FD_HEADROOM <= file_limit:
        return max_connections, reserved_connections
    per_listener = max((file_limit - FD_HEADROOM) // GUARDED_LISTENERS, 2)
    reserved = min(reserved_connections, per_listener // 4)
    return per_listener - reserved, reserved


def fit_to_open_file_limit(settings: Settings) -> Settings:
    """Settings whose connection caps fit the process's open-file limit, after raising its soft
    limit to the hard one. Called once at start-up, before the listeners exist."""
    file_limit = raise_open_file_limit()
    if file_limit is None:
        return settings
    max_connections, reserved = connection_caps_for_file_limit(
        settings.max_connections, settings.reserved_connections, file_limit
    )
    if (max_connections, reserved) == (settings.max_connections, settings.reserved_connections):
        return settings
    log.warning(
        "the open-file limit is %d, too low for %d connections per HTTP listener plus %d reserved "
        "(2 × (max + reserve) + %d must fit): lowered to %d plus %d reserved; raise the hard limit "
        "(ulimit -Hn, systemd LimitNOFILE=) or set ACTIVITY_MAX_CONNECTIONS to silence this",
        file_limit, settings.max_connections, settings.reserved_connections, FD_HEADROOM, max_connections, reserved,
    )  # fmt: skip
    return settings.model_copy(update={"max_connections": max_connections, "reserved_connections": reserved})


# --- the protocol, server and runner -----------------------------------------------------------


class GuardedRequestHandler(RequestHandler):
    """aiohttp's per-connection protocol, plus the header timeout, the busy state the cap needs and
    the reserve's no-keep-alive rule."""

    __slots__ = ("on_reserve", "busy", "_guard", "_header_timeout_s", "_header_deadline")

    def __init__(self, manager: GuardedServer, *, header_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self.on_reserve = False
        self.busy = False  # a handler is running for this connection
        # aiohttp drops its _manager when the connection is lost; the busy count still needs it.
        self._guard = manager
        self._header_timeout_s = header_timeout_s
        self._header_deadline: Any = None  # asyncio.TimerHandle while a request's headers are awaited

    @property
    def is_idle(self) -> bool:
        """Evictable: no handler running and no parsed request waiting for one (aiohttp internals:
        ``_messages``)."""
        return not self.busy and not self._messages

    def _awaiting_request_head(self) -> bool:
        # Bytes arriving now start a request's headers when nothing is being handled or queued and
        # start() waits for the next request (aiohttp internals: ``_waiter``), or no request has
        # been parsed yet. Bytes of a body being drained after its answer (start() is not waiting
        # then) or of a WebSocket (``_upgraded``) are not headers.
        return self.is_idle and not self._upgraded and (self._waiter is not None or self._request_count == 0)

    def data_received(self, data: bytes) -> None:  # aiohttp internals: the parser runs in here
        if self._header_deadline is None and self._awaiting_request_head():
            self._header_deadline = self._loop.call_later(self._header_timeout_s, self._header_timed_out)
        super().data_received(data)
        if self._header_deadline is not None and self._messages:  # the headers are complete
            self._header_deadline.cancel()
            self._header_deadline = None

    def _header_timed_out(self) -> None:
        self._header_deadline = None
        if self.is_idle:
            self.force_close()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None
        super().connection_lost(exc)

    async def _handle_request(self, request: BaseRequest, start_time: float | None, request_handler: Any) -> Any:
        # aiohttp internals: start() runs each request's handler, a WebSocket's whole life included,
        # inside this coroutine, and it returns (response, reset).
        self._guard.handler_started(self)
        try:
            return await super()._handle_request(request, start_time, request_handler)
        finally:
            self._guard.handler_finished(self)

    async def finish_response(
        self, request: BaseRequest, resp: StreamResponse, start_time: float | None
    ) -> tuple[StreamResponse, bool]:
        # aiohttp internals: every response of a request passes here, and start() keeps the
        # connection only when the response's keep_alive is true. A response a handler has already
        # sent (streamed) goes out without "Connection: close", but the connection still ends.
        if self.on_reserve and isinstance(resp, StreamResponse):
            resp.force_close()
        return await super().finish_response(request, resp, start_time)


class GuardedServer(web.Server):
    """aiohttp's connection factory for one listener, with the cap, eviction and reserve."""

    def __init__(self, handler: Any, *, limits: ConnectionLimits, **kwargs: Any) -> None:
        kwargs["keepalive_timeout"] = limits.keepalive_timeout_s
        super().__init__(handler, **kwargs)
        self.limits = limits
        # Connection → transport, oldest first (dicts keep insertion order).
        self._regular: dict[GuardedRequestHandler, Any] = {}
        self._reserve: dict[GuardedRequestHandler, Any] = {}
        self._busy_regular = 0  # regular connections with a running handler: skips the scan when all are
        self._evicted = 0
        self._refused = 0
        self._next_cap_warning = 0.0

    def __call__(self) -> GuardedRequestHandler:  # aiohttp internals: one protocol per connection
        timeout = self.limits.header_timeout_s
        return GuardedRequestHandler(self, loop=self._loop, header_timeout_s=timeout, **self._kwargs)

    def counts(self) -> ConnectionCounts:
        busy = sum(h.busy for h in self._regular) + sum(h.busy for h in self._reserve)
        return ConnectionCounts(len(self._regular), len(self._reserve), busy, self._evicted, self._refused)

    def connection_made(self, handler: RequestHandler, transport: Any) -> None:
        super().connection_made(handler, transport)
        assert isinstance(handler, GuardedRequestHandler)
        self._admit(handler, transport)

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        super().connection_lost(handler, exc)
        self._forget(handler)  # type: ignore[arg-type]

    def handler_started(self, handler: GuardedRequestHandler) -> None:
        handler.busy = True
        if handler in self._regular:
            self._busy_regular += 1

    def handler_finished(self, handler: GuardedRequestHandler) -> None:
        handler.busy = False
        if handler in self._regular:
            self._busy_regular -= 1

    def _admit(self, handler: GuardedRequestHandler, transport: Any) -> None:
        limits = self.limits
        if len(self._regular) >= limits.max_connections:
            self._warn_at_cap()
            victim = self._oldest_idle_regular()
            if victim is None:  # every regular connection is busy: the reserve, if any
                if len(self._reserve) >= limits.reserved_connections:
                    victim = next((h for h in self._reserve if h.is_idle), None)
                    if victim is None:
                        self._refused += 1
                        transport.abort()
                        return
                    self._evict(victim)
                handler.on_reserve = True
                self._reserve[handler] = transport
                return
            self._evict(victim)
        self._regular[handler] = transport

    def _oldest_idle_regular(self) -> GuardedRequestHandler | None:
        if self._busy_regular >= len(self._regular):
            return None
        return next((h for h in self._regular if h.is_idle), None)

    def _evict(self, victim: GuardedRequestHandler) -> None:
        transport = self._regular.get(victim) or self._reserve.get(victim)
        self._forget(victim)
        self._evicted += 1
        transport.abort()  # its connection_lost follows, from the event loop

    def _forget(self, handler: GuardedRequestHandler) -> None:
        if self._regular.pop(handler, None) is not None and handler.busy:
            self._busy_regular -= 1
        self._reserve.pop(handler, None)

    def _warn_at_cap(self) -> None:
        now = self._loop.time()
        if now >= self._next_cap_warning:
            self._next_cap_warning = now + CAP_WARNING_INTERVAL_S
            log.warning(
                "%s listener at its cap of %d connections (+%d reserved): evicting idle ones "
                "(%d evicted, %d refused so far)",
                self.limits.listener, self.limits.max_connections, self.limits.reserved_connections,
                self._evicted, self._refused,
            )  # fmt: skip


class GuardedAppRunner(web.AppRunner):
    """``web.AppRunner`` whose server is a ``GuardedServer`` with ``limits``."""

    __slots__ = ("limits",)

    def __init__(self, app: web.Application, limits: ConnectionLimits, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.limits = limits

    async def _make_server(self) -> GuardedServer:
        # aiohttp internals: AppRunner._make_server runs the application's start-up and builds a
        # plain web.Server with the handler's arguments assembled (access log, debug, the runner's
        # keyword arguments); the guarded server is built from the same parts.
        plain = await super()._make_server()
        return GuardedServer(
            plain.request_handler, limits=self.limits, request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation, loop=plain._loop, **plain._kwargs,
        )  # fmt: skip


async def start_guarded_site(runner: GuardedAppRunner, host: str | None, port: int, *,
                             reuse_port: bool = False) -> tuple[web.TCPSite, int]:  # fmt: skip
    """Listen on ``host:port`` with the runner's guarded server (``runner.setup()`` first); returns
    the site and the port it is bound to (``port`` 0 = any free port). Every HTTP listener of the
    server, and the tests' servers, start through here. ``reuse_port``: the processes of
    ``serve --workers`` share the port (SO_REUSEPORT: the kernel spreads connections)."""
    server = runner.server
    if not isinstance(server, GuardedServer):
        raise TypeError("start_guarded_site needs a GuardedAppRunner that has been set up")
    if server.limits.reserved_connections and not _checks_the_reserve(runner.app):
        raise ValueError("an application with reserved connections needs reserve_middleware after auth_middleware")
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
    await site.start()
    return site, site.port


def _checks_the_reserve(app: web.Application) -> bool:
    middlewares = list(app.middlewares)
    if reserve_middleware not in middlewares:
        return False
    if auth_middleware not in middlewares:
        return True
    return middlewares.index(auth_middleware) < middlewares.index(reserve_middleware)


# --- what a reserve connection may ask for -----------------------------------------------------


def allowed_on_reserve(request: web.Request) -> bool:
    """Health checks, login, the console's static files, and admins' API requests: what an operator
    needs to reach a server whose every regular connection is busy."""
    path = request.path
    if path in HEALTH_PATHS:
        return True
    if path == LOGIN_PATH:
        return request.method == "POST"
    if path.startswith(API_V1):
        principal = request.get(PRINCIPAL)  # set by auth_middleware, which runs first
        return principal is not None and principal.is_admin
    return not path.startswith(SERVER_PREFIXES)


@web.middleware
async def reserve_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """On a reserve connection, refuse what ``allowed_on_reserve`` does not allow with 503 and
    ``Retry-After``. Goes after ``security.auth_middleware``, whose principal it reads; a request
    without a valid token under ``/api/v1/`` is answered 401 by that middleware first."""
    protocol = request.protocol
    if isinstance(protocol, GuardedRequestHandler) and protocol.on_reserve and not allowed_on_reserve(request):
        message = "the server is at its connection limit; retry shortly"
        headers = {"Retry-After": str(RESERVE_RETRY_AFTER_S)}
        if request.path.startswith(API_PREFIX):
            response = error_response(503, "unavailable", message, headers)
        else:
            response = web.Response(status=503, text=message, headers=headers)
        response.force_close()
        return response
    return await handler(request)
