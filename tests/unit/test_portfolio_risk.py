"""Portfolio risk arithmetic: VaR/CVaR against hand-computed cases and against empyrical / scipy on the
same returns; exposures, clusters and beta; stress P&L on a hand-built book; limits and breaches."""
from __future__ import annotations

import empyrical
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from engine.params import default_params
from engine.portfolio_risk import measures, stress, structure
from engine.portfolio_risk.limits import PortfolioLimits, breaches, order_breach
from engine.portfolio_risk.report import Book, compute
from engine.portfolio_risk.returns import from_closes


def test_historical_var_cvar_hand_computed():
    pnl = np.arange(-10.0, 11.0)  # 21 outcomes, -10 .. 10
    f95 = measures.historical(pnl, 0.95)
    # 5th percentile: position (21-1)*0.05 = 1 -> -9; tail of int(20*0.05)+1 = 2 outcomes: (-10-9)/2
    assert (f95.var, f95.cvar) == pytest.approx((9.0, 9.5))
    f99 = measures.historical(pnl, 0.99)
    # position 0.2 between -10 and -9 -> -9.8; tail of int(0.2)+1 = 1 outcome: -10
    assert (f99.var, f99.cvar) == pytest.approx((9.8, 10.0))
    # one bar -> one day by sqrt(time): 4 bars a day doubles both
    assert measures.historical(pnl, 0.95, horizon=4.0).cvar == pytest.approx(19.0)


@pytest.mark.parametrize("seed", [1, 7, 42])
def test_historical_matches_empyrical_on_the_same_returns(seed):
    rng = np.random.default_rng(seed)
    returns = rng.standard_t(4, size=(503, 3)) * 0.01
    values = np.array([50_000.0, -20_000.0, 35_000.0])
    pnl = returns @ values
    for level in (0.95, 0.99):
        f = measures.historical(measures.portfolio_pnl(returns, values), level)
        assert f.var == pytest.approx(-empyrical.value_at_risk(pnl, cutoff=1 - level))
        assert f.cvar == pytest.approx(-empyrical.conditional_value_at_risk(pnl, cutoff=1 - level))
        assert f.cvar >= f.var > 0


@pytest.mark.parametrize("level", [0.95, 0.99])
def test_parametric_matches_scipy_normal_on_the_book_pnl(level):
    rng = np.random.default_rng(3)
    returns = rng.normal(0.0004, 0.012, size=(400, 4)) + rng.normal(0, 0.008, size=(400, 1))
    values = np.array([10_000.0, 20_000.0, -5_000.0, 8_000.0])
    pnl = pd.Series(returns @ values)  # the oracle works on the book's P&L series directly
    dist = stats.norm(loc=pnl.mean() * 2, scale=pnl.std(ddof=1) * 2)  # 4 bars a day: the one-bar figure x sqrt(4)
    q = dist.ppf(1 - level)
    tail_mean = dist.expect(lambda x: x, ub=q) / (1 - level)  # numerical integral of the lower tail
    f = measures.parametric(returns, values, level, horizon=4.0)
    assert f.var == pytest.approx(-q, rel=1e-9)
    assert f.cvar == pytest.approx(-tail_mean, rel=1e-6)


def test_exposure_by_group_and_side():
    symbols = ("A", "B", "C", "D")
    values = np.array([1000.0, -400.0, 250.0, -50.0])
    groups = {"A": "tech", "B": "tech", "C": "energy"}
    by = {g.group: (g.long, g.short, g.gross, g.net) for g in structure.by_group(symbols, values, groups)}
    assert by == {"tech": (1000.0, 400.0, 1400.0, 600.0), "energy": (250.0, 0.0, 250.0, 250.0),
                  "other": (0.0, 50.0, 50.0, -50.0)}
    assert structure.by_side(values) == {"long": 1250.0, "short": 450.0, "net": 800.0, "gross": 1700.0}


def test_largest_cluster_and_beta():
    rng = np.random.default_rng(5)
    market = rng.normal(0, 0.01, 300)
    a = market + rng.normal(0, 0.001, 300)  # A and B move with the market (and each other)
    b = 0.5 * market + rng.normal(0, 0.0005, 300)
    c = rng.normal(0, 0.01, 300)  # C on its own
    r = np.column_stack([a, b, c])
    corr = structure.correlation(r)
    found = structure.clusters(("A", "B", "C"), corr, np.array([100.0, 300.0, 5000.0]), threshold=0.8)
    big = structure.largest_cluster(found)
    assert big.symbols == ("A", "B") and big.net_exposure == pytest.approx(400.0)
    hedged = structure.largest_cluster(structure.clusters(("A", "B", "C"), corr, np.array([100.0, -300.0, 0.0]), 0.8))
    assert hedged.net_exposure == pytest.approx(200.0)  # a short in a correlated name offsets
    expected = [stats.linregress(market, col).slope for col in (a, b, c)]
    assert structure.betas(r, market) == pytest.approx(expected)


def test_hypothetical_stress_on_a_hand_built_book():
    values = np.array([10_000.0, -2_000.0])  # long 100 x 100, short 50 x 40
    betas = np.array([1.2, 0.5])
    sigma = np.array([0.02, 0.03])
    resid = np.array([0.01, 0.02])
    sc = {s.name: s for s in stress.hypothetical(values, betas, sigma, resid)}
    # index -5%: long 1.2 * -5% - 2 * 1% = -8% -> -800; short 0.5 * -5% + 2 * 2% = +1.5% -> -30
    five = sc["Index -5%, vol x2"]
    assert five.pnl(values) == pytest.approx([-800.0, -30.0])
    ten = sc["Index -10%, vol x2"]  # -14% -> -1400; -5% + 4% = -1% -> +20
    assert ten.pnl(values) == pytest.approx([-1400.0, 20.0])
    # correlation 1: all down 2.326 sigmas (the book is net long): -465.2 + 139.56
    assert sc["Correlation-1 day"].pnl(values).sum() == pytest.approx(-10_000 * 0.04652 + 2_000 * 0.06978)
    # gap: 3 sigmas against each position: -600 and -180
    assert sc["Gap at the open"].pnl(values) == pytest.approx([-600.0, -180.0])


