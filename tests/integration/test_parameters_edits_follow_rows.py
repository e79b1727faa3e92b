"""A pending table edit follows its row (by the section's key, e.g. the trading bias), not its row number: another
user's version that reorders the rows does not move it onto another row; a row that is gone drops the edit with a
message naming it; edits kept in the old row-number form by a browser's session are dropped with a message, never a
500. Audit finding 5 (probe p10). Callbacks are called over HTTP as the browser calls them; SQLite and PostgreSQL.

Expected values are the schema defaults written by hand: TradingRisk Bias Size Multipliers lists NONE 0,
LONG 1, LONG_CAUTIOUS 0.5, LONG_AGGRESSIVE 1.5 (row 4), ...; PerformanceMetrics' first row is regime_accuracy.
"""
from __future__ import annotations

import json
from typing import Any

import pytest

from engine.params.catalog import apply_edits
from engine.params.versions import active_params, apply_version, ensure_default_version
from tests import web_requests as wr
from tests.auth_helpers import login_client

BIAS = "TradingRisk|bias_size_multipliers"
METRICS = "PerformanceMetrics|main"


@pytest.fixture
def web(test_settings, any_db_url):  # type: ignore[no-untyped-def]
    from app import create_app
    from webapp.context import EXTENSION_KEY

    app = create_app(test_settings(database_url=any_db_url, warmup_polls=10), start_engine=False)
    client = login_client(app, "admin")
    store = app.server.extensions[EXTENSION_KEY].store
    ensure_default_version(store)  # version 1: the schema defaults, active
    return client, wr.dependencies(client), store


