"""The settings API's validation errors in plain words per field, with the limits, and the same
limits in the API description (the console shows them next to each field)."""

from __future__ import annotations

import aiohttp
import pytest

from tests.support.api import call, make_user

pytestmark = pytest.mark.timeout(60)
PATH = "/api/v1/admin/activity-logs/settings"


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as client:
        yield client


async def test_settings_errors_name_the_field_and_its_limits(server, session, db):
    admin = await make_user(db, "admin@example.com", "admin")
    cases = {
        "retention_days_error: Error retention must be between 7 and 3650 days": {"retention_days_error": 3},
        "retention_days_debug: Debug retention must be between 1 and 3650 days": {"retention_days_debug": 4000},
        "batch_size: Batch size must be a whole number of entries, between 1 and 10000": {"batch_size": "many"},
        "flush_interval_ms: Flush interval must be a whole number of ms, between 10 and 60000": {"flush_interval_ms": None},
        "retention_days_info: Info retention must be a whole number of days, between 1 and 3650": {"retention_days_info": 1.5},
        "colour: not a known field": {"colour": "red"},
        "body: give at least one setting to change": {},
    }
    for message, body in cases.items():
        status, answer, _ = await call(session, server, "PUT", PATH, admin, json=body)
        assert status == 400, body
        assert answer["error"]["message"] == message
    status, answer, _ = await call(session, server, "PUT", PATH, admin,
                                   json={"retention_days_warn": 0, "batch_size": 20_000})  # fmt: skip
    assert answer["error"]["message"] == ("retention_days_warn: Warn retention must be between 1 and 3650 days; "
                                          "batch_size: Batch size must be between 1 and 10000 entries")  # fmt: skip
    status, answer, _ = await call(session, server, "PUT", PATH, admin, json={"retention_days_error": 7})
    assert status == 200 and answer["retention_days_error"] == 7


async def test_api_description_states_each_settings_limits(server, session):
    status, document, _ = await call(session, server, "GET", "/api/v1/openapi.json")
    assert status == 200
    properties = document["components"]["schemas"]["SettingsUpdate"]["properties"]
    assert properties["retention_days_error"]["minimum"] == 7
    assert properties["retention_days_error"]["maximum"] == 3650
    assert properties["retention_days_debug"]["minimum"] == 1
    assert properties["batch_size"]["maximum"] == 10_000
    assert properties["flush_interval_ms"]["minimum"] == 10
    assert properties["retention_days_error"]["description"].startswith("days, 7–3650")