def test_historical_scenarios_replay_the_worst_index_days():
    days = tuple(pd.to_datetime(["2026-01-05", "2026-01-06", "2026-01-07", "2026-01-08"]).date)
    index_moves = np.array([-0.01, -0.04, 0.02, -0.02])
    moves = np.array([[0.0], [-0.05], [0.01], [-0.03]])  # one name, A
    out = stress.historical(np.array([1000.0]), days, moves, index_moves, worst=2)
    assert [s.name.split(" (")[0] for s in out] == ["Worst day 2026-01-06", "Worst day 2026-01-08"]
    assert [float(s.pnl(np.array([1000.0]))[0]) for s in out] == pytest.approx([-50.0, -30.0])
    # no index: the book's own worst days
    book = stress.historical(np.array([-1000.0]), days, moves, None, worst=1)
    assert book[0].name.startswith("Worst day 2026-01-07") and float(book[0].pnl(np.array([-1000.0]))[0]) == -10.0


def test_intraday_bars_scale_to_a_day_and_group_into_dates():
    ts = pd.date_range("2026-01-05 14:30", periods=10, freq="min", tz="UTC").append(
        pd.date_range("2026-01-06 14:30", periods=10, freq="min", tz="UTC"))
    closes = pd.DataFrame({"A": np.r_[np.linspace(100, 110, 10), np.linspace(105, 99, 10)]}, index=ts)
    hist = from_closes(closes)
    assert hist.bars_per_day == pytest.approx(390.0)  # 6.5 h of one-minute bars
    dates, daily = hist.daily_matrix(["A", "missing"])
    assert [str(d.date()) for d in dates] == ["2026-01-06"] and daily.shape == (1, 2)
    assert daily[0, 0] == pytest.approx(99 / 110 - 1)
    assert np.isnan(daily[0, 1])  # a name without bars has no return that day, not a 0% return


def test_user_scenario_precedence_symbol_group_index():
    spec = stress.UserScenario("mine", {"A": -0.10, "tech": -0.05, "INDEX": -0.02})
    sc = stress.user(spec, ("A", "B", "C"), {"A": "tech", "B": "tech"}, np.array([1.0, 1.0, 1.5]))
    assert sc.shocks == pytest.approx([-0.10, -0.05, -0.03])
    with pytest.raises(ValueError, match="outside"):
        stress.UserScenario("bad", {"A": -2.0}).validate()


def _history(n: int = 120, seed: int = 11) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2025-01-01", periods=n, freq="B", tz="UTC")
    market = rng.normal(0, 0.01, n)
    cols = {"IDX": market, "A": 1.2 * market + rng.normal(0, 0.004, n), "B": 1.1 * market + rng.normal(0, 0.004, n),
            "C": rng.normal(0, 0.015, n)}
    closes = pd.DataFrame({k: 100 * np.cumprod(1 + v) for k, v in cols.items()}, index=idx)
    return closes, market


def test_report_figures_equal_the_measures_on_daily_bars():
    closes, _ = _history()
    hist = from_closes(closes, "IDX")
    book = Book(("A", "C"), np.array([100.0, -50.0]), closes[["A", "C"]].iloc[-1].to_numpy(), equity=50_000.0)
    rep = compute(book, hist, {"A": "g1"}, cluster_threshold=0.7)
    r = closes[["A", "C"]].pct_change().iloc[1:].to_numpy()
    pnl = r @ book.values
    assert hist.bars_per_day == 1.0 and rep.n_returns == len(closes) - 1
    assert rep.figure("historical", 0.99) == pytest.approx(-empyrical.conditional_value_at_risk(pnl, 0.01))
    assert rep.figure("historical", 0.95, "var") == pytest.approx(-empyrical.value_at_risk(pnl, 0.05))
    assert len([s for s in rep.scenarios if s.kind == "historical"]) == 5
    worst_day = closes["IDX"].pct_change().idxmin().date()
    assert str(worst_day) in rep.scenarios[4].name  # 4 hypothetical, then the worst index day


def test_limits_default_equal_the_schema_and_breaches_name_the_limit():
    assert PortfolioLimits.from_params(default_params()) == PortfolioLimits(
        groups=PortfolioLimits.from_params(default_params()).groups,
        group_limits={"growth": 150.0, "defensive": 150.0, "cyclical": 150.0})
    closes, _ = _history()
    hist = from_closes(closes, "IDX")
    px = closes.iloc[-1]
    limits = PortfolioLimits(max_cvar_pct=0, max_stress_loss_pct=0, max_cluster_exposure_pct=50.0,
                             groups={"A": "g", "B": "g"}, group_limits={"g": 60.0})
    small = Book(("A",), np.array([200.0]), np.array([px["A"]]), equity=100_000.0)
    before = compute(small, hist, limits.groups)
    big = compute(small.with_order("B", 500.0, float(px["B"])), hist, limits.groups)
    assert breaches(before, limits) == []
    found = breaches(big, limits)
    assert {b.limit for b in found} == {"max_cluster_exposure_pct", "group_limits:g"}  # both names long, 76% of equity
    refused = order_breach(before, big, limits)
    assert refused is not None and refused.limit == "group_limits:g" and "group 'g'" in refused.reason
    # the reverse order lowers the exposure: allowed even though the book stays above the limit
    assert order_breach(big, before, limits) is None
