"""Real responses of every documented endpoint, and the live tail's real messages, validate against
the contract's models: the handlers serialise by hand for speed, and the OpenAPI document (and so
the console's types) is generated from the models, so the two must not drift."""

from __future__ import annotations

import json
from datetime import timedelta

import aiohttp
import pytest
from pydantic import BaseModel

from api import accounts
from api.security import Principal
from collector import contract
from collector.model import format_timestamp
from tests.support.api import NOW, PASSWORD, auth, call, make_project, make_user, row, store, token_for
from tests.support.live import connect, ingest, receive_json
from tests.support.live import row as live_row

pytestmark = pytest.mark.timeout(60)

TRACE = "0af7651916cd43dd8448eb211c80319c"


def valid(model: type[BaseModel], status: int, body, expected_status: int = 200) -> BaseModel:
    assert status == expected_status, body
    return model.model_validate(body)


async def test_log_endpoints_answer_in_the_contract_shapes(server, db):
    admin = await make_user(db, "admin@example.com", "admin")
    stored = await store(server, [
        row("plain", minutes_ago=5, trace_id=TRACE, span_id="00f067aa0ba902b7"),
        row("x" * 20_000, level="error", source="api", minutes_ago=4, category="curated", entity_type="scene",
            entity_id=7, user_id=admin.user_id, fields={"big": "y" * 30_000}),
        row("last", level="warn", minutes_ago=3, trace_id=TRACE, span_id="00f067aa0ba902b8"),
    ])  # fmt: skip
    first, shortened, last = (entry.id for entry in stored)
    async with aiohttp.ClientSession() as session:
        page = valid(contract.LogPage, *(await call(session, server, "GET", "/api/v1/activity-logs", admin))[:2])
        assert isinstance(page.meta, contract.PageMeta) and page.meta.total == 3
        assert any(entry.truncated and entry.message_length == 20_000 for entry in page.data)
        older = valid(contract.LogPage, *(await call(session, server, "GET", "/api/v1/activity-logs", admin,
                                                     params={"before_id": last, "per_page": 1}))[:2])  # fmt: skip
        assert isinstance(older.meta, contract.BeforeCursorMeta) and older.meta.next_before_id == shortened
        newer = valid(contract.LogPage, *(await call(session, server, "GET", "/api/v1/activity-logs", admin,
                                                     params={"after_id": 0}))[:2])  # fmt: skip
        assert isinstance(newer.meta, contract.AfterCursorMeta) and newer.meta.next_after_id == last

        detail = valid(contract.EntryDetail, *(await call(session, server, "GET", f"/api/v1/activity-logs/{shortened}",
                                                          admin))[:2])  # fmt: skip
        assert detail.data.message == "x" * 20_000 and not detail.data.truncated
        context = valid(contract.EntryContext, *(await call(session, server, "GET",
                                                            f"/api/v1/activity-logs/{shortened}/context", admin))[:2])
        assert [entry.id for entry in context.data] == [first, shortened, last]
        trace = valid(contract.TraceEntries, *(await call(session, server, "GET", f"/api/v1/traces/{TRACE.upper()}",
                                                          admin))[:2])  # fmt: skip
        assert trace.meta.trace_id == TRACE and trace.meta.count == 2
        histogram = valid(contract.Histogram, *(await call(session, server, "GET", "/api/v1/activity-logs/histogram",
                                                           admin, params={"buckets": 4}))[:2])  # fmt: skip
        assert sum(bucket.total for bucket in histogram.data) == 3

        async with session.get(server.api_url + "/api/v1/activity-logs/export", headers=auth(server, admin)) as export:
            lines = (await export.read()).decode().splitlines()
        assert [contract.ActivityEntry.model_validate(json.loads(line)).id for line in lines] == [first, shortened, last]

        settings_path = "/api/v1/admin/activity-logs/settings"
        valid(contract.Settings, *(await call(session, server, "GET", settings_path, admin))[:2])
        updated = valid(contract.Settings, *(await call(session, server, "PUT", settings_path, admin,
                                                        json={"retention_days_info": 14}))[:2])  # fmt: skip
        assert updated.retention_days_info == 14 and updated.updated_at is not None

        purged = valid(contract.PurgeResult, *(await call(
            session, server, "DELETE", "/api/v1/admin/activity-logs", admin,
            params={"before": format_timestamp(NOW - timedelta(minutes=4, seconds=30)), "level": "info"}))[:2])
        assert purged.deleted == 1 and purged.by_level == {"info": 1}

        for method, path, params, status in (("GET", "/api/v1/activity-logs", {"level": "loud"}, 400),
                                             ("GET", "/api/v1/activity-logs/999999", None, 404),
                                             ("GET", settings_path, None, 401)):  # fmt: skip
            who = None if status == 401 else admin
            valid(contract.Error, *(await call(session, server, method, path, who, params=params))[:2], status)


