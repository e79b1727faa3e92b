"""A name whose bars do not cover the risk window is measured on the returns it has, never on made-up 0%
returns (audit 2, defect 3), on SQLite and PostgreSQL through the real store, gateway and risk cycle.

Expectations come from numpy on the name's own stored closes: a short history (10 bars in an 80-bar window)
keeps its sample sigma, so its gap-at-the-open loss (3 sigmas x value) refuses an order above the stress limit;
a name listed half-way through the window is measured on its own returns; a position without any stored bar
is measured at the highest measured sigma of the book (its proxy), not as riskless."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.clock import ManualClock
from engine.context import EngineContext
from engine.params import default_params
from engine.params.catalog import apply_edits
from engine.params.versions import apply_version
from engine.portfolio_risk import job
from engine.portfolio_risk import report as risk_report
from engine.portfolio_risk.book import history
from engine.settings import load_settings
from engine.store.migrate import open_store
from engine.store.models import BarRow, Instrument
from engine.trading import state as trading_state
from engine.trading.brokers.base import OrderSide
from engine.trading.brokers.paper import PaperBroker
from engine.trading.gateway import OrderIntent, submit
from engine.trading.risk_limits import RiskLimits
from tests.trading_control_fixtures import hold_at_100

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
D = Decimal
EQUITY = 1_000_000.0
LIMITS = RiskLimits(max_order_qty=D(10**6), max_order_notional=D(10**9), max_position_notional=D(10**9))
N = 80
GAP_SIGMAS = 3.0  # the gap-at-the-open scenario: 3 daily sigmas against the position
CORR1_Z = 2.326


def _closes() -> pd.DataFrame:
    """IDX and AAA over 80 days; NEW only over the last 10 (4% a day), MID over the last 40 (2% a day).
    Every name ends at 100."""
    rng = np.random.default_rng(17)
    market = rng.normal(0, 0.01, N)
    idx = [T0 - timedelta(days=N - 1 - i) for i in range(N)]
    frame = pd.DataFrame({"IDX": np.cumprod(1 + market), "AAA": np.cumprod(1 + 1.2 * market + rng.normal(0, 0.003, N))},
                         index=idx)
    frame = 100 * frame / frame.iloc[-1]
    for name, bars, sd, seed in (("NEW", 10, 0.04, 5), ("MID", 40, 0.02, 6)):
        r = np.random.default_rng(seed).normal(0, sd, bars - 1)
        col = np.full(N, np.nan)
        col[-bars:] = 100 * np.cumprod(np.r_[1.0, 1 + r]) / np.prod(1 + r)
        frame[name] = col
    return frame


CLOSES = _closes()


def _own_sigma(sym: str) -> float:
    """numpy on the name's own closes: the sample sigma of the returns it really has."""
    px = CLOSES[sym].dropna().to_numpy()
    return float(np.std(px[1:] / px[:-1] - 1, ddof=1))


def _params(values: dict[str, object]):  # type: ignore[no-untyped-def]
    off = {"max_cvar_pct": 0, "max_stress_loss_pct": 0, "max_cluster_exposure_pct": 0}
    edit = apply_edits(default_params(), values={("TradingRisk", "main", k): v for k, v in {**off, **values}.items()})
    assert edit.ok, edit.issues
    return edit.paramset


def seeded_context(any_db_url: str, tmp_path: Path, closes: pd.DataFrame) -> EngineContext:
    """An engine context (paper broker with EQUITY cash at T0, CSV market) on a migrated store holding `closes` as
    daily bars (a NaN close is no bar) and their instruments; the caller disposes of `.store`."""
    store = open_store(any_db_url, migrate=True)
    clock = ManualClock(T0)
    broker = PaperBroker(store, clock, D(int(EQUITY)), D(0), D(0), D(1))
    with store.write() as s:
        trading_state.ensure_state(s, T0)
        for sym in closes.columns:
            s.add(Instrument(symbol=sym, kind="index" if sym == "IDX" else "stock", has_options=False, source="csv"))
        for ts, row in closes.iterrows():
            for name, px in row.items():
                if np.isfinite(px):
                    s.add(BarRow(symbol=str(name), ts=ts, open=px, high=px, low=px, close=px, volume=1e7))
    return EngineContext(load_settings(database_url=any_db_url, market_source="csv", csv_dir=tmp_path), store, clock,
                         broker, None)


@pytest.fixture()
def ctx(any_db_url: str, tmp_path: Path) -> Iterator[EngineContext]:
    c = seeded_context(any_db_url, tmp_path, CLOSES)
    yield c
    c.store.dispose()


def _hold(c: EngineContext, **qty: int) -> None:
    """Positions bought at 100 with cash (equity stays 1,000,000 while the marks are 100)."""
    hold_at_100(c, D(int(EQUITY)), LIMITS, T0, **qty)


def _scenario(rep: risk_report.RiskReport, name: str) -> float:
    return next(sc.pnl for sc in rep.scenarios if sc.name == name)


