"""Several server processes on one database (docs/replicas.md): every live-tail client, on any
of them, gets every matching entry exactly once and in id order, and one that resumes on another
replica with ``after_id`` misses nothing and repeats nothing, although the replicas flush
concurrently and, without waiting for their turn, commit out of id order."""

from __future__ import annotations

import asyncio
import json
import random

import aiohttp
import asyncpg
import pytest

from api.live import REGISTRY
from collector.auth import hash_token
from collector.db.repository import LogFilter, Scope, query_logs
from collector.writer import BatchWriter
from tests.support.api import token_for
from tests.support.live import connect, receive_json, row
from tests.support.otlp import request_with
from tests.support.server import start_server, wait_for

pytestmark = pytest.mark.timeout(120)

SHARED_SECRET = "a-jwt-secret-the-replicas-share-0123456789"


async def _collect(ws, received: list[int]) -> None:
    """Every entry id the socket gets, up to the entry "replicated end"."""
    while True:
        frame = await receive_json(ws, timeout=60)
        assert frame["type"] == "entries", frame
        received.extend(e["id"] for e in frame["entries"])
        if any(e["message"] == "replicated end" for e in frame["entries"]):
            return


class FlushLog:
    """Slows some flushes between their ids and their COPY (as a busy PostgreSQL would), so that
    the replicas' flushes overlap, and records the order in which flushes committed: the last id
    of each, in the order PostgreSQL delivers their notifications, which is commit order. (Not
    the order the replicas' commits came back in this one test process: two answers that arrive
    together may be handled in either order, which says nothing of the commits.)"""

    def __init__(self, writers: list[BatchWriter], monkeypatch: pytest.MonkeyPatch):
        self.committed: list[int] = []
        self._listener = None
        self.waited = 0  # flushes that found another replica's flush between its ids and its commit
        self._open: set[str] = set()
        rng = random.Random(7)
        for writer in writers:
            begin, committed = writer._begin, writer._committed

            async def slow_begin(conn, batch, _begin=begin, _writer=writer):  # noqa: ANN001
                if self._open - {_writer.origin}:
                    self.waited += 1
                self._open.add(_writer.origin)
                try:
                    result = await _begin(conn, batch)
                    if rng.random() < 0.3:
                        await asyncio.sleep(0.03)
                    return result
                except BaseException:
                    self._open.discard(_writer.origin)
                    raise

            def log_commit(requests, first_id, last_id, _committed=committed, _writer=writer):
                self._open.discard(_writer.origin)
                return _committed(requests, first_id, last_id)

            monkeypatch.setattr(writer, "_begin", slow_begin)
            monkeypatch.setattr(writer, "_committed", log_commit)

    async def listen(self, database_url: str) -> None:
        self._listener = await asyncpg.connect(database_url)
        await self._listener.add_listener(
            "activity_logs", lambda _c, _p, _ch, payload: self.committed.append(int(payload.split(" ")[2])))

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()

    @property
    def out_of_order(self) -> int:
        """Commits whose ids lie below those of a commit that came back before them."""
        highest, count = 0, 0
        for last_id in self.committed:
            count += last_id < highest
            highest = max(highest, last_id)
        return count


async def _ingest_everywhere(replicas, stop: asyncio.Event, sent: list[int]) -> None:
    async def ingest_on(replica, tag: int) -> None:
        batch = 0
        while not stop.is_set():
            rows = [row(f"replicated {tag} {batch}.{i}") for i in range(20)]
            result = await replica.runtime.writer.submit(rows)
            assert result.accepted == 20
            sent.extend(r.id for r in rows)
            batch += 1
            await asyncio.sleep(0.005)

    await asyncio.gather(*(ingest_on(replica, i) for i, replica in enumerate(replicas)))


