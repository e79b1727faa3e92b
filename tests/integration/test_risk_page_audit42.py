"""Risk page (audit 42), on SQLite and PostgreSQL through the real store, risk cycle and page callbacks.

* A held name whose closes never moved over the window (a halted stock, a stuck feed) has no measurable risk,
  not zero risk: it is measured at the proxy a name without history gets (the highest measured sigma, beta 1)
  and the note names it. It used to add $0 to every stress scenario and to VaR while it was most of the book.
* Figures the risk cycle has not refreshed for a while (engine stopped, risk cycle failing) say so above them.
* The scenario editor refuses a symbol given twice (the later one silently won) and values that are not text,
  and says which shocks move no position held now (a shock on a symbol not held read as a silent $0 row).

Expectations are numpy on the stored closes and hand arithmetic, never the code under test."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from engine.auth import principal
from engine.clock import ManualClock
from engine.context import EngineContext
from engine.portfolio_risk import job
from engine.portfolio_risk.stress import UserScenario
from engine.settings import load_settings
from engine.store.models import PositionRow
from engine.trading.risk_limits import RiskLimits
from tests.dash_tree import nodes
from tests.integration.test_short_history_risk import seeded_context
from tests.trading_control_fixtures import hold_at_100

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
D = Decimal
EQUITY = 1_000_000.0
LIMITS = RiskLimits(max_order_qty=D(10**6), max_order_notional=D(10**9), max_position_notional=D(10**9))
N = 80
CORR1_Z = 2.326
Z99 = 2.3263478740408408


def _closes() -> pd.DataFrame:
    """IDX and AAA over 80 days ending at 100; HALT stands at 100 every day (halted)."""
    rng = np.random.default_rng(42)
    market = rng.normal(0, 0.01, N)
    idx = [T0 - timedelta(days=N - 1 - i) for i in range(N)]
    frame = pd.DataFrame({"IDX": np.cumprod(1 + market), "AAA": np.cumprod(1 + 1.1 * market + rng.normal(0, 0.004, N))},
                         index=idx)
    frame = 100 * frame / frame.iloc[-1]
    frame["HALT"] = 100.0
    return frame


CLOSES = _closes()


@pytest.fixture()
def ctx(any_db_url: str, tmp_path: Path) -> Iterator[EngineContext]:
    c = seeded_context(any_db_url, tmp_path, CLOSES)
    yield c
    c.store.dispose()


def _per_position(rep: Any, name: str) -> dict[str, float]:
    return next(sc.per_position for sc in rep.scenarios if sc.name == name)


def test_a_halted_name_is_measured_at_the_proxy_not_as_riskless(ctx: EngineContext) -> None:
    from engine.portfolio_risk import store_io

    hold_at_100(ctx, D(int(EQUITY)), LIMITS, T0, AAA=2000, HALT=3000)
    with ctx.store.write() as s:  # a user scenario: HALT by its own shock, AAA through beta x the index move
        store_io.save_user_scenario(s, T0, "web:trader", UserScenario("halt gaps", {"HALT": -0.2, "INDEX": -0.04}))
    rep = job.run(ctx).report
    assert rep.symbols == ("AAA", "HALT")
    aaa, halt = (float(v) for v in rep.values)
    assert (aaa, halt) == (200_000.0, 300_000.0)  # 2,000 and 3,000 shares at the last close of 100

    ret = CLOSES.pct_change().iloc[1:]
    proxy = float(ret[["AAA", "IDX"]].std(ddof=1).max())  # the highest measured sigma (AAA's or the index's)
    var_m = float(ret["IDX"].var(ddof=1))
    beta_aaa = float(np.cov(ret["AAA"], ret["IDX"], ddof=1)[0, 1] / var_m)
    assert _per_position(rep, "Gap at the open")["HALT"] == pytest.approx(-3.0 * proxy * halt, rel=1e-9)
    assert _per_position(rep, "Correlation-1 day")["HALT"] == pytest.approx(-CORR1_Z * proxy * halt, rel=1e-9)
    resid = np.sqrt(max(proxy**2 - var_m, 0.0))  # beta 1: what the index does not explain of the proxy
    assert _per_position(rep, "Index -10%, vol x2")["HALT"] == pytest.approx((-0.10 - 2 * resid) * halt, rel=1e-9)
    user = _per_position(rep, "halt gaps")  # hand: -20% of 300,000; beta x -4% of 200,000
    assert user["HALT"] == pytest.approx(-60_000.0, rel=1e-12)
    assert user["AAA"] == pytest.approx(beta_aaa * -0.04 * aaa, rel=1e-9)
    assert "closes did not move for HALT (flat over 79 returns)" in rep.note
    # parametric VaR: HALT's proxy adds to AAA's measured risk at correlation 1 (it was 0)
    pnl_aaa = ret["AAA"].to_numpy() * aaa
    sd_book = float(np.std(pnl_aaa, ddof=1)) + proxy * halt
    assert rep.figure("parametric", 0.99, "var") == pytest.approx(-(pnl_aaa.mean() - Z99 * sd_book), rel=1e-6)
    assert rep.figure("parametric", 0.99, "var") > 2 * (-(pnl_aaa.mean() - Z99 * np.std(pnl_aaa, ddof=1)))


def _risk_page(ctx: EngineContext, url: str, at: datetime) -> tuple[Any, ...]:
    """The Risk page's refresh as a viewer sees it, with the web clock at `at`."""
    from app import create_app
    from engine.runtime import build_context
    from webapp.cache import cache

    settings = load_settings(database_url=url, engine_mode="none")
    web = build_context(settings, with_source=False, migrate=True, clock=ManualClock(at))
    application = create_app(settings, context=web)
    from pages.risk import refresh_risk  # local import: a page module registers itself once an app exists
    try:
        with application.server.app_context():
            cache.clear()
        with application.server.test_request_context("/"), principal.acting_as(principal.Principal("v", "viewer", "x")):
            return tuple(refresh_risk(1))
    finally:
        web.store.dispose()


