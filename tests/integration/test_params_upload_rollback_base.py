"""Uploads and rollbacks apply onto the active version (audit of the parameter workflow, findings 2, 3, 4 and 10):

- the user's own 31-sheet workbook (no TradingRisk sheet) keeps the active version's risk limits, and says so;
- an upload checked against one version is refused once another became active (check it again), and its confirm
  dialog counts the changes against the active version;
- a rollback to a version stored before TradingRisk existed keeps the current limits and says which sheet it kept;
- an active version that no longer validates (stale_data_seconds 3, below today's minimum 5) can still be replaced
  by apply_version, a rollback or the page, whose messages name the cell.

Real SQLite and PostgreSQL (any_db_url), the real reference workbook, callbacks over HTTP (tests/web_requests.py).
Expected values are the trader's own numbers and the schema defaults (250000 / 10000 / 3.0, atr_period 14).
"""
from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import update

from engine.params.catalog import apply_edits
from engine.params.exporter import export_workbook
from engine.params.paramset import ParamSet, default_params
from engine.params.testing import reference_bytes
from engine.params.version_rollback import rollback
from engine.params.versions import (
    active_params,
    apply_version,
    ensure_default_version,
    list_versions,
)
from engine.store.models import ParamVersion
from tests import web_requests as wr
from tests.auth_helpers import login_client

RISK = "TradingRisk"
TIGHT = {(RISK, "main", "max_order_notional"): "1000", (RISK, "main", "max_order_qty"): "10",
         (RISK, "main", "daily_loss_limit_pct"): "0.5"}
TIGHT_NOTIONAL = (RISK, "main", "max_order_notional")
ATR = ("ATRIndicatorsConfig", "main", "atr_period")  # 14 in the defaults and in the reference workbook


@pytest.fixture
def web(test_settings, any_db_url):  # type: ignore[no-untyped-def]
    from app import create_app
    from webapp.context import EXTENSION_KEY

    app = create_app(test_settings(database_url=any_db_url, warmup_polls=10), start_engine=False)
    client = login_client(app, "admin")
    store = app.server.extensions[EXTENSION_KEY].store
    return client, wr.dependencies(client), store


