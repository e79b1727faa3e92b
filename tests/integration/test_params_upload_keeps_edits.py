"""Parameters upload over HTTP (audit3, defects 2-4): pending edits survive a valid upload, a formula cell saved
without its result is named as such, and a small size limit reads in kB.

Real app and store (SQLite and PostgreSQL via any_db_url), real callback requests (tests/web_requests.py).
Numbers are set by hand: the defaults hold target_daily_transitions 2.5 and atr_period 14; the file sets 4.0 and
15; the trader's pending edits say 4.5 and daily_loss_limit_pct 1.5. Expected after Apply: 4.5 (the edit wins
over the file), 15 (the file), 1.5 (the edit).
"""
from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest
from openpyxl import load_workbook

from engine.params.catalog import apply_edits
from engine.params.exporter import export_workbook
from engine.params.paramset import ParamSet, default_params
from engine.params.versions import active_params, ensure_default_version
from tests import web_requests as wr
from tests.auth_helpers import login_client

TDT = ("MasterConfiguration", "main", "target_daily_transitions")
ATR = ("ATRIndicatorsConfig", "main", "atr_period")
EDITS = {"MasterConfiguration|main|target_daily_transitions": "4.5", "TradingRisk|main|daily_loss_limit_pct": "1.5"}


def _web(test_settings: Any, url: str, **kw: Any) -> tuple[Any, list[dict[str, Any]], Any]:
    from app import create_app
    from webapp.context import EXTENSION_KEY

    app = create_app(test_settings(database_url=url, warmup_polls=10, **kw), start_engine=False)
    client = login_client(app, "admin")
    return client, wr.dependencies(client), app.server.extensions[EXTENSION_KEY].store


@pytest.fixture
def web(test_settings, any_db_url):  # type: ignore[no-untyped-def]
    return _web(test_settings, any_db_url)


def _upload(client: Any, deps: Any, data: bytes, name: str, edits: Any = None, base: Any = None) -> dict[str, Any]:
    url = "data:application/octet-stream;base64," + base64.b64encode(data).decode()
    values = {"parameters-upload.contents": url, "parameters-upload.filename": name}
    if edits is not None:  # pending edits ride along as the page's state
        values.update({"parameters-edits.data": edits, "parameters-base.data": base})
    r = wr.call(client, wr.find(deps, "parameters-upload-result.children"), values,
                trigger="parameters-upload.contents")
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    return r.get_json()["response"]


def _apply(client: Any, deps: Any, upload: Any, edits: Any, button: str, base: int | None) -> dict[str, Any]:
    r = wr.call(client, wr.find(deps, "parameters-apply-modal.is_open"),
                {"parameters-upload-data.data": upload, "parameters-base.data": {"version_id": base},
                 "parameters-edits.data": edits, f"{button}.n_clicks": 1}, trigger=f"{button}.n_clicks")
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    return r.get_json()["response"]


def test_pending_edits_stay_on_top_of_a_valid_upload_and_are_named(web) -> None:  # type: ignore[no-untyped-def]
    client, deps, store = web
    v1 = ensure_default_version(store)
    file = export_workbook(apply_edits(default_params(), values={TDT: "4.0", ATR: "15"}).paramset)
    up = _upload(client, deps, file, "desk.xlsx", EDITS, {"version_id": v1.version_id})
    assert up["parameters-edits"]["data"] == EDITS  # both kept, not {}
    text = json.dumps(up["parameters-upload-result"])
    assert "Your 2 pending edits stay on top of the file" in text
    # the file changed target_daily_transitions (2.5 -> 4.0) too: named; daily_loss_limit_pct it did not change
    assert "your edit wins: MasterConfiguration: target_daily_transitions." in text
    assert "daily_loss_limit_pct" not in text.split("your edit wins")[1].split(".")[0]
    data = up["parameters-upload-data"]["data"]
    body = _apply(client, deps, data, EDITS, "parameters-apply", v1.version_id)["parameters-apply-body"]["children"]
    assert "desk.xlsx with 2 pending edits on top (3 changed values)" in body
    done = _apply(client, deps, data, EDITS, "parameters-apply-confirm", v1.version_id)
    assert "is now active" in json.dumps(done["parameters-message"])
    with store.read() as s:
        now = active_params(s)
    assert now.sheet("MasterConfiguration").target_daily_transitions == 4.5
    assert now.sheet("ATRIndicatorsConfig").atr_period == 15
    assert now.sheet("TradingRisk").daily_loss_limit_pct == 1.5


def test_an_edit_whose_row_the_file_lacks_is_named_as_dropped(web) -> None:  # type: ignore[no-untyped-def]
    client, deps, store = web
    v1 = ensure_default_version(store)
    c = default_params().to_canonical()
    c["sheets"]["TransitionRules"]["main"] = [r for r in c["sheets"]["TransitionRules"]["main"] if r["rule_id"] != 3]
    file = export_workbook(ParamSet.from_canonical(c))
    edits = {"TransitionRules|main|=3|description": "mine", "TransitionRules|main|=4|description": "kept"}
    up = _upload(client, deps, file, "fewer.xlsx", edits, {"version_id": v1.version_id})
    assert up["parameters-edits"]["data"] == {"TransitionRules|main|=4|description": "kept"}
    text = json.dumps(up["parameters-upload-result"])
    assert "Your 1 pending edit stays on top of the file." in text
    assert "1 pending edit dropped: TransitionRules, 3: that row is no longer in the table" in text


def test_a_formula_saved_without_its_result_is_named_not_called_empty(web) -> None:  # type: ignore[no-untyped-def]
    client, deps, _store = web
    wb = load_workbook(io.BytesIO(export_workbook(default_params())))
    wb["MasterConfiguration"]["B6"] = "=2+1"  # openpyxl writes the formula with no saved result
    buf = io.BytesIO()
    wb.save(buf)
    text = json.dumps(_upload(client, deps, buf.getvalue(), "script.xlsx")["parameters-upload-result"])
    assert "the cell holds a formula (=2+1) with no saved value" in text
    assert "open the workbook in Excel or LibreOffice and save it" in text
    assert "the cell is empty" not in text


def test_a_small_size_limit_reads_in_kilobytes(test_settings, any_db_url) -> None:  # type: ignore[no-untyped-def]
    client, deps, _store = _web(test_settings, any_db_url, max_upload_bytes=10_000)
    text = json.dumps(_upload(client, deps, b"\0" * 12_000, "big.xlsx")["parameters-upload-result"])
    assert "the file is larger than the 10 kB limit for a parameter workbook" in text and "0.0 MB" not in text
    from webapp.byte_sizes import size_text

    assert [size_text(n) for n in (999, 1, 12_500, 5_000_000)] == ["999 bytes", "1 byte", "12.5 kB", "5.0 MB"]
