"""Security headers on every response of the API and console server.

- ``Content-Security-Policy``: the console is one origin's own scripts, styles and API (the
  WebSocket live tail is same-origin, which ``connect-src 'self'`` covers); nothing inline, no
  plugins, no ``<base>``, no framing, forms post only here. The built console (``ui/dist``) loads
  only ``/assets/*`` files; React sets styles through the DOM, which ``style-src`` does not
  govern; the favicon is a ``data:`` image.
- ``X-Content-Type-Options``, ``X-Frame-Options`` and ``Referrer-Policy`` for older browsers
  and for what CSP does not cover.
- ``Server: activity-console`` instead of aiohttp's and Python's versions.
- ``Cache-Control: no-store`` on ``/api/`` responses whose handler did not choose otherwise:
  they carry tokens (login) and logs, which must not stay in caches.
"""

from __future__ import annotations

from aiohttp import web

from api.errors import API_PREFIX

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
])  # fmt: skip

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Server": "activity-console",
}


async def _add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)
    if request.path.startswith(API_PREFIX):
        response.headers.setdefault("Cache-Control", "no-store")


def setup(app: web.Application) -> None:
    """Add the headers to every response ``app`` prepares."""
    app.on_response_prepare.append(_add_security_headers)