def _stale_alerts(alerts: Any) -> list[str]:
    return [str(n.children) for n in nodes(alerts) if getattr(n, "id", None) == "risk-stale"]


def test_figures_the_risk_cycle_stopped_refreshing_are_marked_out_of_date(ctx: EngineContext, any_db_url: str) -> None:
    hold_at_100(ctx, D(int(EQUITY)), LIMITS, T0, AAA=2000)
    job.run(ctx)  # the report stored at T0 (the engine's wall clock)
    fresh = _risk_page(ctx, any_db_url, T0 + timedelta(seconds=30))
    assert _stale_alerts(fresh[1]) == []
    assert fresh[0].startswith("computed ")
    old = _risk_page(ctx, any_db_url, T0 + timedelta(hours=2))
    warning = _stale_alerts(old[1])
    assert len(warning) == 1, old[1]
    assert warning[0].startswith("out of date: these figures were computed 2 h 0 min ago")
    assert "has not for over 60 s" in warning[0]  # tick_seconds 1: ten 2-second cycles are below the 60 s floor
    assert old[2] == fresh[2]  # the figures themselves are still shown, under the warning


@pytest.fixture
def app(any_db_url: str) -> Any:
    from app import create_app

    settings = load_settings(database_url=any_db_url, tick_seconds=0.25, warmup_polls=10, port=8050,
                             deadman_seconds=0)
    return create_app(settings, start_engine=False)


def test_the_editor_refuses_a_key_given_twice_and_values_that_are_not_text(app: Any) -> None:
    from engine.portfolio_risk.store_io import user_scenarios
    from tests import web_requests as wr
    from tests.auth_helpers import login_client
    from webapp.context import EXTENSION_KEY

    trader = login_client(app, "trader")
    dep = wr.find(wr.dependencies(trader), "risk-scenario-msg.children")

    def save(name: object, text: object) -> str:
        response = wr.call(trader, dep, {"risk-scenario-save.n_clicks": 1, "risk-scenario-name.value": name,
                                         "risk-scenario-shocks.value": text, "risk-scenario-pending.data": None},
                           trigger="risk-scenario-save.n_clicks")
        assert response.status_code == 200
        return str(response.get_json()["response"]["risk-scenario-msg"]["children"]["props"]["children"])

    assert save("dup", "INDEX=-5, growth=-3, INDEX=-7") == (
        "shock 3 gives INDEX again (shock 1 gave it -5%); give each symbol, group or INDEX once")
    assert save(["dup"], "INDEX=-5") == "the scenario name must be text, not list; nothing was saved"
    assert save("dup", {"INDEX": -5}) == "the shocks text must be text, not dict; nothing was saved"
    assert save("dup", "INDEX=" + "9" * 400) == (
        "shock 1 (INDEX) is too large a number; shocks are -100..+1000 percent")
    store = app.server.extensions[EXTENSION_KEY].store
    with store.read() as s:
        assert user_scenarios(s) == []  # nothing saved
    with store.write() as s:  # the book: ALFA (group growth in the default Risk Groups) and a flat BRVO row
        s.add_all([PositionRow(symbol="ALFA", qty=D(10), avg_entry_price=D(100), market_price=D(100),
                               unrealized_pnl=D(0), updated_at=T0),
                   PositionRow(symbol="BRVO", qty=D(0), avg_entry_price=D(100), market_price=D(100),
                               unrealized_pnl=D(0), updated_at=T0)])
    # ALFA takes its own shock, so the growth shock and INDEX move nothing held; BRVO is not held (qty 0)
    assert save("idle", "ALFA=-8, growth=-3, BRVO=-20, INDEX=-5") == (
        "saved 'idle' (4 shocks); the risk cycle applies it within seconds; moves no position held now: "
        "growth, BRVO, INDEX")
    assert save("dup", "INDEX=-5, growth=-3") == "saved 'dup' (2 shocks); the risk cycle applies it within seconds; " \
        "moves no position held now: INDEX"  # ALFA moves by its group's shock, so INDEX moves nothing
