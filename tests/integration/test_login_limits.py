"""Login limits: failed logins per (e-mail, address), per address across e-mails and per account
across addresses; password hashing capped in concurrency with a bounded queue (503 beyond it)."""

from __future__ import annotations

import asyncio
import threading
import uuid

import aiohttp
import pytest

from api.errors import TooManyRequests
from api.settings import load_settings
from tests.support.api import PASSWORD, make_user
from tests.support.server import start_server, wait_for

pytestmark = pytest.mark.timeout(120)

LOGIN = "/api/v1/auth/login"


def _random_email() -> str:
    return f"nobody-{uuid.uuid4().hex[:12]}@example.com"


async def _login(server, email: str, password: str, *, address: str = "127.0.0.1") -> tuple[int, dict, dict]:
    """One login from ``address`` (any 127.0.0.0/8 address reaches the server on Linux)."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(connector=connector) as client:
        async with client.post(server.api_url + LOGIN, json={"email": email, "password": password}) as response:
            return response.status, await response.json(), dict(response.headers)


def test_login_limit_settings_come_from_arguments_then_environment_then_defaults():
    from api.settings import ENV_VARS

    defaults = load_settings({}, {})
    assert (defaults.login_max_failures_per_address, defaults.login_max_failures_per_account,
            defaults.login_hash_concurrency, defaults.login_queue) == (30, 50, 1, 32)  # fmt: skip
    assert ENV_VARS["login_max_failures_per_address"] == "ACTIVITY_LOGIN_MAX_FAILURES_PER_ADDRESS"
    environ = {"ACTIVITY_LOGIN_MAX_FAILURES_PER_ADDRESS": "7", "ACTIVITY_LOGIN_MAX_FAILURES_PER_ACCOUNT": "9",
               "ACTIVITY_LOGIN_HASH_CONCURRENCY": "2", "ACTIVITY_LOGIN_QUEUE": "5"}  # fmt: skip
    from_env = load_settings({}, environ)
    assert (from_env.login_max_failures_per_address, from_env.login_max_failures_per_account,
            from_env.login_hash_concurrency, from_env.login_queue) == (7, 9, 2, 5)  # fmt: skip
    assert load_settings({"login_queue": 3}, environ).login_queue == 3


def test_limiter_counts_an_account_across_addresses_whatever_the_spelling():
    from api.accounts import LoginRateLimiter

    limiter = LoginRateLimiter(10, 300, max_failures_per_address=30, max_failures_per_account=4)
    spellings = ["victim@example.com", " Victim@Example.com", "VICTIM@EXAMPLE.COM ", "victim@example.com"]
    for i, spelling in enumerate(spellings):
        limiter.begin_attempt(spelling, f"10.0.0.{i}")
    with pytest.raises(TooManyRequests) as refused:
        limiter.begin_attempt("victim@example.com", "10.0.1.1")  # an address never seen before
    assert 1 <= refused.value.retry_after <= 301
    # Other accounts, from the same addresses, are not affected.
    limiter.begin_attempt("someone-else@example.com", "10.0.0.0")


def test_limiter_counts_an_address_across_emails():
    from api.accounts import LoginRateLimiter

    limiter = LoginRateLimiter(10, 300, max_failures_per_address=5, max_failures_per_account=50)
    for _ in range(5):
        limiter.begin_attempt(_random_email(), "192.0.2.1")
    with pytest.raises(TooManyRequests):
        limiter.begin_attempt(_random_email(), "192.0.2.1")
    limiter.begin_attempt(_random_email(), "192.0.2.2")


def test_a_success_forgives_only_itself_in_the_address_and_account_counts():
    from api.accounts import LoginRateLimiter

    limiter = LoginRateLimiter(10, 300, max_failures_per_address=3, max_failures_per_account=50)
    limiter.begin_attempt(_random_email(), "192.0.2.1")
    limiter.begin_attempt(_random_email(), "192.0.2.1")
    # Logging into one's own account must not wipe the address's other failures...
    limiter.succeeded(limiter.begin_attempt("mine@example.com", "192.0.2.1"))
    limiter.begin_attempt(_random_email(), "192.0.2.1")
    with pytest.raises(TooManyRequests):
        limiter.begin_attempt(_random_email(), "192.0.2.1")
    # ...while the (e-mail, address) count is cleared on success, as before.
    pair = LoginRateLimiter(2, 300)
    pair.begin_attempt("me@example.com", "192.0.2.9")
    pair.succeeded(pair.begin_attempt("me@example.com", "192.0.2.9"))
    pair.begin_attempt("me@example.com", "192.0.2.9")
    pair.begin_attempt("me@example.com", "192.0.2.9")
    with pytest.raises(TooManyRequests):
        pair.begin_attempt("me@example.com", "192.0.2.9")


def test_limiter_memory_is_bounded():
    from api.accounts import LoginRateLimiter

    limiter = LoginRateLimiter(10, 300, max_failures_per_address=10**6, max_failures_per_account=10**6, max_keys=100)
    for i in range(2000):
        limiter.begin_attempt(_random_email(), f"10.{i // 250}.{i % 250}.1")
    # Three counts (pair, address, account), each holding at most max_keys keys.
    assert limiter.tracked_keys <= 3 * 100


async def test_an_address_is_limited_across_emails_then_even_a_right_password_waits(database_url, tmp_path, db):
    server = await start_server(database_url, tmp_path, login_max_failures_per_address=5)
    try:
        await make_user(db, "real@example.com")
        hashing = server.app[_hash_limiter_key()]
        for _ in range(5):
            status, body, _ = await _login(server, _random_email(), "a guess")
            assert status == 401, body
        hashes_before = hashing.hashes
        status, body, headers = await _login(server, _random_email(), "a guess")
        assert status == 429 and body["error"]["code"] == "too_many_requests"
        assert 1 <= int(headers["Retry-After"]) <= 301
        status, body, _ = await _login(server, "real@example.com", PASSWORD)
        assert status == 429, body
        # Refused before any hashing: a flood of refused logins costs no argon2.
        assert hashing.hashes == hashes_before
        # Another address is not affected.
        status, body, _ = await _login(server, "real@example.com", PASSWORD, address="127.0.0.2")
        assert status == 200, body
    finally:
        await server.stop()


async def test_an_account_is_limited_across_addresses_known_or_not(database_url, tmp_path, db):
    server = await start_server(database_url, tmp_path, login_max_failures_per_account=4)
    try:
        await make_user(db, "victim@example.com")
        for email in ("victim@example.com", "ghost@example.com"):  # an account, and an e-mail without one
            for i in range(4):
                status, body, _ = await _login(server, email, "a guess", address=f"127.0.1.{i + 1}")
                assert status == 401, body
            status, body, headers = await _login(server, email, "a guess", address="127.0.2.1")
            assert status == 429 and body["error"]["code"] == "too_many_requests", (email, body)
            assert int(headers["Retry-After"]) >= 1
        # Locked for the right password too, from yet another address...
        status, _, _ = await _login(server, "Victim@Example.com", PASSWORD, address="127.0.2.2")
        assert status == 429
        # ...while those addresses can still log into other accounts.
        await make_user(db, "bystander@example.com")
        status, body, _ = await _login(server, "bystander@example.com", PASSWORD, address="127.0.1.1")
        assert status == 200, body
    finally:
        await server.stop()


def _hash_limiter_key():
    from api.accounts import PASSWORD_HASH_LIMITER

    return PASSWORD_HASH_LIMITER


async def test_hashing_never_exceeds_its_cap_under_a_burst(database_url, tmp_path, db):
    server = await start_server(database_url, tmp_path, login_hash_concurrency=2,
                                login_max_failures_per_address=1000)  # fmt: skip
    try:
        await make_user(db, "real@example.com")
        hashing = server.app[_hash_limiter_key()]
        logins = [(_random_email(), "a guess") for _ in range(36)] + [("real@example.com", PASSWORD)] * 4
        answers = await asyncio.gather(*(_login(server, email, password) for email, password in logins))
        statuses = [status for status, _, _ in answers]
        assert set(statuses) <= {200, 401, 503}, statuses
        assert statuses.count(401) + statuses.count(503) >= 36
        for status, body, headers in answers:
            if status == 503:
                assert body["error"]["code"] == "unavailable" and headers["Retry-After"] == "1"
        assert 1 <= hashing.max_concurrent <= 2
        # Every login that was not turned away was hashed, never more than two at a time.
        assert hashing.hashes >= statuses.count(200) + statuses.count(401)
        # After the burst, the right password works.
        status, body, _ = await _login(server, "real@example.com", PASSWORD)
        assert status == 200, body
    finally:
        await server.stop()


async def test_a_full_queue_answers_503_then_drains(database_url, tmp_path, db):
    from tests.support.api import call

    server = await start_server(database_url, tmp_path, login_hash_concurrency=1, login_queue=3,
                                login_max_failures_per_address=1000)  # fmt: skip
    try:
        admin = await make_user(db, "root@example.com", "admin")
        hashing = server.app[_hash_limiter_key()]
        # Hold the only hashing slot until the queue has filled.
        release = threading.Event()
        held = asyncio.create_task(hashing.run(release.wait, 30))
        assert await wait_for(lambda: hashing.max_concurrent == 1)
        queued = [asyncio.create_task(_login(server, _random_email(), "a guess")) for _ in range(3)]
        assert await wait_for(lambda: hashing.waiting == 3)
        status, body, headers = await _login(server, "root@example.com", PASSWORD)
        assert status == 503 and headers["Retry-After"] == "1"
        assert body["error"]["code"] == "unavailable" and "retry" in body["error"]["message"]
        # Creating a user hashes its password: the same cap applies.
        async with aiohttp.ClientSession() as session:
            status, body, _ = await call(session, server, "POST", "/api/v1/admin/users", admin,
                                         json={"email": "new@example.com", "password": "a fine passphrase 42",
                                               "role": "creator"})  # fmt: skip
        assert status == 503 and body["error"]["code"] == "unavailable"
        release.set()
        await held
        assert [status for status, _, _ in await asyncio.gather(*queued)] == [401, 401, 401]
        assert hashing.max_concurrent == 1 and hashing.waiting == 0
        status, body, _ = await _login(server, "root@example.com", PASSWORD)
        assert status == 200, body
    finally:
        await server.stop()
