"""The built console is served at / with client-side routes falling back to index.html."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api import console_ui


async def client_for(dist) -> TestClient:
    app = web.Application()
    app.router.add_get("/api/v1/ping", lambda request: web.json_response({"ok": True}))
    console_ui.setup(app, dist)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_index_assets_and_client_routes(tmp_path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<div id=root></div>")
    (tmp_path / "assets" / "app-1234.js").write_text("console.log(1)")
    (tmp_path / "favicon.svg").write_text("<svg/>")
    client = await client_for(tmp_path)
    try:
        client_routes = (
            "/",
            "/tools/activity-console",
            "/settings?x=1",
            "/traces/abc",
            "/tools/activity-console/traces/4bf92f3577b34da6a3ce929d0e0e4736",
            "/tools/activity-console/entries/12345",  # an entry's permalink, opened in a new tab
        )
        for path in client_routes:
            response = await client.get(path)
            assert response.status == 200 and await response.text() == "<div id=root></div>", path
            assert response.headers["Cache-Control"] == "no-cache"
        asset = await client.get("/assets/app-1234.js")
        assert asset.status == 200 and "immutable" in asset.headers["Cache-Control"]
        assert (await client.get("/favicon.svg")).status == 200
        assert (await client.get("/api/v1/ping")).status == 200
        assert (await client.get("/api/v1/nope")).status == 404  # never the console's index
        assert (await client.get("/ws/nope")).status == 404
        escape = await client.get("/..%2f..%2fetc/passwd")
        assert escape.status == 200 and await escape.text() == "<div id=root></div>"
    finally:
        await client.close()


async def test_a_helpful_page_when_the_console_is_not_built(tmp_path):
    client = await client_for(tmp_path / "missing")
    try:
        response = await client.get("/tools/activity-console")
        assert response.status == 503 and "make run" in await response.text()
    finally:
        await client.close()
