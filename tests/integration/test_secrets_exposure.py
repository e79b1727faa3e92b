"""Secrets (session key, metrics token, notification URLs, broker keys, passwords) never appear in
pages, callback responses, API answers, logs or the store, with the embedded engine running."""
from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from sqlalchemy import String, Text, select

from engine.store.models import Base
from tests import web_requests as wr
from tests.auth_helpers import PASSWORDS, login_client

SECRETS = {
    "secret_key": "sk-" + "Q7v2" * 10,
    "metrics_token": "mt-" + "Z9k4" * 8,
    "notify_urls": "json://127.0.0.1:9/hook?token=nt-" + "W3x8" * 6,
    "alpaca_key_id": "AKID" + "P5" * 8,
    "alpaca_secret_key": "ASEC" + "R6t1" * 9,
}
NEEDLES = ["Q7v2Q7v2Q7v2", "Z9k4Z9k4Z9k4", "W3x8W3x8W3x8", "AKIDP5P5P5P5", "R6t1R6t1R6t1", *PASSWORDS.values()]


def _found(text: str) -> list[str]:
    return [n for n in NEEDLES if n in text]


def test_no_secret_leaves_the_process(embedded_app, any_db_url, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    app = embedded_app(database_url=any_db_url, **SECRETS)
    from webapp.context import EXTENSION_KEY

    store = app.server.extensions[EXTENSION_KEY].store
    client = login_client(app, "admin")
    time.sleep(2)  # a few engine ticks: jobs log, write snapshots and health rows
    seen: list[str] = []
    for path in ("/", "/login", "/_dash-layout", "/_dash-dependencies", "/api/health", "/api/state", "/audit.csv",
                 "/healthz", "/readyz"):
        seen.append(client.get(path).get_data(as_text=True))
    seen.append(client.get("/metrics", headers={"Authorization": f"Bearer {SECRETS['metrics_token']}"})
                .get_data(as_text=True))
    for dep in wr.dependencies(client):  # every callback once, as the page's first load would call it
        seen.append(client.post(wr.CALLBACK_URL, json=wr.build_body(dep)).get_data(as_text=True))
    for page in ("/", "/regime", "/parameters", "/planner", "/health", "/trading", "/performance", "/audit"):
        seen.append(client.get(page).get_data(as_text=True))
    leaks = {i: _found(text) for i, text in enumerate(seen) if _found(text)}
    assert leaks == {}
    assert _found(caplog.text) == []
    with store.read() as s:
        for table in Base.metadata.sorted_tables:
            text_columns = [c for c in table.columns if isinstance(c.type, String | Text) or "JSON" in str(c.type)]
            for row in s.execute(select(*text_columns)) if text_columns else []:
                dumped = " ".join(str(v) for v in row)
                assert _found(dumped) == [], table.name
    cookie_values = " ".join(c.value for c in [client.get_cookie("regimedesk_session"), client.get_cookie("_csrf_token")]
                             if c is not None)
    assert _found(cookie_values) == []


def test_the_settings_repr_hides_every_secret(test_settings: Any) -> None:
    settings = test_settings(**SECRETS)
    assert _found(repr(settings)) == [] and _found(str(settings.model_dump())) == []
