"""Regime page: the trend and volatility badges name the classes decided on the numbers beside them (the
rule line repeats class, number and band), and the ensemble card and the reliability diagram are there."""
from __future__ import annotations

import re
import time

from tests.auth_helpers import browser_login
from tests.regime_page_fixtures import live_text


def test_rgm005_badges_match_their_rule_lines_and_ensemble_card_shows(dash_duo, embedded_app) -> None:  # type: ignore[no-untyped-def]
    browser_login(dash_duo, embedded_app(), path="/regime")
    dash_duo.wait_for_element("#regime-current-trend-rule", timeout=90)
    for _ in range(20):  # the live engine refreshes the page: read both from one refresh (same number)
        badge = live_text(dash_duo, "#regime-current-trend")  # "TREND NEUTRAL (-0.0006)" (badges upper-cased by CSS)
        rule = live_text(dash_duo, "#regime-current-trend-rule")  # "Trend Neutral: -0.0006, band -0.0030 … 0.0030 ..."
        m_badge = re.match(r"trend (\S+) \((-?[0-9.]+)\)", badge, re.IGNORECASE)
        m_rule = re.match(r"Trend (\S+): (-?[0-9.]+), band (-?[0-9.]+) … (-?[0-9.]+)", rule)
        assert m_badge and m_rule, (badge, rule)
        if float(m_badge.group(2)) == float(m_rule.group(2)):
            break
        time.sleep(0.3)
    assert float(m_badge.group(2)) == float(m_rule.group(2)), ("never read from one refresh", badge, rule)
    assert m_badge.group(1).lower() == m_rule.group(1).lower(), (badge, rule)
    if "held by hysteresis" not in rule and "demoted" not in rule and m_rule.group(1) not in ("Neutral", "Sideways"):
        lo, hi, v = float(m_rule.group(3)), float(m_rule.group(4)), float(m_rule.group(2))
        assert lo <= v <= hi or (lo > 0 and v >= lo) or (hi < 0 and v <= hi), rule
    assert live_text(dash_duo, "#regime-current-vol-rule").startswith("Volatility ")
    assert live_text(dash_duo, "#regime-current-thresholds").startswith("Thresholds adaptive: volatility boundaries ")
    dash_duo.wait_for_element("#regime-ensemble-card > div", timeout=60)
    card = live_text(dash_duo, "#regime-ensemble-card")
    assert "no ensemble model fitted yet" in card or "engine answer" in card or "no ensemble verdict" in card, card
    dash_duo.wait_for_element("#regime-reliability .main-svg", timeout=30)
