"""Parameters page in Chromium, audit finding 5: a pending grid edit follows its row (named by the table's key)
when another user applies a version with the rows in another order, and edits a session kept in the old row-number
form are dropped with a message. Defaults by hand: Bias Size Multipliers row 4 is LONG_AGGRESSIVE 1.5, row 1 NONE 0.
"""
from __future__ import annotations

from selenium.webdriver.common.keys import Keys

from engine.params.catalog import apply_edits
from engine.params.versions import active_params, apply_version
from tests.browser.test_prm_parameters import apply_confirmed, click, dict_id, open_sheet, start, wait_until

GRID = dict_id(name="TradingRisk|bias_size_multipliers", type="parameters-grid")


def _multipliers(store) -> dict[str, float]:  # type: ignore[no-untyped-def]
    with store.read() as s:
        return {r.trading_bias: r.size_multiplier for r in active_params(s).table("TradingRisk", "bias_size_multipliers")}


def test_prm010_a_grid_edit_follows_its_row_after_another_user_reorders_it(dash_duo, embedded_app) -> None:  # type: ignore[no-untyped-def]
    store = start(dash_duo, embedded_app)
    open_sheet(dash_duo, "TradingRisk")
    cell = f"{GRID} .ag-center-cols-container .ag-row[row-id='3'] .ag-cell[col-id='size_multiplier']"
    click(dash_duo, cell)
    editor = dash_duo.wait_for_element(".ag-cell-inline-editing input", timeout=10)
    editor.send_keys(Keys.CONTROL, "a")
    editor.send_keys("0.5", Keys.ENTER)
    dash_duo.wait_for_contains_text("#parameters-pending", "SizeMultiplier (LONG_AGGRESSIVE)", timeout=10)

    # another user applies the same rows sorted by name: row 4 is now NONE
    with store.read() as s:
        base = active_params(s)
    rows = sorted((r.as_dict() for r in base.table("TradingRisk", "bias_size_multipliers")),
                  key=lambda r: r["trading_bias"])
    bob = apply_edits(base, tables={("TradingRisk", "bias_size_multipliers"): rows}).paramset
    assert bob is not None
    apply_version(store, bob, "bob", "upload", "sorted workbook")

    click(dash_duo, "#parameters-load-latest")  # the stale alert's button (the page polls every 5 s)
    dash_duo.wait_for_contains_text("#parameters-active", f"active version {bob.version_id or ''}".strip(), timeout=15)
    pending = dash_duo.find_element("#parameters-pending").text
    assert "SizeMultiplier (LONG_AGGRESSIVE)" in pending and "row 4" not in pending
    apply_confirmed(dash_duo, "Apply your edits (1 changed value)", "is now active")
    got = _multipliers(store)
    assert got["LONG_AGGRESSIVE"] == 0.5 and got["NONE"] == 0.0


def test_prm010_old_row_number_edits_in_the_session_are_dropped_with_a_message(dash_duo, embedded_app) -> None:  # type: ignore[no-untyped-def]
    start(dash_duo, embedded_app)
    dash_duo.driver.execute_script(
        "sessionStorage.setItem('parameters-edits', JSON.stringify({"
        "'TradingRisk|bias_size_multipliers|3|size_multiplier': '0.5', 'ATRIndicatorsConfig|main|atr_period': 20}));")
    dash_duo.driver.refresh()
    dash_duo.wait_for_element("#parameters-sheet-title", timeout=20)
    dash_duo.wait_for_contains_text("#parameters-message", "1 pending edit dropped", timeout=15)
    assert "older form of this page" in dash_duo.find_element("#parameters-message").text
    wait_until(lambda: "1 pending edit" in dash_duo.find_element("#parameters-pending-count").text, 10,
               "the other edit kept")
    assert "atr_period" in dash_duo.find_element("#parameters-pending").text.lower() or \
        "ATR" in dash_duo.find_element("#parameters-pending").text
