"""Regime page: the current regime card shows a regime of the workbook and the module contributions
chart, and both follow the embedded engine live."""
from __future__ import annotations

import time

from engine.params import default_params
from tests.auth_helpers import browser_login
from tests.regime_page_fixtures import live_text


def test_rgm001_current_regime_card_and_contributions_update_live(dash_duo, embedded_app) -> None:  # type: ignore[no-untyped-def]
    names = {str(r.regime_name) for r in default_params().table("RegimeClassification")}
    browser_login(dash_duo, embedded_app(), path="/regime")

    dash_duo.wait_for_element("#regime-current-name", timeout=60)
    card = live_text(dash_duo, "#regime-current-card")
    assert live_text(dash_duo, "#regime-current-name") in names, card
    assert live_text(dash_duo, "#regime-current-confidence").endswith("%"), card
    version = live_text(dash_duo, "#regime-current-version")
    assert "version" in version or "defaults" in version, card

    # the contributions chart has one bar per indicator module of the workbook (8)
    dash_duo.wait_for_element("#regime-contributions g.trace.bars g.point", timeout=30)
    bars = dash_duo.find_elements("#regime-contributions g.trace.bars g.point")
    assert len(bars) == 8, f"{len(bars)} bars: {live_text(dash_duo, '#regime-contributions')!r}"
    assert "Module contributions" in live_text(dash_duo, "#regime-contributions")

    # live: the card moves on to newer classifications without a reload
    first = live_text(dash_duo, "#regime-current-asof")
    deadline = time.time() + 90  # generous: a loaded CI machine can stall the embedded engine for seconds
    while live_text(dash_duo, "#regime-current-asof") == first:
        assert time.time() < deadline, (f"the regime card never updated from {first!r}; "
                                        f"bar count line: {live_text(dash_duo, '#regime-bar-count')!r}")
        time.sleep(0.3)
    assert live_text(dash_duo, "#regime-current-name") in names

    # the price chart carries regime colour bands, the timeline and the statistics are drawn
    dash_duo.wait_for_element("#regime-price-chart path.shape, #regime-price-chart g.shapelayer path", timeout=30)
    dash_duo.wait_for_contains_text("#regime-timeline", "Regime timeline", timeout=30)
    dash_duo.wait_for_contains_text("#regime-durations", "RegimeParameters", timeout=30)
    dash_duo.wait_for_contains_text("#regime-transitions", "Observed transitions", timeout=30)
    assert [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"] == []
