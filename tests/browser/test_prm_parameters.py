"""Parameters page in Chromium: edit + apply, broken upload, download round trip, invalid grid cell.

Each test runs the real app with its embedded engine on a temporary SQLite store and checks the
store (versions, audit) after acting through the browser only.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select
from sqlalchemy import select

from engine.params import ParamSet
from engine.params.versions import active_params, active_version_id, apply_version, list_versions
from engine.params.workbook import import_workbook
from engine.store.models import AuditEvent, RegimeSnapshot
from tests.auth_helpers import browser_login

REFERENCE = Path("/work/shared/reference/MR_CONFIG_STRATEGY_1.0.0.xlsx")
if not REFERENCE.exists():  # the shared folder sits next to the repository
    REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "MR_CONFIG_STRATEGY_1.0.0.xlsx"


def dict_id(**kw: str) -> str:
    """CSS selector of a Dash dict id (keys sorted, no spaces)."""
    return f"[id='{json.dumps(kw, sort_keys=True, separators=(',', ':'))}']"


def wait_until(check: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.time() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def start(dash_duo, embedded_app):  # type: ignore[no-untyped-def]
    """App + engine up, page open, version 1 (the engine's default version) stored; returns the store."""
    app = embedded_app()
    browser_login(dash_duo, app)
    store = app.server.extensions["regimedesk"].store

    def active_id() -> int | None:
        with store.read() as s:
            return active_version_id(s)

    wait_until(active_id, 20, "the engine's default parameter version")
    dash_duo.driver.get(dash_duo.server_url + "/parameters")
    dash_duo.wait_for_element("#parameters-sheet-title", timeout=20)
    dash_duo.wait_for_contains_text("#parameters-active", "active version", timeout=15)
    return store


def click(dash_duo, selector: str) -> None:  # type: ignore[no-untyped-def]
    """Scroll the element to the middle of the window first, then click it like a user.

    behavior 'instant': Bootstrap sets `scroll-behavior: smooth`, and a click during the smooth scroll
    lands where the element was, not where it is going."""
    el = dash_duo.wait_for_element(selector, timeout=10)
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", el)
    el.click()


def apply_confirmed(dash_duo, dialog_text: str, message: str) -> None:  # type: ignore[no-untyped-def]
    """Apply, check the confirm dialog says `dialog_text`, confirm, and wait for `message`."""
    wait_until(lambda: dash_duo.find_element("#parameters-apply").is_enabled(), 10, "Apply enabled")
    click(dash_duo, "#parameters-apply")
    dash_duo.wait_for_contains_text("#parameters-apply-body", dialog_text, timeout=10)
    click(dash_duo, "#parameters-apply-confirm")
    dash_duo.wait_for_contains_text("#parameters-message", message, timeout=15)


def open_sheet(dash_duo, sheet: str) -> None:  # type: ignore[no-untyped-def]
    click(dash_duo, dict_id(sheet=sheet, type="parameters-sheet-link"))  # scrolled into view: the page grew
    dash_duo.wait_for_text_to_equal("#parameters-sheet-title", sheet, timeout=10)


def audit_actions(store) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with store.read() as s:
        return [(e.actor, e.action) for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_prm001_edit_typed_input_and_apply_makes_new_active_version(dash_duo, embedded_app) -> None:  # type: ignore[no-untyped-def]
    store = start(dash_duo, embedded_app)
    with store.read() as s:
        before = active_params(s)
    assert before.sheet("ATRIndicatorsConfig").atr_period == 14
    open_sheet(dash_duo, "ATRIndicatorsConfig")
    box = dash_duo.find_element(dict_id(name="ATRIndicatorsConfig|main|atr_period", type="parameters-value"))
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("20", Keys.ENTER)
    dash_duo.wait_for_contains_text("#parameters-pending", "atr_period", timeout=10)
    pending = dash_duo.find_element("#parameters-pending").text
    assert "ATRIndicatorsConfig" in pending and "14" in pending and "20" in pending
    assert "1 pending edit" in dash_duo.find_element("#parameters-pending-count").text
    wait_until(lambda: dash_duo.find_element("#parameters-apply").is_enabled(), 10, "Apply enabled")
    dash_duo.find_element("#parameters-apply").click()
    dash_duo.wait_for_element("#parameters-apply-note", timeout=10).send_keys("longer ATR for slow days")
    dash_duo.wait_for_contains_text("#parameters-apply-body", "1 changed value", timeout=10)
    dash_duo.find_element("#parameters-apply-confirm").click()
    dash_duo.wait_for_contains_text("#parameters-message", "is now active", timeout=15)

    with store.read() as s:
        after = active_params(s)
        newest = list_versions(s, 1)[0]
    assert after.version_id == newest.id and after.version_id > before.version_id
    assert after.sheet("ATRIndicatorsConfig").atr_period == 20
    assert (newest.source, newest.author, newest.note) == ("ui", "web:admin", "longer ATR for slow days")
    assert newest.changes == 1
    assert ("web:admin", "params.apply") in audit_actions(store)
    dash_duo.wait_for_contains_text("#parameters-active-version", f"active version {after.version_id}", timeout=10)
    assert "no pending edits" in dash_duo.find_element("#parameters-pending-count").text

    # the embedded engine picks the version up at its next cycle: new regime snapshots name it
    def snapshots_of_new_version() -> int:
        with store.read() as s:
            return len(s.scalars(select(RegimeSnapshot.id).where(
                RegimeSnapshot.param_version_id == after.version_id)).all())

    wait_until(snapshots_of_new_version, 30, f"a regime snapshot produced by version {after.version_id}")


def test_prm002_broken_upload_lists_cell_errors_and_changes_nothing(dash_duo, embedded_app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    wb = openpyxl.load_workbook(REFERENCE)
    wb["ATRIndicatorsConfig"]["B2"] = 99  # atr_period, allowed 7..21
    wb["MasterConfiguration"]["B4"] = "BOGUS"  # trading_mode enum
    wb["RegimeClassification"]["E3"] = "abc"  # MinDuration of the second regime
    broken = tmp_path / "broken.xlsx"
    wb.save(broken)
    store = start(dash_duo, embedded_app)
    with store.read() as s:
        before = active_params(s)
        n_versions = len(list_versions(s))

    dash_duo.find_element("#parameters-upload input[type=file]").send_keys(str(broken))
    dash_duo.wait_for_element("#parameters-issues", timeout=30)
    text = dash_duo.find_element("#parameters-issues").text
    assert "3 problems; nothing was changed" in text
    for where in ("ATRIndicatorsConfig!B2", "MasterConfiguration!B4", "RegimeClassification!E3"):
        assert where in text, text
    assert "above the allowed range" in text and "BOGUS" in text and "'abc'" in text
    # grouped by sheet: one heading per sheet with its count
    for heading in ("ATRIndicatorsConfig (1)", "MasterConfiguration (1)", "RegimeClassification (1)"):
        assert heading in text
    assert dash_duo.find_element("#parameters-apply").get_attribute("disabled") is not None
    with store.read() as s:
        assert active_params(s).content_hash == before.content_hash
        assert len(list_versions(s)) == n_versions

    # a file that is not a workbook at all is refused by the pre-check, with a clear message
    fake = tmp_path / "notes.xlsx"
    fake.write_text("these are my notes, not a workbook")
    dash_duo.find_element("#parameters-upload input[type=file]").send_keys(str(fake))
    dash_duo.wait_for_contains_text("#parameters-issues", "notes.xlsx was refused", timeout=20)
    assert "not an Excel .xlsx file" in dash_duo.find_element("#parameters-issues").text
    with store.read() as s:
        assert len(list_versions(s)) == n_versions


def test_prm003_download_current_reimports_to_the_same_content(dash_duo, embedded_app) -> None:  # type: ignore[no-untyped-def]
    store = start(dash_duo, embedded_app)
    with store.read() as s:
        active = active_params(s)
    dash_duo.find_element("#parameters-download-current").click()
    target = Path(dash_duo.download_path) / f"MR_CONFIG_v{active.version_id}.xlsx"
    wait_until(lambda: target.exists() and target.stat().st_size > 10_000, 20, f"{target.name} downloaded")
    time.sleep(0.3)  # Chromium renames the .crdownload when complete; the size check above saw the final file
    result = import_workbook(target)
    assert result.ok, [str(i) for i in result.report.errors]
    assert result.paramset.content_hash == active.content_hash
    assert ("web:admin", "params.export") in audit_actions(store)


def test_prm004_invalid_grid_cell_is_flagged_and_cannot_be_applied(dash_duo, embedded_app) -> None:  # type: ignore[no-untyped-def]
    store = start(dash_duo, embedded_app)
    with store.read() as s:
        before = active_params(s)
    open_sheet(dash_duo, "RegimeClassification")
    cell_sel = ".ag-center-cols-container .ag-row[row-id='1'] .ag-cell[col-id='min_duration']"
    dash_duo.wait_for_element(cell_sel, timeout=10).click()
    editor = dash_duo.wait_for_element(".ag-cell-inline-editing input", timeout=10)
    editor.send_keys(Keys.CONTROL, "a")
    editor.send_keys("abc", Keys.ENTER)
    dash_duo.wait_for_contains_text("#parameters-pending", "abc", timeout=10)
    wait_until(lambda: "bg-danger-subtle" in (dash_duo.find_element(cell_sel).get_attribute("class") or ""),
               10, "the invalid cell highlighted")
    pending = dash_duo.find_element("#parameters-pending").text
    assert "RegimeClassification!E3" in pending and "expected a number" in pending
    assert dash_duo.find_element("#parameters-apply").get_attribute("disabled") is not None

    # a valid value in the same cell clears the flag and enables Apply
    dash_duo.find_element(cell_sel).click()
    editor = dash_duo.wait_for_element(".ag-cell-inline-editing input", timeout=10)
    editor.send_keys(Keys.CONTROL, "a")
    editor.send_keys("35", Keys.ENTER)
    wait_until(lambda: "bg-danger-subtle" not in (dash_duo.find_element(cell_sel).get_attribute("class") or ""),
               10, "the flag cleared")
    wait_until(lambda: dash_duo.find_element("#parameters-apply").is_enabled(), 10, "Apply enabled")
    with store.read() as s:
        assert active_params(s).content_hash == before.content_hash

    # Discard drops the edit and shows the stored value again
    click(dash_duo, "#parameters-discard")
    dash_duo.wait_for_contains_text("#parameters-pending-count", "no pending edits", timeout=10)
    wait_until(lambda: dash_duo.find_element(cell_sel).text == "30", 10, "the stored value back in the cell")


def test_prm005_versions_diff_and_rollback_with_confirm(dash_duo, embedded_app) -> None:  # type: ignore[no-untyped-def]
    store = start(dash_duo, embedded_app)
    with store.read() as s:
        v1 = active_params(s)
    canon = v1.to_canonical()
    canon["sheets"]["ATRIndicatorsConfig"]["main"]["atr_period"] = 9
    v2 = apply_version(store, ParamSet.from_canonical(canon), "test:other-user", "cli", "shorter ATR")
    # the open page notices the version applied elsewhere and loads it on request
    dash_duo.wait_for_contains_text("#parameters-stale", f"Version {v2.version_id} is now active", timeout=15)
    click(dash_duo, "#parameters-load-latest")
    dash_duo.wait_for_contains_text("#parameters-active-version", f"active version {v2.version_id}", timeout=20)
    wait_until(lambda: not dash_duo.find_element("#parameters-stale").text, 10, "the notice to go away")
    click(dash_duo, "#parameters-versions-toggle")
    # the versions list shows author, source and note; the default diff is previous -> newest
    dash_duo.wait_for_contains_text("#parameters-versions-grid", "shorter ATR", timeout=10)
    grid = dash_duo.find_element("#parameters-versions-grid").text
    assert "test:other-user" in grid and "cli" in grid
    dash_duo.wait_for_contains_text("#parameters-version-diff", "atr_period", timeout=10)
    diff = dash_duo.find_element("#parameters-version-diff").text
    assert "ATRIndicatorsConfig" in diff and "B2" in diff and "14" in diff and "9" in diff

    Select(dash_duo.find_element("#parameters-version-pick")).select_by_value(str(v1.version_id))
    click(dash_duo, "#parameters-rollback")
    dash_duo.wait_for_contains_text("#parameters-rollback-body", f"equal to version {v1.version_id}", timeout=10)
    dash_duo.find_element("#parameters-rollback-note").send_keys("back to defaults")
    click(dash_duo, "#parameters-rollback-confirm")
    dash_duo.wait_for_contains_text("#parameters-message", "rolled back", timeout=15)
    with store.read() as s:
        now = active_params(s)
        newest = list_versions(s, 1)[0]
    assert now.version_id == newest.id > v2.version_id
    assert now.content_hash == v1.content_hash and now.sheet("ATRIndicatorsConfig").atr_period == 14
    assert newest.source == "rollback" and newest.author == "web:admin" and "back to defaults" in newest.note
    assert ("web:admin", "params.rollback") in audit_actions(store)
    dash_duo.wait_for_contains_text("#parameters-active-version", f"active version {now.version_id}", timeout=10)
    # the editor re-renders on the new active version
    open_sheet(dash_duo, "ATRIndicatorsConfig")
    box = dash_duo.find_element(dict_id(name="ATRIndicatorsConfig|main|atr_period", type="parameters-value"))
    assert box.get_attribute("value") == "14"


def test_prm006_search_finds_a_parameter_and_opens_its_sheet(dash_duo, embedded_app) -> None:  # type: ignore[no-untyped-def]
    start(dash_duo, embedded_app)
    search = dash_duo.find_element("#parameters-search")
    search.send_keys("atr_period", Keys.ENTER)
    hit = dash_duo.wait_for_element(dict_id(name="atr_period", sheet="ATRIndicatorsConfig",
                                            type="parameters-search-hit"), timeout=10)
    hit.click()
    dash_duo.wait_for_text_to_equal("#parameters-sheet-title", "ATRIndicatorsConfig", timeout=10)
    row = dash_duo.find_element(dict_id(name="ATRIndicatorsConfig|main|atr_period", type="parameters-row")).text
    assert "periods" in row and "7 – 21" in row and "default 14" in row and "used by engine." in row
    # an unused parameter says why
    open_sheet(dash_duo, "MasterConfiguration")
    row = dash_duo.find_element(dict_id(name="MasterConfiguration|main|trading_mode", type="parameters-row")).text
    assert "not used by this engine:" in row


def test_prm007_valid_upload_shows_its_diff_and_applies_as_upload(dash_duo, embedded_app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    wb = openpyxl.load_workbook(REFERENCE)
    wb["ATRIndicatorsConfig"]["B2"] = 18
    good = tmp_path / "tuned.xlsx"
    wb.save(good)
    store = start(dash_duo, embedded_app)
    dash_duo.find_element("#parameters-upload input[type=file]").send_keys(str(good))
    dash_duo.wait_for_contains_text("#parameters-upload-ok", "tuned.xlsx is valid", timeout=30)
    dash_duo.wait_for_contains_text("#parameters-pending", "Uploaded tuned.xlsx: 1 change against", timeout=10)
    assert "atr_period" in dash_duo.find_element("#parameters-pending").text
    with store.read() as s:
        assert active_params(s).sheet("ATRIndicatorsConfig").atr_period == 14  # nothing applied yet
    apply_confirmed(dash_duo, "tuned.xlsx (1 changed value)", "is now active (upload: uploaded tuned.xlsx)")
    with store.read() as s:
        assert active_params(s).sheet("ATRIndicatorsConfig").atr_period == 18
        assert list_versions(s, 1)[0].source == "upload"


def test_prm008_table_rows_added_and_deleted_in_the_grid(dash_duo, embedded_app) -> None:  # type: ignore[no-untyped-def]
    store = start(dash_duo, embedded_app)
    with store.read() as s:
        before = active_params(s)
    rules = before.table("TransitionRules")
    assert len(rules) == 25
    open_sheet(dash_duo, "TransitionRules")
    add = dict_id(name="TransitionRules|main", type="parameters-row-add")
    delete = dict_id(name="TransitionRules|main", type="parameters-row-delete")

    # a blank row is flagged and cannot be applied; Discard takes it away again
    click(dash_duo, add)
    dash_duo.wait_for_contains_text("#parameters-pending", "26 rows (1 row added)", timeout=10)
    dash_duo.wait_for_contains_text("#parameters-editor", "26 rows ·", timeout=10)  # the grid re-rendered
    assert dash_duo.find_element("#parameters-apply").get_attribute("disabled") is not None
    assert "TransitionRules" in dash_duo.find_element("#parameters-pending").text
    click(dash_duo, "#parameters-discard")
    dash_duo.wait_for_contains_text("#parameters-pending-count", "no pending edits", timeout=10)
    dash_duo.wait_for_contains_text("#parameters-editor", "25 rows ·", timeout=10)

    # Delete with nothing selected says what to do; select row 3 (its checkbox), delete, apply
    click(dash_duo, delete)
    dash_duo.wait_for_contains_text("#parameters-message", "select a row", timeout=10)
    click(dash_duo, ".ag-center-cols-container .ag-row[row-id='2'] .ag-checkbox-input, "
                    ".ag-pinned-left-cols-container .ag-row[row-id='2'] .ag-checkbox-input")
    click(dash_duo, delete)
    gone = rules[2].rule_id
    dash_duo.wait_for_contains_text("#parameters-pending", f"24 rows (deleted {gone})", timeout=10)
    apply_confirmed(dash_duo, "Apply your edits", "is now active")
    with store.read() as s:
        after = active_params(s)
    assert after.version_id != before.version_id
    assert [r.rule_id for r in after.table("TransitionRules")] == [r.rule_id for r in rules if r.rule_id != gone]


def test_prm009_refused_grid_cell_shows_the_value_in_force_again(dash_duo, embedded_app) -> None:  # type: ignore[no-untyped-def]
    """A cell text the page refuses (longer than a cell edit may be) is named in the message and the cell shows
    the stored value again, not the refused text: what the grid shows is what Apply would apply."""
    store = start(dash_duo, embedded_app)
    with store.read() as s:
        before = active_params(s)
    open_sheet(dash_duo, "RegimeClassification")
    cell_sel = ".ag-center-cols-container .ag-row[row-id='1'] .ag-cell[col-id='min_duration']"
    stored = dash_duo.wait_for_element(cell_sel, timeout=10).text
    assert stored == "30"  # the workbook's default for this row (test_prm004 relies on it too)
    dash_duo.find_element(cell_sel).click()
    editor = dash_duo.wait_for_element(".ag-cell-inline-editing input", timeout=10)
    editor.send_keys(Keys.CONTROL, "a")
    editor.send_keys("7" * 1001, Keys.ENTER)
    dash_duo.wait_for_contains_text("#parameters-message", "Not taken", timeout=10)
    assert "longer than 1000 characters" in dash_duo.find_element("#parameters-message").text
    wait_until(lambda: dash_duo.find_element(cell_sel).text == stored, 10, "the stored value back in the cell")
    assert "no pending edits" in dash_duo.find_element("#parameters-pending-count").text
    with store.read() as s:
        assert active_params(s).content_hash == before.content_hash
