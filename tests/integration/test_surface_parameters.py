"""Parameters page surface (issue 10, point 6): the sheet count in words, Apply only when something changed,
the upload's counted warnings listed, and a stale result line cleared when a new edit or upload starts.

Callbacks are called over HTTP the way the browser calls them (tests/web_requests.py).
"""
from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import dash
import pytest

from components.param_chrome import upload_warnings
from tests import web_requests as wr
from tests.auth_helpers import login_client
from webapp import param_search
from webapp import param_views as pv

REFERENCE = Path("/work/shared/reference/MR_CONFIG_STRATEGY_1.0.0.xlsx")
if not REFERENCE.exists():  # the shared folder sits next to the repository
    REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "MR_CONFIG_STRATEGY_1.0.0.xlsx"
EDIT_KEY = "ATRIndicatorsConfig|main|atr_period"


@pytest.fixture
def web(test_settings, any_db_url):  # type: ignore[no-untyped-def]
    from app import create_app
    from webapp.context import EXTENSION_KEY

    app = create_app(test_settings(database_url=any_db_url, warmup_polls=10), start_engine=False)
    client = login_client(app, "admin")
    return client, wr.dependencies(client), app.server.extensions[EXTENSION_KEY].store


def _dep(deps: list[dict[str, Any]], output: str, input_id: str) -> dict[str, Any]:
    hits = [d for d in deps if output in d["output"] and any(input_id in str(i["id"]) for i in d["inputs"])]
    assert len(hits) == 1, [d["output"] for d in hits]
    return hits[0]


def _outputs(response: Any) -> dict[str, dict[str, Any]]:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_json()["response"]


def test_sheet_count_names_the_sheet_regimedesk_adds() -> None:
    assert param_search.sheet_count_text(pv.schema()) == "31 workbook sheets plus the TradingRisk sheet that RegimeDesk adds"


def test_page_header_says_31_workbook_sheets(web) -> None:  # type: ignore[no-untyped-def]
    client, deps, _store = web
    router = wr.find(deps, "_pages_content.children")
    path = next(p["path"] for p in dash.page_registry.values() if p["path"] == "/parameters")
    text = wr.call(client, router, {"_pages_location.pathname": path}).get_data(as_text=True)
    assert "in 31 workbook sheets plus the TradingRisk sheet that RegimeDesk adds:" in text


def test_apply_is_disabled_until_something_changed(web) -> None:  # type: ignore[no-untyped-def]
    client, deps, store = web
    dep = _dep(deps, "parameters-apply.disabled", "parameters-edits")
    base = pv.load_base(store, None)
    same = {"filename": "same.xlsx", "sheets": base.to_canonical()["sheets"], "hash": base.content_hash}
    out = _outputs(wr.call(client, dep, {"parameters-upload-data.data": same, "parameters-edits.data": {},
                                         "parameters-base.data": {}, "parameters-sheet.data": "ATRIndicatorsConfig"}))
    assert out["parameters-apply"]["disabled"] is True  # an upload equal to the active version: nothing to apply
    assert "0 changes against" in json.dumps(out["parameters-pending-count"])
    out = _outputs(wr.call(client, dep, {"parameters-edits.data": {EDIT_KEY: 18}, "parameters-base.data": {},
                                         "parameters-sheet.data": "ATRIndicatorsConfig"}))
    assert out["parameters-apply"]["disabled"] is False
    assert out["parameters-pending-count"]["children"] == "1 pending edit"


def test_a_new_edit_clears_the_last_result_line(web) -> None:  # type: ignore[no-untyped-def]
    client, deps, _store = web
    dep = _dep(deps, "parameters-message.children", "parameters-value")
    body = wr.build_body(dep, {})
    ident = {"name": EDIT_KEY, "type": "parameters-value"}
    body["inputs"][0] = [{"id": ident, "property": "value", "value": 18}]
    body["state"] = [{"id": s["id"], "property": s["property"], "value": {} if s["property"] == "data" and
                      s["id"] in ("parameters-base", "parameters-edits") else None} for s in dep["state"]]
    body["changedPropIds"] = [json.dumps(ident, sort_keys=True, separators=(",", ":")) + ".value"]
    out = _outputs(client.post(wr.CALLBACK_URL, json=body))
    assert out["parameters-edits"]["data"] == {EDIT_KEY: 18}
    assert out["parameters-message"]["children"] is None


def test_upload_lists_the_warning_it_counts_and_clears_the_last_result(web) -> None:  # type: ignore[no-untyped-def]
    client, deps, _store = web
    dep = _dep(deps, "parameters-upload-result.children", "parameters-upload")
    contents = "data:application/octet-stream;base64," + base64.b64encode(REFERENCE.read_bytes()).decode()
    out = _outputs(wr.call(client, dep, {"parameters-upload.contents": contents,
                                         "parameters-upload.filename": "reference.xlsx"},
                           trigger="parameters-upload.contents"))
    shown = json.dumps(out["parameters-upload-result"])
    assert "warnings: 1" in shown  # the count in the summary line...
    assert "1 warning: show" in shown and "sheet is missing" in shown  # ...and the warning itself beneath it
    assert out["parameters-message"]["children"] is None


def test_upload_warnings_fold_under_their_count() -> None:
    assert upload_warnings([]) is None
    issue = {"sheet": "TradingRisk", "where": "TradingRisk", "message": "sheet is missing",
             "expected": "a sheet named TradingRisk", "fix": "defaults were used"}
    details = upload_warnings([issue, {**issue, "where": "TradingRisk!B3", "message": "blank", "expected": ""}])
    assert details is not None
    assert details.children[0].children == "2 warnings: show"
    alert = details.children[1]
    assert alert.color == "warning" and alert.children[0].children == "Warnings (the workbook is still valid)"