def _outputs(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_json()["response"]


def _grid_edit(client: Any, deps: list[dict[str, Any]], grid: str, row: int, col: str, value: Any,
               base: int) -> dict[str, Any]:
    """collect_edits as the grid fires it: one cellValueChanged (the grid's row id is the row's position)."""
    ident = {"name": grid, "type": "parameters-grid"}
    dep = wr.find(deps, "parameters-edits.data", input_contains="parameters-grid")
    at = wr.position(dep, '{"name":["ALL"],"type":"parameters-grid"}', "cellValueChanged")
    body = wr.build_body(dep, {at: wr.Matches([({"name": grid}, [{"rowId": str(row), "colId": col, "value": value}])]),
                               wr.position(dep, "parameters-edits", "data"): {},
                               wr.position(dep, "parameters-base", "data"): {"version_id": base}}, changed=at)
    body["changedPropIds"] = [json.dumps(ident, sort_keys=True, separators=(",", ":")) + ".cellValueChanged"]
    edits = _outputs(client.post(wr.CALLBACK_URL, json=body))["parameters-edits"]["data"]
    assert isinstance(edits, dict) and len(edits) == 1
    return edits


def _apply(client: Any, deps: list[dict[str, Any]], edits: dict[str, Any], base: int) -> dict[str, Any]:
    dep = wr.find(deps, "parameters-apply-modal.is_open")
    return _outputs(wr.call(client, dep, {"parameters-edits.data": edits, "parameters-base.data": {"version_id": base},
                                          "parameters-apply-confirm.n_clicks": 1},
                            trigger="parameters-apply-confirm.n_clicks"))


def _pending_cells(client: Any, deps: list[dict[str, Any]], edits: dict[str, Any], base: int) -> str:
    dep = wr.find(deps, "parameters-pending.children")
    return json.dumps(_outputs(wr.call(client, dep, {"parameters-edits.data": edits, "parameters-sheet.data":
                                                     "TradingRisk", "parameters-base.data": {"version_id": base}},
                                       trigger="parameters-edits.data")), ensure_ascii=False)


def _rebase(client: Any, deps: list[dict[str, Any]], edits: Any, base: int | None, initial: bool = False) -> Any:
    """rebase_edits: run when the page's base version changes (or, with `initial`, when the page loads)."""
    dep = wr.find(deps, "parameters-message.children", input_contains="parameters-base")
    body = wr.build_body(dep, {wr.position(dep, "parameters-base", "data"): {"version_id": base},
                               wr.position(dep, "parameters-edits", "data"): edits})
    if initial:
        body["changedPropIds"] = []
    response = client.post(wr.CALLBACK_URL, json=body)
    assert response.status_code in (200, 204), response.get_data(as_text=True)[:300]
    return response.get_json()["response"] if response.status_code == 200 else None


def _active(store: Any) -> Any:
    with store.read() as s:
        return active_params(s)


def _bob_applies(store: Any, rows: list[dict[str, Any]], section: tuple[str, str]) -> int:
    ps = apply_edits(_active(store), tables={section: rows}).paramset
    assert ps is not None
    return int(apply_version(store, ps, "bob", "upload", "another user's workbook").version_id or 0)


def test_an_edit_follows_its_row_when_another_version_reorders_the_table(web) -> None:  # type: ignore[no-untyped-def]
    client, deps, store = web
    # Alice sets LONG_AGGRESSIVE (row 4 on the page) from 1.5 to 0.5
    edits = _grid_edit(client, deps, BIAS, 3, "size_multiplier", "0.5", base=1)
    # meanwhile Bob applies the same rows sorted by name: row 4 is now NONE
    v1_rows = [r.as_dict() for r in _active(store).table("TradingRisk", "bias_size_multipliers")]
    v2 = _bob_applies(store, sorted(v1_rows, key=lambda r: r["trading_bias"]), ("TradingRisk", "bias_size_multipliers"))
    assert [r.as_dict()["trading_bias"] for r in _active(store).table("TradingRisk", "bias_size_multipliers")][3] == "NONE"

    first = _apply(client, deps, edits, base=1)
    assert "became active while you were editing" in json.dumps(first["parameters-message"])
    assert first["parameters-base"]["data"]["version_id"] == v2 and "parameters-edits" not in first  # edits kept

    panel = _pending_cells(client, deps, edits, v2)  # what Alice reviews: her row by name, its value in version 2
    assert "SizeMultiplier (LONG_AGGRESSIVE)" in panel and '"1.5"' in panel and '"0.5"' in panel
    assert "(row 4)" not in panel

    second = _apply(client, deps, edits, base=v2)
    assert "is now active" in json.dumps(second["parameters-message"])
    got = {r.as_dict()["trading_bias"]: r.as_dict()["size_multiplier"]
           for r in _active(store).table("TradingRisk", "bias_size_multipliers")}
    assert got["LONG_AGGRESSIVE"] == 0.5 and got["NONE"] == 0.0 and got["RANGE"] == 0.5 and got["LONG"] == 1.0
    # the page's reaction to the new base (rebase_edits) keeps the edit: its row is still there
    rebased = _rebase(client, deps, edits, v2)
    assert rebased["parameters-edits"]["data"] == edits and "parameters-message" not in rebased


def test_an_edit_whose_row_is_gone_is_dropped_with_a_message_naming_it(web) -> None:  # type: ignore[no-untyped-def]
    client, deps, store = web
    edits = _grid_edit(client, deps, METRICS, 0, "target", "0.8", base=1)  # regime_accuracy's target 0.75 -> 0.8
    rows = [r.as_dict() for r in _active(store).table("PerformanceMetrics")]
    v2 = _bob_applies(store, rows[1:], ("PerformanceMetrics", "main"))  # Bob deletes regime_accuracy

    # Apply with the old edits is refused by name; nothing lands on transition_timing, now the first row
    dep = wr.find(deps, "parameters-apply-modal.is_open")
    refused = wr.call(client, dep, {"parameters-edits.data": edits, "parameters-base.data": {"version_id": v2},
                                    "parameters-apply-confirm.n_clicks": 1}, trigger="parameters-apply-confirm.n_clicks")
    text = refused.get_data(as_text=True)
    assert "PerformanceMetrics, regime_accuracy: that row is no longer in the table" in text, text[:400]
    assert "Nothing was applied" in text and "Traceback" not in text
    now = _active(store)
    assert now.version_id == v2 and now.table("PerformanceMetrics")[0].as_dict()["target"] == 0.7

    rebased = _rebase(client, deps, edits, v2)  # the page loads version 2: the edit is dropped, named
    assert rebased["parameters-edits"]["data"] == {}
    text = json.dumps(rebased["parameters-message"])
    assert "1 pending edit dropped" in text and "PerformanceMetrics, regime_accuracy" in text
    assert "no longer in the table" in text


def test_old_row_number_edits_in_the_session_are_dropped_with_a_message(web) -> None:  # type: ignore[no-untyped-def]
    client, deps, _store = web
    old = {f"{BIAS}|3|size_multiplier": "0.5", "ATRIndicatorsConfig|main|atr_period": 20}
    loaded = _rebase(client, deps, old, 1, initial=True)
    assert loaded["parameters-edits"]["data"] == {"ATRIndicatorsConfig|main|atr_period": 20}
    text = json.dumps(loaded["parameters-message"])
    assert "1 pending edit dropped" in text and "older form of this page" in text
    # the views the page loads with the old edits still in its store render (no 500)
    assert "ATRIndicatorsConfig" in _pending_cells(client, deps, old, 1)
    editor = wr.call(client, wr.find(deps, "parameters-editor.children"),
                     {"parameters-sheet.data": "TradingRisk", "parameters-base.data": {"version_id": 1},
                      "parameters-edits.data": old})
    assert editor.status_code == 200 and "LONG_AGGRESSIVE" in editor.get_data(as_text=True)
    # a page load with nothing to drop changes nothing
    assert not _rebase(client, deps, {"ATRIndicatorsConfig|main|atr_period": 20}, 1, initial=True)
