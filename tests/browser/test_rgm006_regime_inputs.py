"""Regime page: the current card shows the noise level against its adaptive threshold and the simulated
market's VIX blended into the volatility reading (issue 15 points 6 and 7)."""
from __future__ import annotations

import re
import time

from selenium.common.exceptions import StaleElementReferenceException

from tests.auth_helpers import browser_login


def _text(dash_duo, selector: str) -> str:  # type: ignore[no-untyped-def]
    for _ in range(20):
        try:
            return dash_duo.find_element(selector).text
        except StaleElementReferenceException:
            time.sleep(0.1)
    raise AssertionError(f"{selector} kept being replaced")


def test_rgm006_noise_threshold_and_vix_lines(dash_duo, embedded_app) -> None:  # type: ignore[no-untyped-def]
    browser_login(dash_duo, embedded_app())
    dash_duo.driver.get(dash_duo.server_url + "/regime")
    dash_duo.wait_for_element("#regime-current-vix", timeout=90)
    noise = _text(dash_duo, "#regime-current-noise")
    vix = _text(dash_duo, "#regime-current-vix")
    assert re.fullmatch(r"noise 0\.\d\d against threshold 0\.\d\d: (above \(noisy\)|within)", noise), noise
    m = re.fullmatch(r"VIX (\d+\.\d) blended into volatility", vix)
    assert m and 5.0 < float(m.group(1)) < 150.0, vix