async def test_live_tails_on_three_replicas_get_every_entry_once_in_order_and_resume_anywhere(
    database_url, tmp_path, monkeypatch
):
    replicas = [await start_server(database_url, tmp_path / f"r{i}", jwt_secret=SHARED_SECRET) for i in range(3)]
    flushes = FlushLog([r.runtime.writer for r in replicas], monkeypatch)
    await flushes.listen(database_url)
    try:
        token = await token_for(replicas[0], 1)
        stop = asyncio.Event()
        sent: list[int] = []

        async with aiohttp.ClientSession() as session:
            sockets = [await connect(session, replica, token, sources=["worker"]) for replica in replicas]
            received: list[list[int]] = [[] for _ in replicas]
            readers = [asyncio.create_task(_collect(ws, got)) for ws, got in zip(sockets, received)]
            # The resuming client: on replica 0 first, then on replica 1 after the last id it saw.
            mover: list[int] = []
            first = await connect(session, replicas[0], token, sources=["worker"])
            ingesting = asyncio.create_task(_ingest_everywhere(replicas, stop, sent))
            while len(mover) < 200:
                frame = await receive_json(first)
                mover.extend(e["id"] for e in frame["entries"])
            await first.close()
            gone_at = len(sent)
            assert await wait_for(lambda: len(sent) >= gone_at + 600, timeout=60)
            second = await connect(session, replicas[1], token, sources=["worker"], after_id=mover[-1])
            back_at = len(sent)
            while len(mover) < back_at + 300:
                frame = await receive_json(second)
                assert frame["type"] == "entries", frame
                mover.extend(e["id"] for e in frame["entries"])
            stop.set()
            await ingesting
            last = (await replicas[2].runtime.writer.submit([row("replicated end")])).accepted
            assert last == 1
            async with replicas[0].runtime.pool.acquire() as conn:
                stored = [r.id for r in await query_logs(conn, LogFilter(sources=["worker"], after_id=0),
                                                          Scope.admin(), limit=100_000)]  # fmt: skip
            while mover[-1] != stored[-1]:
                try:
                    frame = await receive_json(second)
                except TimeoutError:
                    missing = sorted(set(stored) - set(mover))
                    raise AssertionError(f"moved client: last {mover[-3:]}, stored last {stored[-3:]}, missing {missing[:10]} of {len(missing)}; feeds {[(r.runtime.commit_feed.last_published, r.runtime.commit_feed.remote_rows) for r in replicas]}")
                mover.extend(e["id"] for e in frame["entries"])
            await asyncio.wait_for(asyncio.gather(*readers), 30)
    finally:
        for replica in replicas:
            await replica.stop()
        await flushes.close()

    first_seen = stored.index(received[0][0])
    for got in received:
        # Each client was subscribed before any entry was ingested: it gets them all, once, in order.
        assert got == stored[stored.index(got[0]):], "a client missed, repeated or reordered an entry"
        assert stored.index(got[0]) == first_seen == 0
    assert len(mover) == len(set(mover)), "the resumed client got an entry twice"
    assert mover == stored[: len(mover)] == stored, "the resumed client missed an entry or got one out of order"
    # Entries of other replicas were read by id, not only each one's own.
    assert all(r.runtime.commit_feed.remote_rows > 0 for r in replicas)
    # The replicas' flushes did overlap (without the lock they commit out of id order: the test
    # below), and with it they committed in id order.
    assert flushes.waited > 10, flushes.waited
    assert flushes.out_of_order == 0


TURNLESS_FLUSHES = """
CREATE OR REPLACE FUNCTION activity_await_turn(turn integer) RETURNS void LANGUAGE sql AS $$ SELECT $$;
"""


async def test_without_waiting_for_their_turn_the_same_load_commits_out_of_id_order(database_url, tmp_path, db,
                                                                                  monkeypatch):  # fmt: skip
    """The control: the workload above, with the flushes' wait for their turn taken out, really
    commits out of id order, which is what a resuming client would miss entries over."""
    await db.execute(TURNLESS_FLUSHES)
    replicas = [await start_server(database_url, tmp_path / f"r{i}") for i in range(3)]
    flushes = FlushLog([r.runtime.writer for r in replicas], monkeypatch)
    await flushes.listen(database_url)
    stop, sent = asyncio.Event(), []
    try:
        ingesting = asyncio.create_task(_ingest_everywhere(replicas, stop, sent))
        await wait_for(lambda: flushes.out_of_order >= 3 or len(sent) > 20_000, timeout=30)
        stop.set()
        await ingesting
    finally:
        for replica in replicas:
            await replica.stop()
        await flushes.close()
    assert flushes.out_of_order >= 3, (flushes.out_of_order, len(flushes.committed))


