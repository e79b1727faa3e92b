"""Parameter versions, audit 26: rollbacks and the version diff (real SQLite and PostgreSQL, callbacks over HTTP).

- A rollback confirmed on a page that shows an older version than the active one is refused, audited, and the page
  moves to the active version: before, it silently undid a version another user had applied meanwhile (carol's
  max_order_qty 5 went back to 10000 without anyone being told).
- A rollback to a version that fails today's validation is refused AND audited (before: refused, no audit row).
- The diff of two versions shows the cells even when one no longer validates (before: an error, no diff).

The "older release" version stores stale_data_seconds 3 (today's minimum is 5), TradingRisk!B8 as in the exported
workbook; the other figures are the schema defaults (max_order_qty 10000, stale_data_seconds 300) and hand-set values.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from engine.params.catalog import apply_edits
from engine.params.errors import ValidationError
from engine.params.paramset import ParamSet, default_params
from engine.params.version_rollback import rollback_with_report
from engine.params.versions import active_params, apply_version, diff_versions
from engine.store.models import AuditEvent, ParamVersion
from tests import web_requests as wr
from tests.auth_helpers import login_client

QTY = ("TradingRisk", "main", "max_order_qty")


@pytest.fixture
def web(test_settings, any_db_url):
    from app import create_app
    from webapp.context import EXTENSION_KEY

    app = create_app(test_settings(database_url=any_db_url, warmup_polls=10), start_engine=False)
    client = login_client(app, "admin")
    store = app.server.extensions[EXTENSION_KEY].store
    return client, wr.dependencies(client), store


def _out(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return dict(response.get_json()["response"])


def _rollback(client: Any, deps: Any, button: str, picked: int, base: int | None) -> dict[str, Any]:
    dep = wr.find(deps, "parameters-rollback-note.value", "parameters-rollback-confirm")
    values = {f"{button}.n_clicks": 1, "parameters-version-pick.value": str(picked),
              "parameters-rollback-note.value": "undo"}
    if any(spec["id"] == "parameters-base" for spec in dep["state"]):  # the page's version, when the page sends it
        values["parameters-base.data"] = {"version_id": base}
    return _out(wr.call(client, dep, values, trigger=f"{button}.n_clicks"))


def _qty(store: Any, value: int, author: str, expected_parent: int | None = None) -> int:
    ps = apply_edits(default_params(), values={QTY: str(value)}).paramset
    assert ps is not None
    applied = apply_version(store, ps, author, "ui", f"qty {value}") if expected_parent is None else \
        apply_version(store, ps, author, "ui", f"qty {value}", expected_parent=expected_parent)
    assert applied.version_id is not None
    return applied.version_id


def _active(store: Any) -> ParamSet:
    with store.read() as s:
        return active_params(s)


def _audits(store: Any, action: str) -> list[AuditEvent]:
    with store.read() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def _store_old_release(store: Any) -> int:
    """A version as an older release stored it: stale_data_seconds 3 (valid then; today's minimum is 5), inactive."""
    canonical = default_params().to_canonical()
    canonical["sheets"]["TradingRisk"]["main"]["stale_data_seconds"] = 3
    with store.write() as s:
        row = ParamVersion(created_at=datetime(2026, 1, 1, tzinfo=UTC), author="old", source="ui", note="old release",
                           parent_id=None, content_hash="stored-by-an-older-release",
                           values_json=json.dumps(canonical), diff_json="[]", is_active=False)
        s.add(row)
        s.flush()
        return int(row.id)


def test_a_rollback_confirmed_on_an_older_page_does_not_undo_a_newer_version(web) -> None:
    client, deps, store = web
    v1 = _qty(store, 10000, "alice")
    v2 = _qty(store, 77, "alice")
    opened = _rollback(client, deps, "parameters-rollback", v1, v2)  # bob's page shows v2; the dialog opens
    assert opened["parameters-rollback-modal"]["is_open"] is True
    v3 = _qty(store, 5, "carol", expected_parent=v2)  # carol tightens the limit meanwhile
    done = _rollback(client, deps, "parameters-rollback-confirm", v1, v2)
    text = json.dumps(done["parameters-message"])
    assert f"not rolled back: version {v3} became active after this page showed version {v2}" in text
    assert done["parameters-base"]["data"]["version_id"] == v3  # the page moves to what is active
    assert done["parameters-rollback-modal"]["is_open"] is False
    now = _active(store)
    assert (now.version_id, now.sheet("TradingRisk").max_order_qty) == (v3, 5)  # carol's limit stands
    refused = _audits(store, "params.rollback")
    assert [a.outcome for a in refused] == ["refused"]
    # on the page that shows v3, the same rollback goes through: a new version equal to v1
    again = _rollback(client, deps, "parameters-rollback-confirm", v1, v3)
    assert "rolled back" in json.dumps(again["parameters-message"])
    now = _active(store)
    assert now.version_id == v3 + 1 and now.sheet("TradingRisk").max_order_qty == 10000


def test_a_rollback_refused_by_todays_validation_is_audited(any_db_url) -> None:
    from engine.store.migrate import open_store

    store = open_store(any_db_url, migrate=True)
    try:
        v1 = _qty(store, 10000, "alice")
        old = _store_old_release(store)
        with pytest.raises(ValidationError) as info:
            rollback_with_report(store, old, "bob", "back to the old limits")
        assert "TradingRisk!B8" in str(info.value.issues[0])
        rows = _audits(store, "params.rollback")
        assert len(rows) == 1 and rows[0].outcome == "refused" and rows[0].actor == "bob"
        assert rows[0].target == "param_version:new" and rows[0].details["to_version"] == old
        assert "TradingRisk!B8" in json.dumps(rows[0].details)
        assert _active(store).version_id == v1  # nothing changed
    finally:
        store.dispose()


def test_the_diff_shows_a_version_that_no_longer_validates(web) -> None:
    client, deps, store = web
    v1 = _qty(store, 10000, "alice")
    old = _store_old_release(store)
    with store.read() as s:
        changes = diff_versions(s, v1, old)
    assert [(c.sheet, c.cell, c.field, c.old, c.new) for c in changes] == \
        [("TradingRisk", "B8", "main.stale_data_seconds", 300, 3)]
    dep = wr.find(deps, "parameters-version-diff.children")
    shown = json.dumps(_out(wr.call(client, dep, {"parameters-diff-a.value": str(v1),
                                                  "parameters-diff-b.value": str(old)})))
    assert '"children": "main.stale_data_seconds"' in shown and '"children": "B8"' in shown
    assert '"children": "300"' in shown and '"children": "3"' in shown and "nothing was changed" not in shown


def test_the_page_says_when_older_versions_are_not_listed(web) -> None:
    client, deps, store = web
    for qty in range(100, 301):  # 201 versions; the page lists the newest 200
        _qty(store, qty, "tuner")
    dep = wr.find(deps, "parameters-version-pick.options")
    out = _out(wr.call(client, dep, {"parameters-base.data": {"version_id": 201}}))
    values = [o["value"] for o in out["parameters-version-pick"]["options"]]
    assert len(values) == 200 and "1" not in values and values[-1] == "2"
    shown = json.dumps(out["parameters-active"])
    assert "show the newest 200 of 201 versions" in shown and "rollback N" in shown
