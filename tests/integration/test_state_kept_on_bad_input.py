"""Bad input over HTTP, as the probe sent it (forged Dash callback values from a logged-in user): each gets a
clear message naming what and where, never a 500, and the good state before it stays in force: the pending
Parameters edits, the regime -> preset table, an accepted pending upload. SQLite and PostgreSQL."""
from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from engine.params import default_params
from engine.planner import preset_store
from tests import web_requests as wr
from tests.auth_helpers import login_client

ATR = "ATRIndicatorsConfig|main|atr_period"
GRID = {"name": "TransitionRules|main", "type": "parameters-grid"}
REGIMES = [str(r.regime_name) for r in default_params().table("RegimeParameters")]
WORKBOOK_PENDING = {"filename": "good.xlsx", "sheets": {"MasterConfiguration": {}}, "hash": "x"}


@pytest.fixture
def web(test_settings, any_db_url):  # type: ignore[no-untyped-def]
    from app import create_app
    from webapp.context import EXTENSION_KEY

    app = create_app(test_settings(database_url=any_db_url, warmup_polls=10), start_engine=False)
    client = login_client(app, "admin")
    return client, wr.dependencies(client), app.server.extensions[EXTENSION_KEY].store


def _grid_edit(client: Any, deps: list[dict[str, Any]], events: Any, edits: dict[str, Any]) -> Any:
    """collect_edits as the grid fires it: cellValueChanged of the TransitionRules grid, over `edits`."""
    dep = wr.find(deps, "parameters-edits.data", input_contains="parameters-grid")
    at = wr.position(dep, '{"name":["ALL"],"type":"parameters-grid"}', "cellValueChanged")
    body = wr.build_body(dep, {at: wr.Matches([({"name": GRID["name"]}, events)]),
                               wr.position(dep, "parameters-edits", "data"): edits,
                               wr.position(dep, "parameters-base", "data"): {}}, changed=at)
    body["changedPropIds"] = [json.dumps(GRID, sort_keys=True, separators=(",", ":")) + ".cellValueChanged"]
    return client.post(wr.CALLBACK_URL, json=body)


@pytest.mark.parametrize(("event", "words"), [
    ({"rowId": "99999", "colId": "priority", "value": 3}, "TransitionRules: there is no row 100000"),
    ({"rowId": "-1", "colId": "priority", "value": 3}, "TransitionRules: '-1' is not a row"),
    ({"rowId": "abc", "colId": "priority", "value": 3}, "TransitionRules: 'abc' is not a row"),
    ({"rowId": "0", "colId": "priority", "value": ["x"]}, "TransitionRules, row 1, column 'Priority'"),
    ({"rowId": "0", "colId": "priority", "value": {"a": 1}}, "TransitionRules, row 1, column 'Priority'"),
    ({"rowId": "0", "colId": "priority", "value": "x" * 5000}, "longer than 1000 characters"),
    ({"rowId": "0", "value": 3}, "TransitionRules: the table edit names no row and column"),
], ids=["row-past-end", "row-negative", "row-text", "list", "mapping", "long-text", "no-column"])
def test_a_bad_grid_edit_is_refused_and_the_stored_edits_stay(web, event: dict, words: str) -> None:  # type: ignore[no-untyped-def]
    client, deps, _store = web
    response = _grid_edit(client, deps, [event], {ATR: 20})
    assert response.status_code == 200
    got = response.get_json()["response"]
    # the store keeps the good edit it had: sent again unchanged, so the grids redraw and the refused cell shows the
    # value in force again (pages/parameters.py collect_edits)
    assert got["parameters-edits"]["data"] == {ATR: 20}
    text = json.dumps(got["parameters-message"], ensure_ascii=False)
    assert "Not taken" in text and words in text and "invalid literal" not in text

    good = _grid_edit(client, deps, [{"rowId": "0", "colId": "priority", "value": 7}], {ATR: 20})
    # stored under the row's key (rule_id 1 is row 1), so the edit follows its row (audit finding 5)
    assert good.get_json()["response"]["parameters-edits"]["data"] == {ATR: 20, "TransitionRules|main|=1|priority": 7}


