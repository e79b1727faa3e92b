"""Parameters page, reviewer's defects: the Apply/rollback note is emptied after a success (so it is not saved
again with the next version), a rollback to the version already active is refused, the rollback picker preselects
nothing, and a number cell reports the text actually typed ("found 'abc'") as a workbook upload does.

Callbacks are called over HTTP the way the browser calls them (tests/web_requests.py).
"""
from __future__ import annotations

import json
from typing import Any

import pytest

from engine.params import ParamSet
from engine.params.versions import active_params, apply_version, ensure_default_version, list_versions
from tests import web_requests as wr
from tests.auth_helpers import login_client

ATR = "ATRIndicatorsConfig|main|atr_period"  # an integer from 7 to 21, 14 in the defaults


@pytest.fixture
def web(test_settings, any_db_url):  # type: ignore[no-untyped-def]
    from app import create_app
    from webapp.context import EXTENSION_KEY

    app = create_app(test_settings(database_url=any_db_url, warmup_polls=10), start_engine=False)
    client = login_client(app, "admin")
    store = app.server.extensions[EXTENSION_KEY].store
    ensure_default_version(store)  # version 1: the schema defaults, active
    return client, wr.dependencies(client), store


def _outputs(response: Any) -> dict[str, dict[str, Any]]:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_json()["response"]


def _versions(store: Any) -> list[Any]:
    with store.read() as s:
        return list_versions(s, 50)


def _active_id(store: Any) -> int:
    with store.read() as s:
        return int(active_params(s).version_id or 0)


def _apply(client: Any, deps: list[dict[str, Any]], edits: dict[str, Any], note: str | None,
           base: int | None = None) -> dict[str, Any]:
    dep = wr.find(deps, "parameters-apply-note.value", "parameters-apply-confirm")
    return _outputs(wr.call(client, dep, {"parameters-apply-confirm.n_clicks": 1, "parameters-edits.data": edits,
                                          "parameters-base.data": {"version_id": base},
                                          "parameters-apply-note.value": note},
                            trigger="parameters-apply-confirm.n_clicks"))


def _rollback(client: Any, deps: list[dict[str, Any]], button: str, picked: str, note: str | None = None) -> Any:
    dep = wr.find(deps, "parameters-rollback-note.value", "parameters-rollback-confirm")
    return _outputs(wr.call(client, dep, {f"{button}.n_clicks": 1, "parameters-version-pick.value": picked,
                                          "parameters-rollback-note.value": note},
                            trigger=f"{button}.n_clicks"))


def test_a_successful_apply_empties_the_note_so_the_next_apply_does_not_reuse_it(web) -> None:  # type: ignore[no-untyped-def]
    client, deps, store = web
    out = _apply(client, deps, {ATR: 18}, "longer ATR", _active_id(store))
    assert "is now active" in json.dumps(out["parameters-message"])
    assert out["parameters-apply-note"]["value"] == ""
    newest = _versions(store)[0]
    assert newest.note == "longer ATR" and newest.id == _active_id(store)
    # the next Apply, with the (now empty) field, gets the default note instead of "longer ATR"
    out = _apply(client, deps, {ATR: 19}, out["parameters-apply-note"]["value"], newest.id)
    assert "is now active" in json.dumps(out["parameters-message"])
    assert _versions(store)[0].note == "edited in the web UI"


def test_a_refused_apply_keeps_the_typed_note(web) -> None:  # type: ignore[no-untyped-def]
    client, deps, store = web
    before = len(_versions(store))
    out = _apply(client, deps, {ATR: 99}, "too long", _active_id(store))  # 99 is above the allowed 7-21
    assert "not applied" in json.dumps(out["parameters-message"])
    assert "parameters-apply-note" not in out  # unchanged: the user fixes the value and applies with it
    assert len(_versions(store)) == before


@pytest.mark.parametrize("button", ["parameters-rollback", "parameters-rollback-confirm"])
def test_rolling_back_to_the_active_version_is_refused(web, button: str) -> None:  # type: ignore[no-untyped-def]
    client, deps, store = web
    active = _active_id(store)
    before = len(_versions(store))
    out = _rollback(client, deps, button, str(active), "no-op")
    assert out["parameters-rollback-modal"]["is_open"] is False
    assert json.dumps(out["parameters-message"]).count(f"version {active} is already active; nothing changed") == 1
    assert "parameters-base" not in out and "parameters-rollback-note" not in out
    assert len(_versions(store)) == before and _active_id(store) == active


