"""Risk page: with a book held at the paper broker, the page shows the engine's 1-day VaR/CVaR (the
figure the risk cycle stored) and a stress table per scenario and per position; a trader saves a
scenario in the editor and it appears in the stress table with the loss its shock implies. Saving over its name
asks first (old -> new shocks; Cancel keeps it, Replace replaces it) and Delete asks before deleting it."""
from __future__ import annotations

import time
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from engine.store.models import BarRow
from tests.auth_helpers import browser_login
from tests.planner_page_fixtures import scroll_click


def _hold(ctx, **qty: int) -> None:  # type: ignore[no-untyped-def]
    from engine.store.models import PaperAccount, PaperPosition
    from engine.trading.marks import latest_closes

    with ctx.store.write() as s:
        closes = latest_closes(s, list(qty))
        acct = s.get(PaperAccount, 1) or PaperAccount(id=1, cash=Decimal(1_000_000), realized_pnl=Decimal(0),
                                                      commissions=Decimal(0), updated_at=ctx.clock.now())
        for sym, q in qty.items():
            px = closes[sym][0]
            s.add(PaperPosition(symbol=sym, qty=Decimal(q), avg_entry_price=px))
            acct.cash -= Decimal(q) * px
        s.merge(acct)


def _user_shocks(ctx):  # type: ignore[no-untyped-def]
    from engine.store.models import StressScenarioRow

    with ctx.store.read() as s:
        return {r.name: dict(r.shocks) for r in s.scalars(select(StressScenarioRow))}


def _answer(dash_duo, button: str) -> None:  # type: ignore[no-untyped-def]
    """Click a confirm dialog's button and wait until the dialog (and its backdrop) has gone."""
    scroll_click(dash_duo, dash_duo.find_element(button))
    dash_duo.wait_for_no_elements(".modal.show", timeout=10)
    dash_duo.wait_for_no_elements(".modal-backdrop", timeout=10)


def _stored_report(ctx):  # type: ignore[no-untyped-def]
    from engine.portfolio_risk.store_io import latest_report

    with ctx.store.read() as s:
        return latest_report(s)


@pytest.mark.slow  # about two minutes: warm-up, two risk cycles, a saved scenario
def test_rsk001_risk_page_shows_var_and_a_stress_table(dash_duo, embedded_app) -> None:  # type: ignore[no-untyped-def]
    from webapp.context import EXTENSION_KEY
    from webapp.risk_views import money

    app = embedded_app(autotrade=False)
    ctx = app.server.extensions[EXTENSION_KEY]
    deadline = time.time() + 30
    while True:  # the warm-up bars are stored before the first tick
        with ctx.store.read() as s:
            if (s.scalar(select(func.count()).select_from(BarRow).where(BarRow.symbol == "ALFA")) or 0) > 50:
                break
        assert time.time() < deadline, "no warm-up bars"
        time.sleep(0.5)
    _hold(ctx, ALFA=1000, BRVO=-500)
    browser_login(dash_duo, app, path="/risk")
    dash_duo.wait_for_element("#risk-stress", timeout=20)
    deadline = time.time() + 60
    seen: set[str] = set()  # every CVaR the engine stored while we watched (it recomputes every risk cycle)
    while True:  # the page shows a figure the engine stored for this book (the page refreshes every 5 s)
        rep = (_stored_report(ctx) or {}).get("report", {})
        if rep.get("symbols") == ["ALFA", "BRVO"] and "historical_99" in rep.get("var", {}):
            seen.add(money(rep["var"]["historical_99"]["cvar"]))
        shown = dash_duo.find_element("#risk-cvar99").text
        if shown in seen:
            break
        assert time.time() < deadline, f"the page shows {shown!r}; stored while watching: {sorted(seen)}"
        time.sleep(0.3)
    assert float(shown.replace(",", "").replace("$", "")) > 0
    stress = dash_duo.find_element("#risk-stress").text
    for name in ("Index -5%, vol x2", "Index -10%, vol x2", "Correlation-1 day", "Gap at the open"):
        assert name in stress
    per_position = dash_duo.find_element("#risk-stress-positions").text
    assert "ALFA" in per_position and "BRVO" in per_position

    dash_duo.find_element("#risk-scenario-name").send_keys("alfa crash")
    dash_duo.find_element("#risk-scenario-shocks").send_keys("ALFA=-20")
    scroll_click(dash_duo, dash_duo.find_element("#risk-scenario-save"))  # at once: no smooth scroll mid-click
    dash_duo.wait_for_contains_text("#risk-scenario-msg", "saved 'alfa crash'", timeout=15)
    deadline = time.time() + 60
    while True:  # the next risk cycle applies it: 1000 ALFA x price x -20%
        rep = (_stored_report(ctx) or {}).get("report", {})
        mine = [s for s in rep.get("scenarios", []) if s["name"] == "alfa crash"]
        if mine and "alfa crash" in dash_duo.find_element("#risk-stress").text:
            break
        assert time.time() < deadline, "the saved scenario never reached the stress table"
        time.sleep(0.5)
    alfa_value = rep["values"][rep["symbols"].index("ALFA")]
    assert mine[0]["pnl"] == pytest.approx(-0.2 * alfa_value)
    assert mine[0]["per_position"]["BRVO"] == 0.0
    dash_duo.find_element("#risk-scenario-shocks").send_keys(", bad")
    scroll_click(dash_duo, dash_duo.find_element("#risk-scenario-save"))  # the refreshed tables moved it
    dash_duo.wait_for_contains_text("#risk-scenario-msg", "is not SYMBOL_OR_GROUP=PERCENT", timeout=15)

    # saving over the name asks first; Cancel keeps the old shocks
    dash_duo.clear_input("#risk-scenario-shocks")
    dash_duo.find_element("#risk-scenario-shocks").send_keys("ALFA=-25")
    scroll_click(dash_duo, dash_duo.find_element("#risk-scenario-save"))
    dash_duo.wait_for_contains_text("#risk-scenario-replace-body", "ALFA=-20% → ALFA=-25%", timeout=15)
    assert _user_shocks(ctx) == {"alfa crash": {"ALFA": -0.2}}  # asked, not replaced
    _answer(dash_duo, "#risk-scenario-replace-cancel")
    dash_duo.wait_for_contains_text("#risk-scenario-msg", "nothing replaced: 'alfa crash' is kept", timeout=15)
    assert _user_shocks(ctx) == {"alfa crash": {"ALFA": -0.2}}
    # ... and Replace replaces them
    scroll_click(dash_duo, dash_duo.find_element("#risk-scenario-save"))
    dash_duo.wait_for_contains_text("#risk-scenario-replace-body", "ALFA=-20% → ALFA=-25%", timeout=15)
    _answer(dash_duo, "#risk-scenario-replace-confirm")
    dash_duo.wait_for_contains_text("#risk-scenario-msg", "(replaced ALFA=-20%)", timeout=15)
    assert _user_shocks(ctx) == {"alfa crash": {"ALFA": -0.25}}
    # Delete asks naming the scenario, then deletes it
    scroll_click(dash_duo, dash_duo.find_element("#risk-scenario-delete"))
    dash_duo.wait_for_contains_text("#risk-scenario-remove-body", "Delete the saved scenario 'alfa crash'", timeout=15)
    assert _user_shocks(ctx) == {"alfa crash": {"ALFA": -0.25}}  # asked, not deleted
    _answer(dash_duo, "#risk-scenario-remove-confirm")
    dash_duo.wait_for_contains_text("#risk-scenario-msg", "deleted 'alfa crash'", timeout=15)
    assert _user_shocks(ctx) == {}
    assert [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"] == []
