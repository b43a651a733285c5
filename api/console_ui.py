"""Serves the built web console (``ui/dist``): hashed assets with long caching, and
``index.html`` for ``/`` and every client-side route, so that deep links such as
``/tools/activity-console?level=error`` or an entry's permalink
``/tools/activity-console/entries/{id}`` work on reload and in a new tab."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

UI_DIST = Path(__file__).resolve().parents[1] / "ui" / "dist"
# Paths that belong to the server, never to the console's router.
_SERVER_PREFIXES = ("/api/", "/ws/", "/healthz", "/readyz")

_NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>Activity Console</title>
<body style="font-family: system-ui; margin: 3rem">
<h1>Activity Console</h1>
<p>The server is running, but the web console has not been built.
Run <code>make run</code> (it builds <code>ui/</code>), or <code>cd ui && npm ci && npm run build</code>.</p>
<p>The API is at <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</p>
</body>"""


def setup(app: web.Application, dist: Path = UI_DIST) -> None:
    """Register last: the catch-all route must not shadow the API's."""
    index = dist / "index.html"

    async def console(request: web.Request) -> web.StreamResponse:
        if request.path.startswith(_SERVER_PREFIXES):
            raise web.HTTPNotFound()
        try:
            candidate = (dist / request.path.lstrip("/")).resolve()
            is_asset = request.path != "/" and candidate.is_file() and candidate.is_relative_to(dist.resolve())
        except (ValueError, OSError):  # a NUL, or a name longer than the file system allows: no such file
            raise web.HTTPNotFound() from None
        if not index.is_file():
            # no-cache: the page changes as soon as the console is built.
            return web.Response(text=_NOT_BUILT, content_type="text/html", status=503,
                                headers={"Cache-Control": "no-cache"})  # fmt: skip
        if is_asset:
            response = web.FileResponse(candidate)
            if request.path.startswith("/assets/"):
                response.headers["Cache-Control"] = "public, max-age=31536000, immutable"  # content-hashed names
            return response
        response = web.FileResponse(index)
        response.headers["Cache-Control"] = "no-cache"  # always pick up a new build
        return response

    app.router.add_get("/{path:.*}", console)