def test_short_history_keeps_its_sigma_and_the_stress_limit_refuses_the_oversize_buy(ctx):
    sigma = _own_sigma("NEW")
    assert sigma > 0.025  # 9 real returns at ~4% a day
    qty = 5000  # 500,000 = 50% of equity
    gap_pct = 100 * GAP_SIGMAS * sigma * qty * 100 / EQUITY
    assert gap_pct > 4.0  # the order's gap loss alone is above the 4% limit
    apply_version(ctx.store, _params({"max_stress_loss_pct": 4.0}), "test", "cli")
    _hold(ctx)
    with ctx.store.read() as s:
        hist = history(s, ["NEW"], 500)
    rep = risk_report.compute(risk_report.Book(("NEW",), np.array([float(qty)]), np.array([100.0]), EQUITY), hist, {})
    assert _scenario(rep, "Gap at the open") == pytest.approx(-GAP_SIGMAS * sigma * qty * 100, rel=1e-9)
    assert _scenario(rep, "Correlation-1 day") == pytest.approx(-CORR1_Z * sigma * qty * 100, rel=1e-9)
    assert "NEW: 9 of 79 returns" in rep.note
    worst_day = min(sc.pnl for sc in rep.scenarios if sc.kind == "historical")
    assert worst_day < 0  # the replayed worst days move NEW too (they read 0.00% on zero returns)

    res = submit(ctx, OrderIntent("NEW", OrderSide.BUY, D(qty), idempotency_key="big"), "alice", "manual", LIMITS)
    assert res.status.value == "rejected" and res.check == "max_stress_loss_pct"
    assert "NEW" in (res.reason or "") and "stress loss" in (res.reason or "")
    small = 500  # 50,000: 3 sigmas is ~0.5% of equity, well inside every scenario
    assert 100 * GAP_SIGMAS * sigma * small * 100 / EQUITY < 1.0
    res = submit(ctx, OrderIntent("NEW", OrderSide.BUY, D(small), idempotency_key="small"), "alice", "manual", LIMITS)
    assert res.status.value != "rejected", res.reason


def test_a_name_listed_mid_window_is_measured_on_its_own_returns(ctx):
    sigma = _own_sigma("MID")  # 39 real returns: enough to be measured (no proxy), never diluted by 40 zeros
    _hold(ctx)
    with ctx.store.read() as s:
        hist = history(s, ["MID", "AAA"], 500)
    book = risk_report.Book(("AAA", "MID"), np.array([100.0, -300.0]), np.array([100.0, 100.0]), EQUITY)
    rep = risk_report.compute(book, hist, {})
    assert _scenario(rep, "Gap at the open") == pytest.approx(-GAP_SIGMAS * (_own_sigma("AAA") * 1e4 + sigma * 3e4),
                                                              rel=1e-9)
    assert "MID" not in rep.note
    own = CLOSES[["MID", "IDX"]].dropna().pct_change().iloc[1:].to_numpy()
    beta = np.cov(own[:, 0], own[:, 1], ddof=1)[0, 1] / np.var(own[:, 1], ddof=1)  # OLS on the shared days
    assert rep.betas[1] == pytest.approx(beta, rel=1e-9)
    # second moments on pairwise-complete rows: pandas' DataFrame.cov / .corr as the oracle
    rets = CLOSES[["AAA", "MID"]].pct_change(fill_method=None).iloc[1:]
    assert rep.corr[0, 1] == pytest.approx(rets.corr().iloc[0, 1], rel=1e-9)
    w = book.values
    mu, sd = float(rets.mean().to_numpy() @ w), float(np.sqrt(w @ rets.cov().to_numpy() @ w))
    z99 = 2.3263478740408408
    assert rep.figure("parametric", 0.99, "var") == pytest.approx(-(mu - z99 * sd), rel=1e-9)


def test_a_position_without_stored_bars_is_not_riskless(ctx):
    _hold(ctx, AAA=2000, GHOST=3000)  # GHOST: bought outside the bar universe, no bar stored at all
    result = job.run(ctx)
    rep = result.report
    assert rep.symbols == ("AAA", "GHOST")
    ghost = float(rep.values[1])
    assert ghost > 0
    ret = CLOSES[["AAA", "IDX"]].pct_change().iloc[1:]
    proxy = float(ret.std(ddof=1).max())  # the highest measured sigma in its history (AAA's or the index's)
    gap = rep.scenarios[[sc.name for sc in rep.scenarios].index("Gap at the open")].per_position
    assert gap["GHOST"] == pytest.approx(-GAP_SIGMAS * proxy * ghost, rel=1e-9)
    assert "GHOST: 0 of 79 returns" in rep.note
    # VaR: GHOST adds to AAA's risk (correlation 1 against the book), never 0
    aaa = float(rep.values[0])
    pnl_aaa = ret["AAA"].to_numpy() * aaa
    sd_book = float(np.std(pnl_aaa, ddof=1)) + proxy * ghost
    z99 = 2.3263478740408408
    assert rep.figure("parametric", 0.99, "var") == pytest.approx(-(pnl_aaa.mean() - z99 * sd_book), rel=1e-6)
    aaa_only = np.sort(pnl_aaa)[0]  # with 79 returns the 99% CVaR is the single worst outcome
    assert rep.figure("historical", 0.99) > -aaa_only
