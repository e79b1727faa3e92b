"""Defect: the login rate limit per client address counted successful logins too, so a trader who logged in and out
a few times was refused (429). Only failed logins count now, and as strictly as before: a failure still takes its
slot before the password is checked (a burst lets exactly the limit through), and a success gives back exactly its
own slot. SQLite and PostgreSQL; the limit counting in this process's memory and in Redis (127.0.0.1:6379)."""
from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Any, cast

import pytest
from limits.storage import RedisStorage

from tests.auth_helpers import csrf_from, ensure_user

REDIS = "redis://127.0.0.1:6379/15"
STORAGES = {"memory": "", "redis": REDIS}


def _app(test_settings: Any, db_url: str, limit: str, cache_url: str) -> Any:
    from app import create_app

    return create_app(test_settings(database_url=db_url, warmup_polls=10, login_rate_limit=limit,
                                    cache_url=cache_url), start_engine=False)


def _address() -> str:
    """A client address of this test alone: Redis windows are shared by every test run on this machine."""
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def _client(app: Any, address: str) -> Any:
    client = app.server.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _login(client: Any, name: str, password: str) -> int:
    token = csrf_from(client.get("/login").get_data(as_text=True))
    return int(client.post("/login", data={"username": name, "password": password, "csrf_token": token}).status_code)


def _logout(client: Any) -> int:
    return int(client.post("/logout", data={"csrf_token": client.get_cookie("_csrf_token").value}).status_code)


@pytest.mark.parametrize("storage", sorted(STORAGES))
def test_logging_in_and_out_never_uses_up_the_failed_login_limit(test_settings: Any, any_db_url: str,
                                                                  storage: str) -> None:
    app = _app(test_settings, any_db_url, "3 per minute", STORAGES[storage])
    name, password = ensure_user(app, "trader", "tara")
    client = _client(app, _address())
    for _ in range(5):  # before: the 4th login of the minute was refused with 429
        assert _login(client, name, password) == 302
        assert _logout(client) == 302
    # interleaved: only the three failures count (hand count: 1, 2, 3), so the next attempt is refused
    assert [_login(client, name, "wrong-password-1"), _login(client, name, password), _logout(client),
            _login(client, name, "wrong-password-2"), _login(client, name, password), _logout(client),
            _login(client, name, "wrong-password-3")] == [401, 302, 302, 401, 302, 302, 401]
    refused = client.post("/login", data={"username": name, "password": password,
                                          "csrf_token": csrf_from(client.get("/login").get_data(as_text=True))})
    assert refused.status_code == 429 and "too many failed logins" in refused.get_data(as_text=True)
    assert _login(client, name, "wrong-password-4") == 429
    assert _login(_client(app, _address()), name, password) == 302  # another address is not limited


@pytest.mark.parametrize("storage", sorted(STORAGES))
def test_a_burst_of_failures_after_successes_lets_exactly_the_limit_through(test_settings: Any, any_db_url: str,
                                                                           storage: str) -> None:
    app = _app(test_settings, any_db_url, "10 per minute", STORAGES[storage])
    name, password = ensure_user(app, "viewer", "vera")
    address = _address()
    for _ in range(4):  # before: these four took 4 of the 10 slots, and the burst below got 6 through
        assert _login(_client(app, address), name, password) == 302
    clients = [_client(app, address) for _ in range(30)]
    tokens = [csrf_from(c.get("/login").get_data(as_text=True)) for c in clients]
    barrier = threading.Barrier(len(clients))
    codes = [0] * len(clients)

    def go(i: int) -> None:
        barrier.wait(timeout=30)
        codes[i] = clients[i].post("/login", data={"username": f"nobody{i}", "password": "wrong-password-1",
                                                   "csrf_token": tokens[i]}).status_code

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert Counter(codes) == {401: 10, 429: 20}  # 30 different names: only the address's limit refuses


@pytest.mark.parametrize("storage", sorted(STORAGES))
def test_a_success_gives_back_exactly_its_own_slot(storage: str) -> None:
    from limits.storage import MemoryStorage

    # local import: the module is new; the other tests here run against an app without it too
    from webapp.auth.login_throttle import LoginThrottle

    redis_storage = RedisStorage(REDIS)
    throttle = LoginThrottle("2 per minute", redis_storage if storage == "redis" else MemoryStorage())
    address = _address()
    success, failure = throttle.claim(address), throttle.claim(address)
    assert success is not None and failure is not None and throttle.claim(address) is None
    throttle.give_back(success)
    later = throttle.claim(address)
    assert later is not None and throttle.claim(address) is None  # the window: the failure and the later attempt
    if storage == "redis":  # exactly those two entries, newest first (not the success's)
        key, connection = later[0][0], cast(Any, redis_storage.get_connection())
        assert [v.decode() for v in connection.lrange(key, 0, -1)] == [later[0][1], failure[0][1]]
        connection.delete(key)


def test_an_unreachable_redis_refuses_logins_with_503_saying_why(test_settings: Any, sqlite_url: str) -> None:
    app = _app(test_settings, sqlite_url, "10 per minute", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    name, password = ensure_user(app, "viewer", "vera")
    client = _client(app, _address())
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"username": name, "password": password, "csrf_token": token})
    assert response.status_code == 503  # before: 500, "internal error"
    assert "Redis" in response.get_data(as_text=True) and client.get("/api/state").status_code == 401


def test_a_rate_limit_that_is_not_one_is_refused_at_start_naming_the_setting(test_settings: Any,
                                                                            sqlite_url: str) -> None:
    with pytest.raises(ValueError, match="REGIMEDESK_LOGIN_RATE_LIMIT='ten a minute' is not a rate limit"):
        _app(test_settings, sqlite_url, "ten a minute", "")
