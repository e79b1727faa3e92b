"""Regime page: the current card shows the noise level against its adaptive threshold and the simulated
market's VIX blended into the volatility reading (issue 15 points 6 and 7)."""
from __future__ import annotations

import re

from tests.auth_helpers import browser_login
from tests.regime_page_fixtures import live_text


def test_rgm006_noise_threshold_and_vix_lines(dash_duo, embedded_app) -> None:  # type: ignore[no-untyped-def]
    browser_login(dash_duo, embedded_app(), path="/regime")
    dash_duo.wait_for_element("#regime-current-vix", timeout=90)
    noise = live_text(dash_duo, "#regime-current-noise")
    vix = live_text(dash_duo, "#regime-current-vix")
    assert re.fullmatch(r"noise 0\.\d\d against threshold 0\.\d\d: (above \(noisy\)|within)", noise), noise
    m = re.fullmatch(r"VIX (\d+\.\d) blended into volatility", vix)
    assert m and 5.0 < float(m.group(1)) < 150.0, vix
