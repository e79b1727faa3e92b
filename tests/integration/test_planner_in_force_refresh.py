"""The Planner page's "In force now" line and uncertain-regime warning follow the store while the page is open (audit
24, finding 5), over HTTP as the browser asks, on SQLite and PostgreSQL: saving the regime -> preset table on the
same page, and a new regime snapshot, show on the page's next refresh, without a reload; an unchanged header
answers nothing."""
from __future__ import annotations

from typing import Any

import pytest

from engine.settings import load_settings
from engine.store.models import RegimeSnapshot
from tests import web_requests as wr
from tests.auth_helpers import login_client
from tests.planner_page_fixtures import seeded_app
from webapp import planner_ids as ids


@pytest.fixture()
def page(any_db_url):  # type: ignore[no-untyped-def]
    """(trader client, context, the active parameters' regimes) on a seeded portfolio."""
    from engine.params.versions import active_params

    app, ctx = seeded_app(load_settings(database_url=any_db_url, engine_mode="none"), held=3)
    with ctx.store.read() as s:
        regimes = [str(r.regime_name) for r in active_params(s).table("RegimeParameters")]
    try:
        yield login_client(app, "trader"), ctx, regimes
    finally:
        ctx.store.dispose()


def pin(ctx: Any, name: str, effective: bool = True) -> None:
    """A regime snapshot: `name` in force, or (effective False) uncertain under CONSERVATIVE handling."""
    with ctx.store.write() as s:
        s.add(RegimeSnapshot(ts=ctx.clock.now(), symbol="IDX", regime_id=1, regime_name=name, confidence=0.6,
                             raw_score=0.0, volatility_value=0.1, volatility_class="Low", trend_value=-0.01,
                             trend_class="Bearish", time_in_regime_s=60.0, is_transition=False, transition_rule=None,
                             param_version_id=None, modules={}, effective_regime_id=1 if effective else None,
                             effective_regime_name=name if effective else None,
                             regime_status="agree" if effective else "uncertain",
                             regime_reason="firm" if effective else "models disagree; CONSERVATIVE handling"))


def props(tree: Any, ident: str) -> dict[str, Any]:
    """The props of the component `ident` in a layout's JSON form."""
    if isinstance(tree, dict):
        if isinstance(tree.get("props"), dict) and tree["props"].get("id") == ident:
            return dict(tree["props"])
        children: Any = list(tree.values())
    else:
        children = tree if isinstance(tree, list) else []
    for child in children:
        if found := props(child, ident):
            return found
    return {}


def loaded(client: Any) -> tuple[str, str]:
    """(the In force line, the print stored beside it) of the Planner page as the router serves it."""
    response = wr.call(client, wr.find(wr.dependencies(client), "_pages_content.children"),
                       {"_pages_location.pathname": "/planner"})
    assert response.status_code == 200
    tree = response.get_json()
    return props(tree, ids.IN_FORCE)["children"], props(tree, ids.IN_FORCE_PRINT)["data"]


def tick(client: Any, shown: str) -> dict[str, Any] | None:
    """The page's refresh of the header on an interval tick; None when it answered nothing (no change)."""
    dep = wr.find(wr.dependencies(client), f"{ids.IN_FORCE}.children")
    response = wr.call(client, dep, {f"{ids.INTERVAL}.n_intervals": 1, f"{ids.IN_FORCE_PRINT}.data": shown},
                       trigger=f"{ids.INTERVAL}.n_intervals")
    if response.status_code == 204:
        return None
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return dict(response.get_json()["response"]) or None


def test_the_in_force_line_follows_a_table_save_and_the_regime(page) -> None:  # type: ignore[no-untyped-def]
    client, ctx, regimes = page
    pin(ctx, regimes[0])
    line, shown = loaded(client)
    assert line.startswith(f"In force now: default (regime {regimes[0]}: no entry")
    assert tick(client, shown) is None  # nothing changed: nothing redrawn

    save = wr.find(wr.dependencies(client), f"{ids.REGIME_MESSAGE}.children")
    body = wr.build_body(save, {0: 1, 1: wr.Matches([({"name": r}, {"type": ids.REGIME, "name": r}) for r in regimes]),
                                2: wr.Matches([({"name": r}, "aggressive") for r in regimes])}, 0)
    saved = client.post(wr.CALLBACK_URL, json=body)
    assert saved.status_code == 200 and "Saved:" in saved.get_data(as_text=True)

    after = tick(client, shown)
    assert after is not None
    assert after[ids.IN_FORCE]["children"].startswith(f"In force now: aggressive (regime {regimes[0]} -> preset "
                                                      "aggressive (set by web:")
    assert after[ids.REGIME_HOLD] == {"children": None, "className": ""}
    shown = after[ids.IN_FORCE_PRINT]["data"]
    assert tick(client, shown) is None

    pin(ctx, regimes[0], effective=False)  # the regime turns uncertain: default applies, no new exposure
    held = tick(client, shown)
    assert held is not None
    assert held[ids.IN_FORCE]["children"].startswith("In force now: default (regime uncertain")
    assert "no new exposure" in held[ids.REGIME_HOLD]["children"]
    assert "alert-warning" in held[ids.REGIME_HOLD]["className"]