def test_the_regime_table_refuses_an_unknown_or_partial_save_and_keeps_its_mappings(web) -> None:  # type: ignore[no-untyped-def]
    client, deps, store = web
    dep = wr.find(deps, "planner-regime-message.children")

    def save(names: list[str], values: list[str]) -> str:
        response = wr.call(client, dep, {
            "planner-regime-save.n_clicks": 1,
            '{"name":["ALL"],"type":"planner-regime"}.id': wr.Matches(({"name": n}, {"type": "planner-regime", "name": n})
                                                                       for n in names),
            '{"name":["ALL"],"type":"planner-regime"}.value': wr.Matches(({"name": n}, v) for n, v in zip(names, values,
                                                                                                          strict=True)),
        }, trigger="planner-regime-save.n_clicks")
        assert response.status_code == 200
        return json.dumps(response.get_json()["response"], ensure_ascii=False)

    table = dict.fromkeys(REGIMES, "default") | {"Bearish_High_Vol": "conservative"}
    assert "Saved: Bearish_High_Vol → conservative" in save(list(table), list(table.values()))

    unknown = save(["Nope"], ["default"])
    assert "Not saved" in unknown and "'Nope' is not a regime" in unknown
    partial = save(REGIMES[:-1], ["default"] * (len(REGIMES) - 1))
    assert "Not saved" in partial and f"{REGIMES[-1]} missing" in partial
    bad_preset = save(list(table), [*list(table.values())[:-1], "nope"])
    assert "unknown preset 'nope'" in bad_preset
    with store.read() as s:
        assert preset_store.regime_preset_table(s) == table  # every mapping is still there


def _upload(client: Any, dep: dict[str, Any], prefix: str, data: bytes, name: str, pending: Any) -> Any:
    contents = "data:application/octet-stream;base64," + base64.b64encode(data).decode()
    store_id = {"parameters": "parameters-upload-data", "regime-whatif": "regime-whatif-upload-data",
                "backtest": "backtest-upload-data"}[prefix]
    values = {f"{prefix}-upload.contents": contents, f"{prefix}-upload.filename": name}
    if any(spec["id"] == store_id for spec in dep["state"]):  # the pending upload, as the browser holds it
        values[f"{store_id}.data"] = pending
    response = wr.call(client, dep, values, trigger=f"{prefix}-upload.contents")
    assert response.status_code == 200
    return response.get_json()["response"]


def test_a_refused_workbook_keeps_the_pending_upload_on_both_pages(web) -> None:  # type: ignore[no-untyped-def]
    client, deps, _store = web
    page = wr.find(deps, "parameters-upload-result.children")
    got = _upload(client, page, "parameters", b"not a workbook", "notes.xlsx", WORKBOOK_PENDING)
    assert "parameters-upload-data" not in got
    text = json.dumps(got, ensure_ascii=False)
    assert "notes.xlsx was refused" in text and "notes.xlsx was not taken; the earlier upload good.xlsx stays pending" \
        in text
    alone = json.dumps(_upload(client, page, "parameters", b"not a workbook", "notes.xlsx", None), ensure_ascii=False)
    assert "notes.xlsx was not taken; nothing else changed" in alone

    whatif = wr.find(deps, "regime-whatif-upload-status.children")
    got = _upload(client, whatif, "regime-whatif", b"not a workbook", "notes.xlsx", WORKBOOK_PENDING)
    assert "regime-whatif-upload-data" not in got
    assert "the earlier upload good.xlsx stays pending" in json.dumps(got, ensure_ascii=False)
    cleared = wr.call(client, whatif, {"regime-whatif-upload-clear.n_clicks": 1},
                      trigger="regime-whatif-upload-clear.n_clicks")
    assert cleared.get_json()["response"]["regime-whatif-upload-data"]["data"] is None  # Clear still clears

    discard = wr.find(deps, "parameters-edits.data", input_contains="parameters-grid")
    response = wr.call(client, discard, {"parameters-discard.n_clicks": 1, "parameters-upload-data.data":
                                         WORKBOOK_PENDING, "parameters-edits.data": {ATR: 20}},
                       trigger="parameters-discard.n_clicks")
    got = response.get_json()["response"]
    assert got["parameters-upload-data"]["data"] is None and got["parameters-edits"]["data"] == {}  # Discard clears


def test_a_refused_backtest_csv_keeps_the_accepted_one(web) -> None:  # type: ignore[no-untyped-def]
    client, deps, _store = web
    dep = wr.find(deps, "backtest-upload-data.data")
    good = _upload(client, dep, "backtest", b"timestamp,open,high,low,close,volume\n2024-01-02,1,2,0.5,1.5,10\n",
                   "good.csv", None)
    pending = good["backtest-upload-data"]["data"]
    assert pending["filename"] == "good.csv"

    colliding = b"timestamp,symbol,open,high,low,close,volume\n2024-01-02,A/B,1,2,0.5,1.5,10\n" \
                b"2024-01-02,A_B,1,2,0.5,1.5,10\n"
    for data, name, why in ((b"x", "notes.txt", "upload a .csv file"),
                            (colliding, "pairs.csv", "pairs.csv line 2, column 'symbol': 'A/B' is not a symbol")):
        got = _upload(client, dep, "backtest", data, name, pending)
        assert "backtest-upload-data" not in got, name
        text = json.dumps(got, ensure_ascii=False)
        assert why in text and f"{name} was not taken; the earlier upload good.csv stays" in text
        assert "/tmp" not in text
