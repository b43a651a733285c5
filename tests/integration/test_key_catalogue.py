"""The key catalogue end to end: keys of what the writer commits (Python-mapped rows and OTLP
requests on the fast path) reach ``log_keys`` and ``GET /api/v1/activity-logs/keys``, scoped as
entries are; its bounds, its validation, and retention's expiry."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import aiohttp
import pytest

from collector import copy_rows, key_catalogue
from collector.copy_rows import RequestRecords, encode_copy_rows
from tests.support.api import call, make_project, make_user, row, store
from tests.support.otlp import request_with

pytestmark = pytest.mark.timeout(60)
PROTOBUF = {"Content-Type": "application/x-protobuf"}


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as client:
        yield client


async def write_catalogue(server) -> int:
    async with server.runtime.pool.acquire() as conn:
        return await server.runtime.key_catalogue.write(conn)


def keys_of(body) -> set[tuple[str, str]]:
    return {(k["scope"], k["key"]) for k in body["data"]}


async def test_keys_of_committed_entries_scoped_as_entries_are(server, db, session):
    mine, theirs = await make_project(db, "mine"), await make_project(db, "theirs")
    creator = await make_user(db, "creator@example.com", project_ids=(mine,))
    admin = await make_user(db, "admin@example.com", "admin")
    await store(server, [
        row("a", project_id=mine, fields={"gpu": 1, "prompt_id": "p"}, resource={"host.name": "h1"}),
        row("b", project_id=theirs, fields={"their.secret": True, "gpu": "1"}),
        row("c", fields={"unscoped": 1.5}),
        row("d", fields={"admin.only": 1}, admin_only=True),
        row("e", user_id=creator.user_id, fields={"by.user": 1}),  # decided per row: admins only
    ])  # fmt: skip
    # And through OTLP/HTTP, the native fast path where it is built.
    request = request_with([{"body": "otlp", "attributes": {"http.status_code": 503, "activity.project.id": mine}}],
                           resource={"service.name": "render-worker", "k8s.pod.name": "pod-1"})  # fmt: skip
    async with session.post(server.otlp_http_url, data=request.SerializeToString(),
                            headers={**PROTOBUF, "Authorization": f"Bearer {server.token}"}) as response:  # fmt: skip
        assert response.status == 200
    assert await write_catalogue(server) > 0

    status, body, _ = await call(session, server, "GET", "/api/v1/activity-logs/keys", creator)
    assert status == 200, body
    assert keys_of(body) == {("field", "gpu"), ("field", "prompt_id"), ("resource", "host.name"), ("field", "unscoped"),
                             ("field", "http.status_code"), ("resource", "service.name"), ("resource", "k8s.pod.name")}  # fmt: skip
    gpu = next(k for k in body["data"] if k["key"] == "gpu")
    assert gpu["types"] == ["int"]  # the string "1" was in the other project's entry

    status, body, _ = await call(session, server, "GET", "/api/v1/activity-logs/keys", admin)
    assert keys_of(body) >= {("field", "their.secret"), ("field", "admin.only"), ("field", "by.user")}
    assert next(k for k in body["data"] if k["key"] == "gpu")["types"] == ["int", "string"]

    status, body, _ = await call(session, server, "GET", "/api/v1/activity-logs/keys", creator,
                                 params={"prefix": "http.", "limit": "5"})  # fmt: skip
    assert keys_of(body) == {("field", "http.status_code")}
    # A creator cannot reach another project's keys by prefix either.
    status, body, _ = await call(session, server, "GET", "/api/v1/activity-logs/keys", creator, params={"prefix": "their"})
    assert body["data"] == []


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "501"}, {"limit": "x"}, {"limit": "١"},
                                    {"prefix": "k" * 129}, {"prefix": "a\x00"}, {"keys": "1"}])  # fmt: skip
async def test_bad_parameters_are_400(server, db, session, params):
    admin = await make_user(db, "admin@example.com", "admin")
    status, body, _ = await call(session, server, "GET", "/api/v1/activity-logs/keys", admin, params=params)
    assert status == 400, body
    assert body["error"]


async def test_needs_a_token(server, session):
    status, _, _ = await call(session, server, "GET", "/api/v1/activity-logs/keys")
    assert status == 401


async def test_a_bucket_stops_taking_new_keys_at_its_bound(server, db, monkeypatch):
    monkeypatch.setattr(key_catalogue, "MAX_KEYS_PER_BUCKET", 3)
    await store(server, [row("a", fields={f"first{i}": 1 for i in range(4)})])
    await write_catalogue(server)
    before = await db.fetchval("SELECT max(last_seen) FROM log_keys WHERE key = 'first0'")
    await store(server, [row("b", fields={"later": 1, "first0": 2})])
    server.runtime.key_catalogue._known.clear()  # as after KNOWN_TTL_S: first0 is written again
    await write_catalogue(server)
    keys = {r["key"] for r in await db.fetch("SELECT key FROM log_keys WHERE bucket = 0")}
    assert "later" not in keys and {"first0", "first1", "first2", "first3"} <= keys
    assert await db.fetchval("SELECT max(last_seen) FROM log_keys WHERE key = 'first0'") >= before


async def test_retention_forgets_keys_not_seen_within_the_longest_retention(server, db):
    old = datetime.now(timezone.utc) - timedelta(days=400)
    await db.execute("INSERT INTO log_keys VALUES (0, 'field', 'ancient', 'int', $1), (0, 'field', 'recent', 'int', now())",
                     old)  # fmt: skip
    await server.runtime.retention.run_once()
    assert {r["key"] for r in await db.fetch("SELECT key FROM log_keys")} == {"recent"}
    assert server.runtime.retention.expired_keys >= 1


async def test_a_failed_write_keeps_the_keys_for_the_next(server, db):
    await store(server, [row("a", fields={"kept": 1})])
    catalogue = server.runtime.key_catalogue
    await db.execute("ALTER TABLE log_keys RENAME TO log_keys_away")
    try:
        with pytest.raises(Exception):
            await write_catalogue(server)
    finally:
        await db.execute("ALTER TABLE log_keys_away RENAME TO log_keys")
    assert catalogue.pending >= 1
    await write_catalogue(server)
    assert await db.fetchval("SELECT count(*) FROM log_keys WHERE key = 'kept'") == 1


async def test_keys_read_at_encoding_serve_a_request_committed_whole_only(server, db, monkeypatch):
    """The fast path reads a request's keys as it encodes it (``RequestRecords.catalogue_keys``):
    the writer hands those to the catalogue without reading the tuples again, but a request the
    database refused a row of is read again from what committed, so that the refused row's keys
    are not offered."""
    reads = []
    read_tuples = key_catalogue.tuple_keys
    monkeypatch.setattr(key_catalogue, "tuple_keys", lambda part, *args: reads.append(part) or read_tuples(part, *args))

    def request(prefix: str, refused_project: int | None = None) -> RequestRecords:
        rows = [row(f"{prefix} {i}", fields={f"{prefix}.kept": i}) for i in range(5)]
        if refused_project is not None:
            rows[2].project_id = refused_project
            rows[2].fields = {f"{prefix}.refused.only": 1}
        tuples = encode_copy_rows(rows, range(len(rows)))
        return RequestRecords([], tuples, len(rows), read_tuples(tuples, key_catalogue.MAX_KEYS_PER_REQUEST))

    writer = server.runtime.writer
    result = await writer.submit(request("whole"))
    assert (result.accepted, result.rejected, reads) == (5, 0, [])

    await db.execute("ALTER TABLE activity_logs ADD CONSTRAINT test_no_huge_projects CHECK (project_id < 2^61)")
    try:
        result = await writer.submit(request("partly", refused_project=2**62))
    finally:
        await db.execute("ALTER TABLE activity_logs DROP CONSTRAINT test_no_huge_projects")
    assert (result.accepted, result.rejected) == (4, 1)
    assert reads, "the keys of a request committed in part must be read from what committed"

    await write_catalogue(server)
    keys = {r["key"] for r in await db.fetch("SELECT key FROM log_keys")}
    assert {"whole.kept", "partly.kept"} <= keys and "partly.refused.only" not in keys


async def test_keys_that_cannot_be_read_at_encoding_are_read_at_commit(server, db, session, monkeypatch):
    """Reading the keys early is an optimisation: when it fails the request is still stored, and
    its keys are read from what committed."""
    native = copy_rows.native_module()
    if native is None:
        pytest.skip("the native fast path is not built (or ACTIVITY_NATIVE=off)")

    class KeysFail:
        def __getattr__(self, name):
            return getattr(native, name)

        def tuple_keys(self, *args):
            raise ValueError("a bug reading keys")

    monkeypatch.setattr(server.runtime.ingest, "_native", KeysFail())
    request = request_with([{"body": "late keys", "attributes": {"read.at.commit": 1}}])
    async with session.post(server.otlp_http_url, data=request.SerializeToString(),
                            headers={**PROTOBUF, "Authorization": f"Bearer {server.token}"}) as response:  # fmt: skip
        assert response.status == 200
    await write_catalogue(server)
    assert await db.fetchval("SELECT count(*) FROM log_keys WHERE key = 'read.at.commit'") == 1
