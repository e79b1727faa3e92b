"""Planner sliders and their number boxes over HTTP, as the browser sends them (wildcard outputs): a typed value in
0..1 moves its slider, a moved slider fills its box, and neither request is refused (Dash 4 answers HTTP 400 when a
wildcard output gets a bare no_update instead of a list: the box then never moved its slider). SQLite and PostgreSQL.
"""
from __future__ import annotations

import json
from typing import Any

import pytest

from tests import web_requests as wr
from tests.auth_helpers import login_client
from webapp import planner_ids as ids

NAMES = ["risk_appetite", "hold_duration", "entry_style", "position_spread", "profit_taking",
         "regime_sensitivity"]  # engine.planner.sliders order
DEFAULT = [0.5, 0.4, 0.5, 0.5, 0.5, 0.5]  # config/planner/default.toml


@pytest.fixture
def viewer(test_settings, any_db_url):  # type: ignore[no-untyped-def]
    from app import create_app

    return login_client(create_app(test_settings(database_url=any_db_url), start_engine=False), "viewer")


def _key(kind: str, name: str) -> str:
    return json.dumps({"name": name, "type": kind}, sort_keys=True, separators=(",", ":"))


def _sync(client: Any, sliders: list[float], boxes: list[Any], trigger: tuple[str, str]) -> Any:
    dep = next(d for d in wr.dependencies(client) if ids.SLIDER_BOX in d["output"] and ids.SLIDER_MESSAGE in d["output"])

    def every(kind: str, prop: str, values: list[Any] | None) -> list[dict[str, Any]]:
        return [{"id": {"type": kind, "name": n}, "property": prop, **({"value": v} if values is not None else {})}
                for n, v in zip(NAMES, values or NAMES, strict=True)]

    body = {"output": dep["output"],
            "outputs": [every(ids.SLIDER, "value", None), every(ids.SLIDER_BOX, "value", None),
                        {"id": ids.SLIDER_MESSAGE, "property": "children"}],
            "inputs": [every(ids.SLIDER, "value", sliders), every(ids.SLIDER_BOX, "value", boxes)],
            "state": [every(ids.SLIDER, "id", [{"type": ids.SLIDER, "name": n} for n in NAMES])],
            "changedPropIds": [f"{_key(*trigger)}.value"]}
    return client.post(wr.CALLBACK_URL, json=body)


def test_a_typed_value_moves_its_slider(viewer) -> None:  # type: ignore[no-untyped-def]
    response = _sync(viewer, DEFAULT, [0.5, 0.9, 0.5, 0.5, 0.5, 0.5], (ids.SLIDER_BOX, "hold_duration"))
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    got = response.get_json()["response"]
    assert got[_key(ids.SLIDER, "hold_duration")] == {"value": 0.9}
    assert got[ids.SLIDER_MESSAGE] == {"children": ""}
    assert _key(ids.SLIDER, "risk_appetite") not in got  # the other sliders are left as they are


def test_a_moved_slider_fills_its_box_and_an_echo_changes_nothing(viewer) -> None:  # type: ignore[no-untyped-def]
    moved = [0.0, *DEFAULT[1:]]
    response = _sync(viewer, moved, DEFAULT, (ids.SLIDER, "risk_appetite"))
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.get_json()["response"][_key(ids.SLIDER_BOX, "risk_appetite")] == {"value": 0.0}
    echo = _sync(viewer, moved, moved, (ids.SLIDER_BOX, "risk_appetite"))  # the box's own echo: nothing to do
    assert echo.status_code == 204