async def test_account_endpoints_answer_in_the_contract_shapes(server, db):
    admin = await make_user(db, "admin@example.com", "admin")
    project_id = await make_project(db, "first")
    async with aiohttp.ClientSession() as session:
        login = valid(accounts.LoginResult, *(await call(session, server, "POST", "/api/v1/auth/login",
                                                         json={"email": admin.email, "password": PASSWORD}))[:2])
        assert login.user.id == admin.user_id
        valid(accounts.CurrentUser, *(await call(session, server, "GET", "/api/v1/auth/me", admin))[:2])
        creator = valid(accounts.User, *(await call(session, server, "POST", "/api/v1/admin/users", admin, json={
            "email": "creator@example.com", "password": "a long enough passphrase", "role": "creator"}))[:2], 201)
        valid(accounts.UserList, *(await call(session, server, "GET", "/api/v1/admin/users", admin))[:2])
        valid(accounts.Project, *(await call(session, server, "POST", "/api/v1/admin/projects", admin,
                                             json={"name": "second"}))[:2], 201)  # fmt: skip
        members = f"/api/v1/admin/projects/{project_id}/members"
        valid(accounts.Membership, *(await call(session, server, "POST", members, admin,
                                                json={"user_id": creator.id}))[:2], 201)  # fmt: skip
        projects = valid(accounts.ProjectList, *(await call(session, server, "GET", "/api/v1/admin/projects", admin))[:2])
        assert [project.member_ids for project in projects.data] == [[creator.id], []]
        as_creator = Principal(user_id=creator.id, email=creator.email, role=creator.role)
        me = valid(accounts.CurrentUser, *(await call(session, server, "GET", "/api/v1/auth/me", as_creator))[:2])
        assert me.user.project_ids == [project_id]
        valid(accounts.MembershipRemoved, *(await call(session, server, "DELETE", f"{members}/{creator.id}", admin))[:2])

        token = valid(accounts.CreatedIngestToken, *(await call(session, server, "POST", "/api/v1/admin/ingest-tokens",
                                                                admin, json={"name": "render farm"}))[:2], 201)
        valid(accounts.IngestTokenList, *(await call(session, server, "GET", "/api/v1/admin/ingest-tokens", admin))[:2])
        valid(accounts.RevokedIngestToken, *(await call(session, server, "DELETE",
                                                        f"/api/v1/admin/ingest-tokens/{token.id}", admin))[:2])

        user_path = f"/api/v1/admin/users/{creator.id}"
        promoted = valid(accounts.User, *(await call(session, server, "PATCH", user_path, admin,
                                                     json={"role": "admin"}))[:2])  # fmt: skip
        assert promoted.role == "admin"
        valid(accounts.User, *(await call(session, server, "PUT", f"{user_path}/password", admin,
                                          json={"password": "another long passphrase"}))[:2])  # fmt: skip
        valid(accounts.DeletedUser, *(await call(session, server, "DELETE", user_path, admin))[:2])
        project_path = f"/api/v1/admin/projects/{project_id}"
        renamed = valid(accounts.Project, *(await call(session, server, "PATCH", project_path, admin,
                                                       json={"name": "renamed"}))[:2])  # fmt: skip
        assert renamed.name == "renamed"
        valid(accounts.DeletedProject, *(await call(session, server, "DELETE", project_path, admin))[:2])


def server_message(frame: dict) -> BaseModel:
    return contract.LiveServerMessage.model_validate(frame).root


async def entries_message(ws, last_message: str) -> contract.LiveEntriesMessage:
    """The ``entries`` message that carries ``last_message`` (the server's own entries may come first)."""
    while True:
        message = server_message(await receive_json(ws))
        assert isinstance(message, contract.LiveEntriesMessage), message
        if any(entry.message == last_message for entry in message.entries):
            return message


async def test_live_tail_messages_are_the_contract_messages(server):
    async with aiohttp.ClientSession() as session:
        ws = await connect(session, server, await token_for(server, 1), _skip_subscribe=True)
        await ws.send_json({"action": "subscribe", "levels": ["warn"], "trace_id": TRACE.upper()})
        subscribed = server_message(await receive_json(ws))
        assert isinstance(subscribed, contract.LiveSubscribedMessage) and subscribed.filter.trace_id == TRACE
        await ws.send_json({"action": "update_filter", "search": "x" * (contract.SEARCH_MAX_CHARS + 1)})
        error = server_message(await receive_json(ws))
        assert isinstance(error, contract.LiveErrorMessage) and error.message == "search is limited to 1000 characters"
        await ingest(server, [live_row("seen", level="warn", trace_id=TRACE)])
        assert [entry.message for entry in (await entries_message(ws, "seen")).entries] == ["seen"]
        await ws.close()
        ws = await connect(session, server, await token_for(server, 1), after_id=0)  # replay, then live
        await entries_message(ws, "seen")
        await ingest(server, [live_row("resumed")])
        await entries_message(ws, "resumed")
        await ws.close()