def _out(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_json()["response"]


def _upload(client: Any, deps: Any, data: bytes, name: str) -> dict[str, Any]:
    url = "data:application/vnd.openxmlformats-officedocument.spreadsheetml.sheet;base64," + \
        base64.b64encode(data).decode()
    return _out(wr.call(client, wr.find(deps, "parameters-upload-result.children"),
                        {"parameters-upload.contents": url, "parameters-upload.filename": name},
                        trigger="parameters-upload.contents"))


def _apply(client: Any, deps: Any, upload: Any, button: str, base: int | None = None) -> dict[str, Any]:
    return _out(wr.call(client, wr.find(deps, "parameters-apply-modal.is_open"),
                        {"parameters-upload-data.data": upload, "parameters-base.data": {"version_id": base},
                         "parameters-edits.data": {}, f"{button}.n_clicks": 1}, trigger=f"{button}.n_clicks"))


def _rollback(client: Any, deps: Any, button: str, picked: int) -> dict[str, Any]:
    return _out(wr.call(client, wr.find(deps, "parameters-rollback-note.value", "parameters-rollback-confirm"),
                        {f"{button}.n_clicks": 1, "parameters-version-pick.value": str(picked),
                         "parameters-rollback-note.value": None}, trigger=f"{button}.n_clicks"))


def _active(store: Any) -> ParamSet:
    with store.read() as s:
        return active_params(s)


def _risk(ps: ParamSet) -> tuple[float, int, float]:
    r = ps.sheet(RISK)
    return r.max_order_notional, r.max_order_qty, r.daily_loss_limit_pct


def _store_row(store: Any, canonical: dict[str, Any], note: str) -> int:
    """A version as an older release stored it (not re-validated), made the only active one."""
    with store.write() as s:
        s.execute(update(ParamVersion).values(is_active=False))
        row = ParamVersion(created_at=datetime(2026, 1, 1, tzinfo=UTC), author="old", source="ui", note=note,
                           parent_id=None, content_hash="stored-by-an-older-release",
                           values_json=json.dumps(canonical), diff_json="[]", is_active=True)
        s.add(row)
        s.flush()
        return int(row.id)


def test_p17_the_users_workbook_without_trading_risk_keeps_the_active_risk_limits(web) -> None:  # type: ignore[no-untyped-def]
    client, deps, store = web
    v1 = ensure_default_version(store)
    v2 = apply_version(store, apply_edits(v1, values={**TIGHT, ATR: "18"}).paramset, "trader", "ui", "my limits")
    up = _upload(client, deps, reference_bytes(), "MR_CONFIG_STRATEGY_1.0.0.xlsx")
    text = json.dumps(up["parameters-upload-result"])
    assert f"Kept from the active version {v2.version_id} (not in the file): TradingRisk" in text
    assert f"kept the values of the active version {v2.version_id}" in text  # the warning, no longer "defaults"
    data = up["parameters-upload-data"]["data"]
    assert data["base_version"] == v2.version_id and data["kept"] == ["TradingRisk"]
    opened = _apply(client, deps, data, "parameters-apply", v2.version_id)
    body = opened["parameters-apply-body"]["children"]
    # only atr_period differs from version 2 (18 -> the file's 14): the risk limits are not counted as changes
    assert "(1 changed value)" in body and "The file has no TradingRisk: kept as in the active version" in body
    done = _apply(client, deps, data, "parameters-apply-confirm", v2.version_id)
    assert "is now active" in json.dumps(done["parameters-message"])
    now = _active(store)
    assert now.version_id == v2.version_id + 1
    assert _risk(now) == (1000.0, 10, 0.5)
    assert now.sheet("ATRIndicatorsConfig").atr_period == 14


def test_p05_an_upload_checked_against_an_older_version_is_refused_then_counted_against_the_active(web) -> None:  # type: ignore[no-untyped-def]
    client, deps, store = web
    v1 = ensure_default_version(store)
    mine = export_workbook(apply_edits(default_params(), values={ATR: "15"}).paramset)
    data = _upload(client, deps, mine, "mine.xlsx")["parameters-upload-data"]["data"]
    v2 = apply_version(store, apply_edits(v1, values={TIGHT_NOTIONAL: "1000"}).paramset, "bob", "ui", "tighten")
    refused = f"version {v2.version_id} became active after the upload was checked against version {v1.version_id}"
    opened = _apply(client, deps, data, "parameters-apply", v1.version_id)
    assert opened["parameters-apply-modal"]["is_open"] is False
    assert refused in json.dumps(opened["parameters-message"]) and "Check the upload again" in \
        json.dumps(opened["parameters-message"])
    done = _apply(client, deps, data, "parameters-apply-confirm", v1.version_id)
    assert refused in json.dumps(done["parameters-message"])
    assert _active(store).version_id == v2.version_id and _risk(_active(store))[0] == 1000.0
    assert data["base_version"] == v1.version_id and data["kept"] == []
    # checked again: counted against version 2 (atr_period 14 -> 15 and bob's notional 1000 -> 250000)
    data = _upload(client, deps, mine, "mine.xlsx")["parameters-upload-data"]["data"]
    assert data["base_version"] == v2.version_id
    body = _apply(client, deps, data, "parameters-apply", v1.version_id)["parameters-apply-body"]["children"]
    assert "(2 changed values)" in body
    done = _apply(client, deps, data, "parameters-apply-confirm", v1.version_id)
    assert "is now active" in json.dumps(done["parameters-message"])
    with store.read() as s:
        newest = list_versions(s, 1)[0]
    assert (newest.parent_id, newest.changes) == (v2.version_id, 2)


def test_p03_a_rollback_to_a_version_without_trading_risk_keeps_the_current_limits(web) -> None:  # type: ignore[no-untyped-def]
    client, deps, store = web
    old = default_params().to_canonical()
    del old["sheets"][RISK]  # stored before the TradingRisk sheet existed
    v1 = _store_row(store, old, "old release")
    v2 = apply_version(store, apply_edits(_active(store), values={**TIGHT, ATR: "18"}).paramset, "trader", "ui", "")
    body = _rollback(client, deps, "parameters-rollback", v1)["parameters-rollback-body"]["children"]
    assert f"version {v1} has no TradingRisk: kept as in version {v2.version_id}" in body
    msg = json.dumps(_rollback(client, deps, "parameters-rollback-confirm", v1)["parameters-message"])
    assert f"version {v1} has no TradingRisk" in msg and f"equal to version {v1}" not in msg
    now = _active(store)
    assert now.version_id == v2.version_id + 1
    assert _risk(now) == (1000.0, 10, 0.5)  # the trader's limits, not the defaults 250000 / 10000 / 3.0
    assert now.sheet("ATRIndicatorsConfig").atr_period == 14  # version 1's value
    with store.read() as s:
        assert f"kept from version {v2.version_id}" in list_versions(s, 1)[0].note


def test_p03_engine_rollback_keeps_what_the_target_lacks(any_db_url) -> None:  # type: ignore[no-untyped-def]
    from engine.store.migrate import open_store

    store = open_store(any_db_url, migrate=True)
    try:
        old = default_params().to_canonical()
        del old["sheets"][RISK]
        v1 = _store_row(store, old, "old release")
        v2 = apply_version(store, apply_edits(_active(store), values={**TIGHT, ATR: "18"}).paramset, "t", "ui")
        v3 = rollback(store, v1, "t", "undo")
        assert v3.version_id == v2.version_id + 1
        assert _risk(_active(store)) == (1000.0, 10, 0.5)
    finally:
        store.dispose()


def _unloadable(store: Any) -> int:
    """Version 1 (defaults), then an active version with stale_data_seconds 3, below today's minimum 5."""
    ensure_default_version(store)
    c = default_params().to_canonical()
    c["sheets"][RISK]["main"].update(stale_data_seconds=3, max_order_notional=10000.0)
    return _store_row(store, c, "older release")


def test_p04_an_unloadable_active_version_can_still_be_replaced_or_rolled_back(any_db_url) -> None:  # type: ignore[no-untyped-def]
    from engine.store.migrate import open_store

    store = open_store(any_db_url, migrate=True)
    try:
        bad = _unloadable(store)
        fixed = apply_edits(default_params(), values={(RISK, "main", "stale_data_seconds"): "5"}).paramset
        applied = apply_version(store, fixed, "ops", "cli", "fix")
        with store.read() as s:
            newest = list_versions(s, 1)[0]
        # counted against the stored version: stale_data_seconds 3 -> 5 and max_order_notional 10000 -> 250000
        assert (newest.id, newest.parent_id, newest.changes) == (applied.version_id, bad, 2)
        bad2 = _store_row(store, json.loads(json.dumps({"sheets": _sheets_with_stale(3)})), "again")
        back = rollback(store, 1, "ops")
        assert back.version_id == bad2 + 1 and _active(store).sheet(RISK).stale_data_seconds == 300
    finally:
        store.dispose()


def _sheets_with_stale(seconds: int) -> dict[str, Any]:
    c = default_params().to_canonical()["sheets"]
    c[RISK]["main"]["stale_data_seconds"] = seconds
    return c


def test_p06_the_page_shows_and_fixes_an_unloadable_active_version_naming_the_cell(web) -> None:  # type: ignore[no-untyped-def]
    client, deps, store = web
    bad = _unloadable(store)
    versions = _out(wr.call(client, wr.find(deps, "parameters-active.children"), {"parameters-base.data": {}},
                            trigger="parameters-base.data"))
    banner = json.dumps(versions["parameters-active"])
    assert f"Active version {bad} does not pass today's checks" in banner and "stale_data_seconds: 3" in banner
    editor = _out(wr.call(client, wr.find(deps, "parameters-editor.children"),
                          {"parameters-sheet.data": RISK, "parameters-base.data": {"version_id": bad},
                           "parameters-edits.data": {}}, trigger="parameters-sheet.data"))
    assert "below the allowed range" in json.dumps(editor["parameters-editor"])  # under its editor
    fix = {f"{RISK}|main|stale_data_seconds": "5"}
    done = _out(wr.call(client, wr.find(deps, "parameters-apply-modal.is_open"),
                        {"parameters-upload-data.data": None, "parameters-base.data": {"version_id": bad},
                         "parameters-edits.data": fix, "parameters-apply-confirm.n_clicks": 1},
                        trigger="parameters-apply-confirm.n_clicks"))
    assert "is now active" in json.dumps(done["parameters-message"])
    assert _active(store).sheet(RISK).stale_data_seconds == 5
    assert _active(store).sheet(RISK).max_order_notional == 10000.0  # the rest of the version as stored
    # rolling back to the version that does not validate is refused, naming the sheet, cell and problem
    msg = json.dumps(_rollback(client, deps, "parameters-rollback-confirm", bad)["parameters-message"])
    assert "TradingRisk!B8" in msg and "stale_data_seconds: 3 is below the allowed range" in msg