def test_a_rollback_opens_its_dialog_then_empties_its_note(web) -> None:  # type: ignore[no-untyped-def]
    client, deps, store = web
    first = _active_id(store)
    with store.read() as s:
        canon = active_params(s).to_canonical()
    canon["sheets"]["ATRIndicatorsConfig"]["main"]["atr_period"] = 9
    second = apply_version(store, ParamSet.from_canonical(canon), "test:other", "cli", "shorter ATR").version_id
    out = _rollback(client, deps, "parameters-rollback", str(first))
    assert out["parameters-rollback-modal"]["is_open"] is True
    assert f"equal to version {first}" in json.dumps(out["parameters-rollback-body"])
    out = _rollback(client, deps, "parameters-rollback-confirm", str(first), "back to defaults")
    newest = _versions(store)[0]
    assert newest.id == _active_id(store) and newest.id > (second or 0)
    assert newest.source == "rollback" and "back to defaults" in newest.note
    assert out["parameters-rollback-note"]["value"] == ""
    assert f"version {newest.id} (equal to version {first}) is now active" in json.dumps(out["parameters-message"])


def test_the_rollback_picker_preselects_no_version(web) -> None:  # type: ignore[no-untyped-def]
    client, deps, store = web
    first = _active_id(store)
    with store.read() as s:
        canon = active_params(s).to_canonical()
    canon["sheets"]["ATRIndicatorsConfig"]["main"]["atr_period"] = 9
    second = apply_version(store, ParamSet.from_canonical(canon), "test:other", "cli", "a note " * 20).version_id
    dep = wr.find(deps, "parameters-version-pick.value", "parameters-base")
    out = _outputs(wr.call(client, dep, {"parameters-base.data": {}}, trigger="parameters-base.data"))
    assert out["parameters-version-pick"]["value"] == ""
    assert (out["parameters-diff-a"]["value"], out["parameters-diff-b"]["value"]) == (str(first), str(second))
    options = out["parameters-version-pick"]["options"]
    assert [o["value"] for o in options[:2]] == [str(second), str(first)]
    label = options[0]["label"]
    assert label.startswith(f"v{second} (active) · ") and " UTC · cli · test:other" in label
    stamp = label.split(" · ")[1]  # "YYYY-MM-DD HH:MM UTC": to the minute
    assert len(stamp) == len("2026-01-02 03:04 UTC") and stamp.count(":") == 1
    assert options[0]["title"] == ("a note " * 20).strip() or options[0]["title"] == "a note " * 20
    assert "(active)" not in options[1]["label"]


def _render(client: Any, deps: list[dict[str, Any]], edits: dict[str, Any]) -> str:
    dep = wr.find(deps, "parameters-editor.children", "parameters-sheet")
    out = _outputs(wr.call(client, dep, {"parameters-sheet.data": "ATRIndicatorsConfig", "parameters-base.data": {},
                                         "parameters-edits.data": edits, "parameters-layout.data": 0},
                           trigger="parameters-sheet.data"))
    return json.dumps(out["parameters-editor"]["children"])


def _value_input(rendered: str) -> dict[str, Any]:
    """The props of the atr_period text box in a rendered sheet."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            props = node.get("props")
            if isinstance(props, dict) and props.get("id") == {"type": "parameters-value", "name": ATR}:
                found.append(props)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(json.loads(rendered))
    assert len(found) == 1
    return found[0]


@pytest.mark.parametrize("typed", ["abc", "NaN", "1e999", "-inf"])
def test_a_number_cell_names_the_text_typed_into_it(web, typed: str) -> None:  # type: ignore[no-untyped-def]
    client, deps, _store = web
    collect = wr.find(deps, "parameters-edits.data", "parameters-value")
    body = wr.build_body(collect, {})
    ident = {"name": ATR, "type": "parameters-value"}
    body["inputs"][0] = [{"id": ident, "property": "value", "value": typed}]
    body["state"] = [{"id": s["id"], "property": s["property"], "value": {} if s["property"] == "data" and
                      s["id"] in ("parameters-base", "parameters-edits") else None} for s in collect["state"]]
    body["changedPropIds"] = [json.dumps(ident, sort_keys=True, separators=(",", ":")) + ".value"]
    edits = _outputs(client.post(wr.CALLBACK_URL, json=body))["parameters-edits"]["data"]
    assert edits == {ATR: typed}
    rendered = _render(client, deps, edits)
    assert f"found {typed!r}; expected a" in rendered
    assert "the cell is empty" not in rendered
    box = _value_input(rendered)
    assert box["type"] == "text" and box["value"] == typed  # the typed text stays visible in the box


def test_a_number_typed_as_text_applies_as_the_number(web) -> None:  # type: ignore[no-untyped-def]
    client, deps, store = web
    box = _value_input(_render(client, deps, {}))
    assert box["type"] == "text" and box["inputMode"] == "numeric" and box["value"] == 14
    rendered = _render(client, deps, {ATR: " 18 "})
    assert "found" not in rendered and "the cell is empty" not in rendered
    out = _apply(client, deps, {ATR: " 18 "}, None, _active_id(store))
    assert "is now active" in json.dumps(out["parameters-message"])
    with store.read() as s:
        assert active_params(s).sheet("ATRIndicatorsConfig").atr_period == 18
