"""Regime page what-if of an uploaded parameter workbook: the file goes through the same checks as
on the Parameters page, its differences are counted, and the replay compares it with the active
version; a broken workbook is refused with its problems and nothing runs on it."""
from __future__ import annotations

import time
from pathlib import Path

from engine.params.testing import edit_cells, reference_bytes
from tests.auth_helpers import browser_login
from tests.browser.test_rgm002_whatif_preview import STATE_JS, click


def test_rgm004_uploaded_workbook_is_compared_and_a_broken_one_refused(dash_duo, embedded_app,  # type: ignore[no-untyped-def]
                                                                       tmp_path: Path) -> None:
    strict = tmp_path / "strict.xlsx"  # two stability caps tightened (StabilityConfiguration B19, B20)
    strict.write_bytes(edit_cells(reference_bytes(), {"StabilityConfiguration!B19": 1, "StabilityConfiguration!B20": 3}))
    broken = tmp_path / "broken.xlsx"  # hysteresis buffer far outside 0.02..0.15
    broken.write_bytes(edit_cells(reference_bytes(), {"StabilityConfiguration!B9": 7}))

    browser_login(dash_duo, embedded_app())
    dash_duo.driver.get(dash_duo.server_url + "/regime")
    dash_duo.wait_for_element("#regime-current-name", timeout=40)

    dash_duo.find_element("#regime-whatif-upload input[type=file]").send_keys(str(broken))
    dash_duo.wait_for_element("#regime-whatif-upload-error", timeout=30)
    assert "broken.xlsx" in dash_duo.find_element("#regime-whatif-upload-error").text
    assert "StabilityConfiguration" in dash_duo.find_element("#regime-whatif-upload-error").text

    dash_duo.find_element("#regime-whatif-upload input[type=file]").send_keys(str(strict))
    dash_duo.wait_for_contains_text("#regime-whatif-upload-ok", "2 value(s) differ", timeout=30)
    dash_duo.wait_for_contains_text("#regime-whatif-edits-table", "over the uploaded strict.xlsx", timeout=10)

    click(dash_duo, "#regime-whatif-run")
    deadline = time.time() + 90
    while True:
        done, error, _display, _label = dash_duo.driver.execute_script(STATE_JS)
        assert not error, error
        if done:
            break
        assert time.time() < deadline, "the what-if of the uploaded workbook never finished"
        time.sleep(0.1)
    assert "strict.xlsx replayed over" in dash_duo.find_element("#regime-whatif-result").text

    click(dash_duo, "#regime-whatif-upload-clear")
    dash_duo.wait_for_text_to_equal("#regime-whatif-upload-status", "", timeout=10)
    dash_duo.wait_for_contains_text("#regime-whatif-edits-table", "no pending edits", timeout=10)
