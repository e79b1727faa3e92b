"""Hostile values in every callback's inputs and states: never an HTTP 500, never a state change.

The requests are built from the app's own /_dash-dependencies, so a new callback is fuzzed without
editing this test. Sent as an admin (the role that may call everything), with no engine running,
so the store fingerprint can only change through a request. SQLite and PostgreSQL.
"""
from __future__ import annotations

import json
import math
import time
from typing import Any

import pytest

from tests import web_requests as wr
from tests.auth_helpers import login_client
from tests.store_snapshot import fingerprint

HOSTILE: list[Any] = [math.nan, math.inf, -math.inf, 1e308, -1, True, "", "x" * 100_000, [1, "a", None],
                      {"a": {"b": [1]}}]
TIME_BUDGET_S = 240


def _post(client: Any, body: dict[str, Any]) -> Any:
    # json.dumps writes NaN/Infinity literals, as a hostile client may; Flask's parser accepts them
    return client.post(wr.CALLBACK_URL, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def fuzz_app(test_settings, any_db_url):  # type: ignore[no-untyped-def]
    from app import create_app
    from engine.clock import utcnow
    from engine.trading.state import ensure_state
    from webapp.context import EXTENSION_KEY

    app = create_app(test_settings(database_url=any_db_url, warmup_polls=10), start_engine=False)
    with app.server.extensions[EXTENSION_KEY].store.write() as s:
        ensure_state(s, utcnow())
    return app


def test_hostile_values_in_every_callback_never_give_500_nor_change_the_store(fuzz_app) -> None:  # type: ignore[no-untyped-def]
    from webapp.context import EXTENSION_KEY

    store = fuzz_app.server.extensions[EXTENSION_KEY].store
    client = login_client(fuzz_app, "admin")
    deps = wr.dependencies(client)
    before = fingerprint(store)
    started, sent, failures, reached = time.monotonic(), 0, [], 0
    for dep in deps:
        if dep.get("background"):
            continue  # a background callback forks a job per request: fuzzed in-process below, not by HTTP
        values = HOSTILE
        positions = len(dep["inputs"]) + len(dep["state"])
        for pos in range(positions):
            changed = pos if pos < len(dep["inputs"]) else 0
            for value in values:
                response = _post(client, wr.build_body(dep, {pos: value}, changed))
                sent += 1
                reached += response.status_code in (200, 204)  # the callback ran (or prevented the update)
                if response.status_code >= 500:
                    failures.append((dep["output"][:80], pos, repr(value)[:30], response.status_code))
        assert time.monotonic() - started < TIME_BUDGET_S, f"fuzzing took too long after {sent} requests"
    assert failures == []
    assert fingerprint(store) == before
    assert sent > 500 and reached > 0.8 * sent, (sent, reached)  # the guard let them through to the callbacks


@pytest.mark.parametrize("body", [
    {},
    {"output": 5},
    {"output": "trading-ticket-qty.value"},  # no inputs at all
    {"output": "..trading-ticket-result.children...trading-ticket-nonce.data..", "inputs": "nope", "state": None},
    {"output": "..trading-ticket-result.children...trading-ticket-nonce.data..", "inputs": [{"id": 1}]},
    {"output": "banner-kill-modal.is_open", "inputs": [[[]]], "changedPropIds": [{"x": 1}]},
    [1, 2, 3],
])
def test_malformed_callback_requests_are_refused_cleanly(fuzz_app, body: Any) -> None:  # type: ignore[no-untyped-def]
    from webapp.context import EXTENSION_KEY

    client = login_client(fuzz_app, "admin")
    before = fingerprint(fuzz_app.server.extensions[EXTENSION_KEY].store)
    response = _post(client, body)
    assert 400 <= response.status_code < 500 or response.status_code in (200, 204), response.status_code
    assert response.status_code != 200 or "error" not in response.get_data(as_text=True)[:20]
    assert fingerprint(fuzz_app.server.extensions[EXTENSION_KEY].store) == before


def test_hostile_values_in_the_background_what_if_give_a_message_not_an_error(fuzz_app) -> None:  # type: ignore[no-untyped-def]
    """The Regime page's what-if runs as a background job; its function is called here directly (as the job
    does), with each hostile value in each argument, so no job process is forked inside the test runner."""
    from engine.auth import principal
    from webapp.context import EXTENSION_KEY
    from webapp.regime_whatif_page import run_whatif_preview

    progress: list[Any] = []
    store = fuzz_app.server.extensions[EXTENSION_KEY].store
    before = fingerprint(store)
    valid = [1, {}, "390", None, None]  # n_clicks, edits, window, own upload, Parameters upload
    with fuzz_app.server.test_request_context("/"), principal.acting_as(principal.Principal("a", "admin", "x")):
        for pos in range(len(valid)):
            for value in HOSTILE:
                args = list(valid)
                args[pos] = value
                out = run_whatif_preview(progress.append, *args)  # returns outputs; raising would be the failure
                assert len(out) == 3
    assert fingerprint(store) == before
