"""Regime page what-if: knob edits replayed over the stored history in a background callback
(a DiskcacheManager child process) with visible progress, then compared with the active version."""
from __future__ import annotations

import time

from selenium.webdriver.common.keys import Keys

from tests.auth_helpers import browser_login

KNOB = "[id='{\"key\":\"StabilityConfiguration|main|hysteresis_buffer\",\"type\":\"regime-knob-num\"}']"
COOLDOWN = "StabilityConfiguration|main|transition_cooldown"
KNOB2 = "[id='{\"key\":\"StabilityConfiguration|main|confirmation_window\",\"type\":\"regime-knob-num\"}']"


def click(dash_duo, selector: str) -> None:  # type: ignore[no-untyped-def]
    """Scroll the element to the middle at once (Bootstrap scrolls smoothly, and a click mid-scroll misses)."""
    el = dash_duo.find_element(selector)
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", el)
    el.click()


def _set(dash_duo, selector: str, value: str) -> None:  # type: ignore[no-untyped-def]
    box = dash_duo.find_element(selector)
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(value, Keys.TAB)


STATE_JS = """
const q = (s) => document.querySelector(s);
const err = q('#regime-whatif-error');
const wrap = q('#regime-whatif-progress-wrap');
const bar = q('#regime-whatif-progress');
return [!!q('#regime-whatif-summary'), err ? err.innerText : null, wrap ? wrap.style.display : null,
        bar ? bar.innerText : null];
"""


WATCH_JS = """
window.__progressLabels = [];
const wrap = document.querySelector('#regime-whatif-progress-wrap');
new MutationObserver(() => {
  const bar = document.querySelector('#regime-whatif-progress');
  const text = bar ? bar.innerText : '';
  if (text && wrap.style.display === 'block') window.__progressLabels.push(text);
}).observe(wrap, {subtree: true, childList: true, characterData: true, attributes: true});
"""


def test_rgm002_whatif_runs_with_progress_and_shows_comparison(dash_duo, embedded_app) -> None:  # type: ignore[no-untyped-def]
    browser_login(dash_duo, embedded_app())
    # an edit pending on the Parameters page, as its session-stored edits store would hold it
    dash_duo.driver.execute_script(
        "sessionStorage.setItem('parameters-edits', JSON.stringify({[arguments[0]]: 20}));", COOLDOWN)
    dash_duo.driver.get(dash_duo.server_url + "/regime")
    dash_duo.wait_for_element("#regime-current-name", timeout=40)
    time.sleep(3)  # a few more classified bars stored

    _set(dash_duo, KNOB, "0.02")
    _set(dash_duo, KNOB2, "3")
    dash_duo.wait_for_contains_text("#regime-whatif-edits-table", "hysteresis_buffer", timeout=10)
    dash_duo.wait_for_contains_text("#regime-whatif-edits-table", "confirmation_window", timeout=10)
    assert "0.02" in dash_duo.find_element("#regime-whatif-edits-table").text
    assert "transition_cooldown" in dash_duo.find_element("#regime-whatif-edits-table").text

    # every label the progress bar shows, recorded in the page (a poll from here could miss a short one)
    dash_duo.driver.execute_script(WATCH_JS)
    click(dash_duo, "#regime-whatif-run")
    labels: list[str] = []
    deadline = time.time() + 90
    while True:  # poll with one script call: find_elements would sit in the implicit wait
        done, error, display, label = dash_duo.driver.execute_script(STATE_JS)
        assert not error, error
        if done:
            break
        assert time.time() < deadline, f"the what-if never finished; progress seen: {labels}"
        if display == "block" and label and (not labels or labels[-1] != label):
            labels.append(label)
        time.sleep(0.05)
    labels += dash_duo.driver.execute_script("return window.__progressLabels;")
    # a short replay can finish between two polls, so "done" may be the only label seen; the phases reported
    # during a replay are checked in tests/unit/test_regime_whatif.py
    assert any(t.startswith(("reading", "replaying", "done")) for t in labels), f"no progress shown: {labels}"
    assert not dash_duo.find_element("#regime-whatif-run").get_attribute("disabled")

    assert "3 pending edit(s)" in dash_duo.find_element("#regime-whatif-result").text
    summary = dash_duo.find_element("#regime-whatif-summary").text
    assert "Active version" in summary and "With pending edits" in summary
    agreement = dash_duo.find_element("#regime-whatif-agreement").text
    assert agreement.endswith("%") and 0.0 <= float(agreement.rstrip("%")) <= 100.0
    timeline = dash_duo.find_element("#regime-whatif-timeline")
    assert timeline.is_displayed()
    for lane in ("stored (live)", "active version", "pending edits"):
        assert lane in timeline.text
    assert [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"] == []
