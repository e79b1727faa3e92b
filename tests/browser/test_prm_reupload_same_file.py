"""Parameters page in Chromium: the same workbook chosen again is checked again (audit3, defect 1).

The Dash renderer drops a prop update equal to the current value, so before the fix a second choice of the same
file ran no callback: after Discard the file never came back, and after "another user applied a version" the upload
stayed checked against the old version and Apply refused it forever. Real app, embedded engine, SQLite store.
tuned.xlsx is the reference workbook with atr_period 18 (the active version has 14): exactly 1 change.
"""
from __future__ import annotations

import openpyxl

from engine.params import ParamSet
from engine.params.versions import active_params, apply_version, list_versions
from tests.browser.test_prm_parameters import REFERENCE, apply_confirmed, click, start, wait_until

FILE = "#parameters-upload input[type=file]"


def choose(dash_duo, path) -> None:  # type: ignore[no-untyped-def]
    """Choose a file as a user's click on the upload area does: react-dropzone's open() empties the file input
    before the dialog, so the browser reports the same file again (selenium's send_keys alone skips that step)."""
    el = dash_duo.find_element(FILE)
    dash_duo.driver.execute_script("arguments[0].value = '';", el)
    el.send_keys(str(path))


def _tuned(tmp_path):  # type: ignore[no-untyped-def]
    wb = openpyxl.load_workbook(REFERENCE)
    wb["ATRIndicatorsConfig"]["B2"] = 18
    path = tmp_path / "tuned.xlsx"
    wb.save(path)
    return path


def test_the_same_file_after_discard_is_shown_again(dash_duo, embedded_app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    good = _tuned(tmp_path)
    store = start(dash_duo, embedded_app)
    choose(dash_duo, good)
    dash_duo.wait_for_contains_text("#parameters-pending", "Uploaded tuned.xlsx: 1 change against version 1",
                                    timeout=30)
    click(dash_duo, "#parameters-discard")
    dash_duo.wait_for_contains_text("#parameters-pending-count", "no pending edits", timeout=10)
    assert "Uploaded" not in dash_duo.find_element("#parameters-pending").text
    choose(dash_duo, good)  # the very same file again
    dash_duo.wait_for_contains_text("#parameters-upload-ok", "tuned.xlsx is valid", timeout=30)
    dash_duo.wait_for_contains_text("#parameters-pending", "Uploaded tuned.xlsx: 1 change against version 1",
                                    timeout=10)
    apply_confirmed(dash_duo, "tuned.xlsx (1 changed value)", "is now active (upload: uploaded tuned.xlsx)")
    with store.read() as s:
        assert active_params(s).sheet("ATRIndicatorsConfig").atr_period == 18


def test_an_upload_refused_as_stale_is_checked_again_and_applies(dash_duo, embedded_app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    good = _tuned(tmp_path)
    store = start(dash_duo, embedded_app)
    choose(dash_duo, good)
    dash_duo.wait_for_contains_text("#parameters-pending", "Uploaded tuned.xlsx: 1 change against version 1",
                                    timeout=30)
    with store.read() as s:  # another user applies version 2 meanwhile
        c = active_params(s).to_canonical()
    c["sheets"]["MasterConfiguration"]["main"]["target_daily_transitions"] = 4.0
    apply_version(store, ParamSet.from_canonical(c), "other", "ui", "someone else")
    wait_until(lambda: dash_duo.find_element("#parameters-apply").is_enabled(), 10, "Apply enabled")
    click(dash_duo, "#parameters-apply")
    dash_duo.wait_for_contains_text("#parameters-message", "version 2 became active after the upload was checked "
                                    "against version 1; nothing was changed", timeout=10)
    # checked again without the file: 2 changes against version 2 (atr_period 14 -> 18, and the other user's
    # target_daily_transitions 4.0 back to the file's value)
    dash_duo.wait_for_contains_text("#parameters-pending", "Uploaded tuned.xlsx: 2 changes against version 2",
                                    timeout=10)
    apply_confirmed(dash_duo, "tuned.xlsx (2 changed values)", "version 3 is now active")
    with store.read() as s:
        now = active_params(s)
        newest = list_versions(s, 1)[0]
    assert (newest.id, newest.parent_id, newest.source) == (3, 2, "upload")
    assert now.sheet("ATRIndicatorsConfig").atr_period == 18