async def test_changes_made_through_one_replica_apply_on_the_others_at_once(database_url, tmp_path, db):
    """Settings, a token revocation and a demotion reach the other replica by notification, not
    by its periodic re-reads, which are set to a minute here."""
    slow = dict(jwt_secret=SHARED_SECRET, settings_refresh_s=60, live_recheck_s=60)
    first = await start_server(database_url, tmp_path / "a", **slow)
    second = await start_server(database_url, tmp_path / "b", **slow)
    try:
        admin = await token_for(first, 1)
        async with aiohttp.ClientSession() as session:
            headers = {"Authorization": f"Bearer {admin}"}
            async with session.put(f"{first.api_url}/api/v1/admin/activity-logs/settings", headers=headers,
                                   json={"batch_size": 777}) as response:  # fmt: skip
                assert response.status == 200
            assert await wait_for(lambda: second.runtime.writer.batch_size == 777, timeout=3)

            async def export(server) -> int:
                async with session.post(server.otlp_http_url, data=request_with([{"body": "token check"}]).SerializeToString(),
                                        headers={"Content-Type": "application/x-protobuf",
                                                 "Authorization": f"Bearer {first.token}"}) as response:  # fmt: skip
                    return response.status

            assert await export(second) == 200  # its verdict is now cached on the second replica
            token_id = await db.fetchval("SELECT id FROM ingest_tokens WHERE token_hash = $1", hash_token(first.token))
            async with session.delete(f"{first.api_url}/api/v1/admin/ingest-tokens/{token_id}", headers=headers) as response:
                assert response.status in (200, 204), await response.text()

            async def refused() -> bool:
                return await export(second) == 401

            assert await wait_for(refused, timeout=3)

            watcher = await token_for(second, 5)  # an admin with a live tail on the second replica
            ws = await connect(session, second, watcher)
            registry = second.app[REGISTRY]
            await db.execute("UPDATE users SET role = 'creator' WHERE id = 5")  # as `user` commands would
            assert await wait_for(lambda: all(c.principal.role == "creator" for c in registry.connections.values()
                                              if c.principal is not None and c.principal.user_id == 5), timeout=3)  # fmt: skip
            await ws.close()
    finally:
        await first.stop()
        await second.stop()


async def test_a_lone_process_publishes_its_flushes_as_they_commit(database_url, tmp_path):
    """One process: its flushes' ids follow each other, so each is published as it commits,
    whatever order its notifications are handled in, and none waits for rows it already
    published (which would hold the live tail for seconds)."""
    server = await start_server(database_url, tmp_path)
    feed = server.runtime.commit_feed
    feed.own_rows_wait_s = 60  # a notification waiting for rows already published would hold it long
    # The writer hands its rows over after the notification has come (as under load it may).
    handed_over = feed.committed
    feed.committed = lambda *args: asyncio.get_running_loop().call_later(0.02, handed_over, *args)
    try:
        hub = server.runtime.hub
        subscription = hub.subscribe(None)
        try:
            await asyncio.gather(*(server.runtime.writer.submit([row(f"lone {n}.{i}") for i in range(5)]) for n in range(300)))
            got: list[int] = []
            while len(got) < 1500:
                rows, _ = await asyncio.wait_for(subscription.get(), 20)
                got += [r.id for r in rows if r.message.startswith("lone ")]
        finally:
            subscription.close()
        # Every notification is handled: none is held waiting for rows published already.
        assert await wait_for(lambda: feed.drained and feed.last_published >= got[-1], timeout=10)
    finally:
        await server.stop()
    assert got == sorted(got) and len(set(got)) == 1500
    assert feed.own_rows_missed == 0 and feed.remote_rows == 0


async def test_another_replicas_entries_reach_the_live_tail_as_stored(database_url, tmp_path, db):
    """Entries read back by id for another replica's flush are what the API serves for them,
    edge cases of the mapping included."""
    from tests.integration.test_writer_ids import EDGE_RECORDS, RESOURCE
    from tests.support.api import call, make_user

    sender = await start_server(database_url, tmp_path / "a", jwt_secret=SHARED_SECRET)
    watcher = await start_server(database_url, tmp_path / "b", jwt_secret=SHARED_SECRET)
    try:
        body = request_with([dict(record) for record in EDGE_RECORDS], resource=RESOURCE).SerializeToString()
        with watcher.runtime.hub.subscribe() as subscription:
            async with aiohttp.ClientSession() as session:
                headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {sender.token}"}
                async with session.post(sender.otlp_http_url, data=body, headers=headers) as response:
                    assert response.status == 200
            published = []
            while len(published) < len(EDGE_RECORDS):
                got, skipped = await asyncio.wait_for(subscription.get(), 10)
                assert skipped == 0
                published += got
        assert watcher.runtime.commit_feed.remote_rows >= len(EDGE_RECORDS)
        admin = await make_user(db, "admin@example.com", "admin")
        async with aiohttp.ClientSession() as session:
            for entry in published:
                status, stored, _ = await call(session, watcher, "GET", f"/api/v1/activity-logs/{entry.id}", admin)
                assert status == 200, stored
                # As the console reads them (JavaScript numbers): jsonb keeps a number such as
                # 1.7976931348623157e+308 as its digits, the same double.
                as_read = json.loads(entry.json(), parse_int=float)
                assert as_read == json.loads(json.dumps(stored["data"]), parse_int=float), entry.id
    finally:
        await sender.stop()
        await watcher.stop()
