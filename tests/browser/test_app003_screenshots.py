"""Every registered page at 1440 px and 1024 px wide: its header shows, no callback error alert, nothing
overflows the viewport sideways, and a full-page screenshot is kept for review (overlapping titles, legends and toolbars are
seen there, issue 10 point 6).

Screenshots go to $REGIMEDESK_SCREENSHOT_DIR when set (kept), else to the test's tmp dir.
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import dash
import pytest

from tests.auth_helpers import browser_login

WIDTHS = (1440, 1024)
HEIGHT = 900
MAX_SHOT_HEIGHT = 6000  # a full page, bounded
SETTLE_S = 2.0  # callbacks fill charts and tables after the header shows


def _shot_dir(tmp_path: Path) -> Path:
    target = Path(os.environ.get("REGIMEDESK_SCREENSHOT_DIR") or tmp_path / "screenshots")
    target.mkdir(parents=True, exist_ok=True)
    return target


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "overview"


def _overflow(dash_duo) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    return tuple(dash_duo.driver.execute_script(  # type: ignore[return-value]
        "return [document.documentElement.scrollWidth, window.innerWidth]"))


def _widest(dash_duo, inner: int) -> list[str]:  # type: ignore[no-untyped-def]
    """The elements reaching past the viewport's right edge (for the failure message)."""
    return dash_duo.driver.execute_script("""
        const out = [];
        for (const el of document.querySelectorAll('body *')) {
            const r = el.getBoundingClientRect();
            if (r.right > arguments[0] + 1 && r.width > 0) {
                out.push(`${el.tagName.toLowerCase()}#${el.id}.${String(el.className).slice(0, 40)} right=${Math.round(r.right)}`);
            }
            if (out.length >= 8) break;
        }
        return out;""", inner)


@pytest.mark.slow  # every page twice with a live engine: about a minute
def test_app003_every_page_at_two_widths(dash_duo, embedded_app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = embedded_app()
    browser_login(dash_duo, app)
    shots = _shot_dir(tmp_path)
    pages = sorted(dash.page_registry.values(), key=lambda p: (p.get("order") is None, p.get("order") or 0))
    assert len(pages) >= 10, [p["path"] for p in pages]
    problems: list[str] = []
    for width in WIDTHS:
        dash_duo.driver.set_window_size(width, HEIGHT)
        for page in pages:
            dash_duo.driver.get(dash_duo.server_url + page["path"])
            header = dash_duo.wait_for_element("#_pages_content h3", timeout=20)
            deadline = time.time() + 20
            while page["name"].lower() not in header.text.lower():  # the router swapped in this page's layout
                assert time.time() < deadline, f"{page['path']}: header {header.text!r}, expected {page['name']!r}"
                time.sleep(0.3)
                header = dash_duo.find_element("#_pages_content h3")
            assert header.is_displayed(), page["path"]
            time.sleep(SETTLE_S)
            alerts = dash_duo.driver.find_elements("css selector", "#app-callback-error")
            shown = [a.text for a in alerts if a.is_displayed() and a.text.strip()]
            if shown:  # a callback failed while the page filled in (webapp/auth/errors.py)
                problems.append(f"{page['path']} at {width} px: {shown[0][:200]}")
            scroll, inner = _overflow(dash_duo)
            if scroll > inner + 1:
                problems.append(f"{page['path']} at {width} px: scrollWidth {scroll} > innerWidth {inner}; "
                                + "; ".join(_widest(dash_duo, inner)))
            full = dash_duo.driver.execute_script("return document.documentElement.scrollHeight")
            dash_duo.driver.set_window_size(width, min(max(int(full), HEIGHT), MAX_SHOT_HEIGHT))
            time.sleep(0.3)
            assert dash_duo.driver.save_screenshot(str(shots / f"{_slug(page['path'])}-{width}.png"))
            dash_duo.driver.set_window_size(width, HEIGHT)
    written = sorted(p.name for p in shots.glob("*.png"))
    assert len(written) >= len(pages) * len(WIDTHS), written
    assert problems == [], "\n".join(problems)
