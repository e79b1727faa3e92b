"""User stress scenarios: built-in names are reserved, a shock on an unknown symbol or group is refused
(naming it and what is accepted, nothing saved), and the worst-scenario card names the row it shows."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from engine.portfolio_risk import store_io, stress
from engine.portfolio_risk.report import RiskReport, ScenarioResult
from engine.store.migrate import open_store
from engine.store.models import AuditEvent, Instrument, PositionRow
from tests import web_requests as wr
from tests.auth_helpers import login_client

NOW = datetime(2026, 1, 6, 15, 0, tzinfo=UTC)
BUILT_IN = ("Index -5%, vol x2", "Index -10%, vol x2", "Correlation-1 day", "Gap at the open")


@pytest.mark.parametrize("name", [*BUILT_IN, " index -10%, VOL x2 ", "Worst day 2026-01-06 (index -3.10%)"])
def test_a_built_in_name_is_refused_naming_the_reserved_ones(name: str) -> None:
    with pytest.raises(ValueError, match="built-in scenario's name") as err:
        stress.UserScenario(name, {"INDEX": -0.5}).validate()
    assert all(repr(n) in str(err.value) for n in BUILT_IN) and "'Worst day '" in str(err.value)


def test_the_library_still_uses_the_reserved_names() -> None:
    values, ones = np.array([1000.0, -500.0]), np.ones(2)
    names = [s.name for s in stress.hypothetical(values, ones, ones * 0.01, ones * 0.01)]
    assert tuple(names) == BUILT_IN
    stress.UserScenario("Worst daytime gap", {"INDEX": -0.1}).validate()  # only the prefix "Worst day " is reserved


def test_an_unknown_key_is_refused_naming_it_and_what_is_accepted() -> None:
    spec = stress.UserScenario("typo", {"ALFA": -0.1, "ZZZZ": -0.2})
    with pytest.raises(ValueError) as err:
        spec.validate({"ALFA", "BRVO"}, {"growth"})
    text = str(err.value)
    assert "'ZZZZ'" in text and "INDEX" in text and "growth" in text and "ALFA, BRVO" in text
    spec_ok = stress.UserScenario("fine", {"ALFA": -0.1, "growth": -0.05, "INDEX": -0.02})
    spec_ok.validate({"ALFA", "BRVO"}, {"growth"})
    spec.validate()  # no universe given (a stored scenario read back): only the shape is checked


def test_a_long_universe_is_listed_shortly() -> None:
    symbols = {f"S{i:03d}" for i in range(100)}
    with pytest.raises(ValueError, match=r"S039 \.\.\. and 60 more"):
        stress.UserScenario("typo", {"ZZZZ": -0.2}).validate(symbols, set())


def test_store_refuses_an_unknown_key_and_saves_nothing(sqlite_url: str) -> None:
    store = open_store(sqlite_url, migrate=True)
    with store.write() as s:
        s.add(Instrument(symbol="NEWCO", kind="stock", has_options=False, source="test"))
        s.add(PositionRow(symbol="HELD", qty=Decimal(5), avg_entry_price=Decimal(10), market_price=None,
                          unrealized_pnl=None, updated_at=NOW))
    with store.write() as s:
        symbols, groups = store_io.scenario_keys(s)
        # the default Risk Groups table (config/parameters/schema.json) maps ALFA -> growth, CHRL -> defensive
        assert {"NEWCO", "HELD", "ALFA", "CHRL"} <= symbols and {"growth", "defensive"} <= groups
        with pytest.raises(store_io.ScenarioError, match="unknown symbol or group 'ZZZZ'"):
            store_io.save_user_scenario(s, NOW, "web:trader", stress.UserScenario("typo", {"ZZZZ": -0.2}))
        with pytest.raises(store_io.ScenarioError, match="built-in"):
            store_io.save_user_scenario(s, NOW, "web:trader", stress.UserScenario("Gap at the open", {"INDEX": -0.5}))
    with store.read() as s:
        assert store_io.user_scenarios(s) == [] and s.scalars(select(AuditEvent)).all() == []
    with store.write() as s:
        store_io.save_user_scenario(s, NOW, "web:trader", stress.UserScenario(
            "ok", {"NEWCO": -0.1, "HELD": -0.1, "ALFA": -0.1, "defensive": -0.05, "INDEX": -0.02}))
    with store.read() as s:
        assert [u.name for u in store_io.user_scenarios(s)] == ["ok"]


@pytest.fixture
def app(test_settings: Any) -> Any:
    from app import create_app

    return create_app(test_settings(warmup_polls=10), start_engine=False)


def _store(app: Any) -> Any:
    from webapp.context import EXTENSION_KEY

    return app.server.extensions[EXTENSION_KEY].store


def _edit(client: Any, dep: dict[str, Any], trigger: str, name: str, text: str = "") -> str:
    body = wr.call(client, dep, {f"{trigger}.n_clicks": 1, "risk-scenario-name.value": name,
                                 "risk-scenario-shocks.value": text}, trigger=f"{trigger}.n_clicks")
    assert body.status_code == 200
    return str(body.get_data(as_text=True))


def test_page_shows_the_refusals_and_saves_nothing(app: Any) -> None:
    trader = login_client(app, "trader")
    dep = wr.find(wr.dependencies(trader), "risk-scenario-msg.children")
    typo = _edit(trader, dep, "risk-scenario-save", "typo", "ZZZZ=-20")
    assert "unknown symbol or group 'ZZZZ'" in typo and "growth" in typo and "ALFA" in typo and "saved" not in typo
    clash = _edit(trader, dep, "risk-scenario-save", "Index -10%, vol x2", "INDEX=-50")
    assert "is a built-in scenario" in clash and "Gap at the open" in clash
    empty = _edit(trader, dep, "risk-scenario-delete", "  ")
    assert "type the name of the scenario to delete" in empty
    with _store(app).read() as s:
        assert store_io.user_scenarios(s) == []


def test_worst_card_names_the_row_with_its_kind(app: Any) -> None:
    # a user scenario stored before names were reserved shares a built-in's name: the card must say which
    syms = ("ALFA",)
    rows = [ScenarioResult("Index -10%, vol x2", "hypothetical", syms, np.array([-115_639.0])),
            ScenarioResult("Index -10%, vol x2", "user", syms, np.array([-490_116.0]))]
    report = RiskReport(symbols=syms, values=np.array([1e6]), equity=2e6, n_returns=0, bars_per_day=1.0,
                        scenarios=rows)
    with _store(app).write() as s:
        store_io.save_report(s, NOW, report, [])
    viewer = login_client(app, "viewer")
    refresh = wr.find(wr.dependencies(viewer), "risk-note.children")
    body = wr.call(viewer, refresh, {"risk-interval.n_intervals": 1})
    out = body.get_data(as_text=True)
    assert body.status_code == 200 and "Index -10%, vol x2 (user)" in out and "490,116" in out


def test_edit_ignores_a_forged_click_count(app: Any) -> None:
    trader = login_client(app, "trader")
    dep = wr.find(wr.dependencies(trader), "risk-scenario-msg.children")
    body = wr.call(trader, dep, {"risk-scenario-save.n_clicks": True, "risk-scenario-name.value": "x",
                                 "risk-scenario-shocks.value": "ALFA=-5"}, trigger="risk-scenario-save.n_clicks")
    assert body.status_code == 200 and '"response":{}' in body.get_data(as_text=True)  # no_update: no message
    with _store(app).read() as s:
        assert store_io.user_scenarios(s) == []


def test_shares_of_equity_never_read_minus_zero_and_headers_are_distinct() -> None:
    """Review: 'short $0 -0.00% of equity'; the by-group table had two 'Gross' headers, by-side a blank one."""
    from webapp.risk_views import groups_table, pct_of, sides_table

    assert pct_of(-0.0, 100_000.0) == "0.00% of equity" and pct_of(-1.0, 100_000.0) == "0.00% of equity"
    assert pct_of(25_000.0, 100_000.0) == "25.00% of equity" and pct_of(None, 1.0) == "" and pct_of(1.0, 0.0) == ""
    rep = {"equity": 100_000.0, "groups": [{"group": "tech", "long": 30_000.0, "short": 10_000.0}],
           "sides": {"long": 30_000.0, "short": -0.0, "net": 30_000.0, "gross": 30_000.0}}
    text = str(groups_table(rep)) + str(sides_table(rep))
    assert "'Gross share'" in text and "'Share'" in text and "-0.00" not in text
    assert "40.00% of equity" in text  # tech's gross: 30,000 long + 10,000 short
