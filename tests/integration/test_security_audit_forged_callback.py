"""A forged call of a callback the server does not run is a clean 400 with one warning line (audit 5, defect 4).

Dash's own clientside callback `_pages_dummy.children` (page titles) has no server function: a viewer posting it
got 400, but the server logged an ERROR with a full traceback (KeyError: Callback function not found) per request.
Real app over Flask's test client, a real SQLite store."""
from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.auth_helpers import login_client
from tests.web_requests import CALLBACK_URL


@pytest.fixture
def web_app(test_settings: Any) -> Any:
    from app import create_app

    return create_app(test_settings(warmup_polls=10), start_engine=False)


def test_forged_clientside_callback_is_a_400_without_a_traceback(web_app: Any, caplog: Any) -> None:
    client = login_client(web_app, "viewer")
    body = {"output": "_pages_dummy.children", "outputs": {"id": "_pages_dummy", "property": "children"},
            "inputs": [], "state": [], "changedPropIds": []}
    caplog.set_level(logging.INFO)
    for _ in range(3):
        response = client.post(CALLBACK_URL, json=body)
        assert response.status_code == 400
        assert "runs in the browser" in response.get_json()["error"]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []
    assert sum(1 for r in caplog.records if "clientside callback _pages_dummy.children" in r.getMessage()) == 3
