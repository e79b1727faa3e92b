"""Helpers for the Regime page's browser tests (tests/browser/test_rgm*): the page refreshes itself from the
embedded engine, so an element read a moment ago may already have been replaced."""
from __future__ import annotations

import time
from typing import Any

from selenium.common.exceptions import StaleElementReferenceException


def live_text(dash_duo: Any, selector: str) -> str:
    """Text of an element the live refresh may be replacing right now (retry on a stale reference)."""
    for _ in range(20):
        try:
            return str(dash_duo.find_element(selector).text)
        except StaleElementReferenceException:
            time.sleep(0.1)
    raise AssertionError(f"{selector} kept being replaced")
