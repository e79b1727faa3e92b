"""Metrics on hand-computed series and, for a real series (S&P 500 daily, arch), against plain numpy formulas."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from engine.analytics import MetricsError, compute_metrics, drawdown_duration

DAYS = 252.0


def _daily(values: list[float] | np.ndarray, start: str = "2024-01-02") -> pd.Series:
    return pd.Series(np.asarray(values, dtype=float), index=pd.bdate_range(start, periods=len(values), tz="UTC"))


def _fills(rows: list[tuple[str, str, str, float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["ts", "symbol", "side", "qty", "price", "commission"])


def test_constant_return() -> None:
    eq = _daily(100.0 * 1.001 ** np.arange(253))
    m = compute_metrics(eq, None, None, DAYS)
    assert m["total_return"] == pytest.approx(1.001 ** 252 - 1)
    assert m["cagr"] == pytest.approx(1.001 ** 252 - 1)  # 252 returns at 252 a year: exactly one year
    assert m["volatility"] == pytest.approx(0.0, abs=1e-12)
    assert m["sharpe"] is None and m["sortino"] is None  # no dispersion, no downside: undefined
    assert m["max_drawdown"] == 0.0 and m["max_drawdown_duration"] == 0 and m["calmar"] is None
    assert m["trades"] == 0 and m["fills"] == 0 and m["commission"] == 0.0 and m["win_rate"] is None


def test_known_drawdown() -> None:
    eq = _daily([100, 120, 90, 60, 130, 125])
    m = compute_metrics(eq, None, None, DAYS)
    assert m["max_drawdown"] == pytest.approx(60 / 120 - 1)
    assert m["max_drawdown_duration"] == 3  # peak 120 on bar 1, regained on bar 4
    assert m["max_drawdown_duration_days"] == pytest.approx((eq.index[4] - eq.index[1]).days)
    assert m["cagr"] is None and m["calmar"] is None  # five returns: not annualised (GIPS), total return stands
    assert m["total_return"] == pytest.approx(0.25)


def test_cagr_and_calmar_only_over_a_year() -> None:
    """The same drawdown (120 -> 60), then a ramp: 252 returns are a year, CAGR = total return; 504 are two."""
    one_year = _daily([100, 120, 90, 60, *np.linspace(60, 130, 250)[1:]])
    assert len(one_year) == 253
    m = compute_metrics(one_year, None, None, DAYS)
    assert m["max_drawdown"] == pytest.approx(-0.5)
    assert m["cagr"] == pytest.approx(0.30)
    assert m["calmar"] == pytest.approx(0.30 / 0.5)
    two_years = _daily([100, 120, 90, 60, *np.linspace(60, 144, 502)[1:]])
    assert len(two_years) == 505
    m2 = compute_metrics(two_years, None, None, DAYS)
    assert m2["cagr"] == pytest.approx(1.44 ** 0.5 - 1)  # 0.2 a year
    assert m2["calmar"] == pytest.approx(0.2 / 0.5)
    short = compute_metrics(one_year.iloc[:-1], None, None, DAYS)  # 251 returns: a day short of a year
    assert short["cagr"] is None and short["calmar"] is None and short["sharpe"] is not None


def test_losses_only() -> None:
    eq = _daily([100, 99, 97, 94])
    r = np.array([99 / 100 - 1, 97 / 99 - 1, 94 / 97 - 1])
    m = compute_metrics(eq, None, None, DAYS)
    assert m["total_return"] == pytest.approx(-0.06)
    assert m["max_drawdown"] == pytest.approx(-0.06)
    assert m["max_drawdown_duration"] == 3  # never recovered: peak to the last bar
    assert m["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252))
    downside = math.sqrt((r ** 2).mean()) * math.sqrt(252)
    assert m["sortino"] == pytest.approx(r.mean() * 252 / downside)
    assert m["volatility"] == pytest.approx(r.std(ddof=1) * math.sqrt(252))
    fills = _fills([("2024-01-02", "SPY", "buy", 10, 100, 1), ("2024-01-05", "SPY", "sell", 10, 95, 1)])
    t = compute_metrics(eq, fills, None, DAYS)
    assert t["trades"] == 1 and t["win_rate"] == 0.0 and t["profit_factor"] == 0.0
    assert t["avg_loss"] == pytest.approx(-52.0) and t["avg_win"] is None
    assert t["commission"] == pytest.approx(2.0)
    assert t["turnover"] == pytest.approx((1000 + 950) / eq.mean())


def test_round_trips_fifo() -> None:
    fills = _fills([
        ("2024-01-02", "AAA", "buy", 10, 10, 1.0), ("2024-01-03", "AAA", "buy", 10, 12, 1.0),
        ("2024-01-04", "AAA", "sell", 15, 15, 1.5), ("2024-01-05", "AAA", "sell", 5, 9, 0.5),
        ("2024-01-05", "BBB", "sell", 5, 8, 0.0), ("2024-01-08", "BBB", "buy", 5, 6, 0.0),
    ])
    from engine.analytics import round_trips
    trips = round_trips(fills)
    assert trips["pnl"].round(9).tolist() == [48.0, 14.0, -16.0, 10.0]
    assert trips["direction"].tolist() == ["long", "long", "long", "short"]
    assert trips["entry_price"].tolist() == [10.0, 12.0, 12.0, 8.0]
    m = compute_metrics(_daily([1000, 1010, 1020, 1030, 1040]), fills, None, DAYS)
    assert m["trades"] == 4 and m["win_rate"] == pytest.approx(0.75)
    assert m["profit_factor"] == pytest.approx((48 + 14 + 10) / 16)
    assert m["avg_win"] == pytest.approx(24.0) and m["avg_loss"] == pytest.approx(-16.0)
    assert m["commission"] == pytest.approx(4.0) and m["fills"] == 6


def test_reversal_leaves_an_open_lot() -> None:
    from engine.analytics import open_lots, round_trips
    fills = _fills([("2024-01-02", "X", "buy", 10, 10, 0), ("2024-01-03", "X", "sell", 15, 11, 0)])
    assert round_trips(fills)["pnl"].tolist() == [10.0]
    lots = open_lots(fills)
    assert lots[["symbol", "qty", "entry_price"]].values.tolist() == [["X", -5.0, 11.0]]


def test_per_regime_and_exposure() -> None:
    eq = _daily([100, 110, 99, 99])
    regimes = pd.Series(["bull", "bear"], index=[eq.index[0], eq.index[2]])
    fills = _fills([(str(eq.index[1]), "X", "buy", 1, 10, 0), (str(eq.index[2]), "X", "sell", 1, 9, 0)])
    m = compute_metrics(eq, fills, regimes, DAYS)
    bull, bear = m["per_regime"]["bull"], m["per_regime"]["bear"]
    assert bull["time_share"] == pytest.approx(2 / 3) and bull["pnl"] == pytest.approx(-1.0)
    # the sell stamped t2 filled within the bar t1 -> t2, which began under bull (bear is known only after t2's
    # close): the trade counts with that bar's P&L, under bull
    assert bull["return"] == pytest.approx(1.1 * 0.9 - 1) and bull["trades"] == 1
    assert bear["time_share"] == pytest.approx(1 / 3) and bear["pnl"] == 0.0 and bear["trades"] == 0
    assert m["exposure"] == pytest.approx(1 / 3) and m["avg_gross_exposure"] is None  # held from bar 1 to bar 2
    gross = pd.Series([0.0, 55.0, 0.0, 0.0], index=eq.index)
    g = compute_metrics(eq, fills, regimes, DAYS, gross_exposure=gross)
    assert g["exposure"] == pytest.approx(1 / 3) and g["avg_gross_exposure"] == pytest.approx(0.5 / 3)


def test_trades_count_in_the_bar_their_exit_falls_in() -> None:
    eq = _daily([100, 101, 102, 103, 104])
    t = eq.index
    regimes = pd.Series(["a", "b", "c"], index=[t[0], t[2], t[3]])  # a over bars 0->1, 1->2; b over 2->3; c 3->4
    half_day = pd.Timedelta(hours=12)
    fills = _fills([(str(t[0]), "X", "buy", 1, 10, 0), (str(t[2]), "X", "sell", 1, 11, 0),  # exit at t2: bar 1->2 (a)
                    (str(t[2]), "Y", "buy", 1, 10, 0), (str(t[2] + half_day), "Y", "sell", 1, 9, 0),  # inside 2->3 (b)
                    (str(t[3]), "Z", "buy", 1, 10, 0), (str(t[4] + half_day), "Z", "sell", 1, 12, 0)])  # after the end
    per = compute_metrics(eq, fills, regimes, DAYS)["per_regime"]
    assert {k: v["trades"] for k, v in per.items()} == {"a": 1, "b": 1, "c": 1}
    assert {k: v["time_share"] for k, v in per.items()} == {"a": 0.5, "b": 0.25, "c": 0.25}


def test_equity_that_no_return_can_be_computed_from_is_named() -> None:
    eq = _daily([100, 101, 102])
    with pytest.raises(MetricsError, match="not finite"):
        compute_metrics(eq.where(eq != 101, math.inf), None, None, DAYS)
    doubled = pd.Series([100.0, 101.0, 102.0], index=[eq.index[0], eq.index[1], eq.index[1]])
    with pytest.raises(MetricsError, match="more than once"):
        compute_metrics(doubled, None, None, DAYS)
    for bad in (math.nan, math.inf, 0, -1, "daily", None):
        with pytest.raises(MetricsError, match="periods_per_year"):
            compute_metrics(eq, None, None, bad)  # type: ignore[arg-type]


def test_a_falling_constant_return_has_zero_volatility() -> None:
    m = compute_metrics(_daily(100.0 * 0.999 ** np.arange(300)), None, None, DAYS)
    assert m["volatility"] == 0.0 and m["sharpe"] is None
    assert m["sortino"] == pytest.approx(-math.sqrt(DAYS))  # mean r x 252 / (|r| x sqrt 252) with r < 0 every bar


def test_bad_input_is_named() -> None:
    eq = _daily([100, 101])
    with pytest.raises(MetricsError, match="price"):
        compute_metrics(eq, pd.DataFrame({"ts": [], "symbol": [], "side": [], "qty": [], "commission": []}),
                        None, DAYS)
    with pytest.raises(MetricsError, match="'hold'"):
        compute_metrics(eq, _fills([("2024-01-02", "X", "hold", 1, 1, 0)]), None, DAYS)
    with pytest.raises(MetricsError, match="not positive"):
        compute_metrics(_daily([100, 0]), None, None, DAYS)
    with pytest.raises(MetricsError, match="increasing"):
        compute_metrics(eq.iloc[::-1], None, None, DAYS)
    with pytest.raises(MetricsError, match="periods_per_year"):
        compute_metrics(eq, None, None, 0)


def _sp500() -> pd.Series:
    arch_data = pytest.importorskip("arch.data.sp500")
    close = arch_data.load()["Adj Close"].astype(float)
    close.index = pd.DatetimeIndex(close.index).tz_localize("UTC")
    return close


def test_sp500_against_numpy_formulas() -> None:
    p = _sp500()
    rf = 0.02
    v = p.to_numpy()
    r = v[1:] / v[:-1] - 1
    rf_pp = (1 + rf) ** (1 / 252) - 1
    x = r - rf_pp
    cagr = (v[-1] / v[0]) ** (252 / len(r)) - 1
    mdd = float((v / np.maximum.accumulate(v) - 1).min())
    peaks = np.flatnonzero(v >= np.maximum.accumulate(v))
    longest = int(max(np.diff(peaks).max(), len(v) - 1 - peaks[-1]))
    m = compute_metrics(p, None, None, 252, risk_free=rf)
    assert m["total_return"] == pytest.approx(v[-1] / v[0] - 1, rel=1e-9)
    assert m["cagr"] == pytest.approx(cagr, rel=1e-9)
    assert m["volatility"] == pytest.approx(r.std(ddof=1) * math.sqrt(252), rel=1e-9)
    assert m["sharpe"] == pytest.approx(x.mean() / x.std(ddof=1) * math.sqrt(252), rel=1e-9)
    assert m["sortino"] == pytest.approx(x.mean() * 252 / (math.sqrt((np.minimum(x, 0) ** 2).mean()) * math.sqrt(252)),
                                         rel=1e-9)
    assert m["max_drawdown"] == pytest.approx(mdd, rel=1e-9)
    assert m["calmar"] == pytest.approx(cagr / abs(mdd), rel=1e-9)
    assert m["max_drawdown_duration"] == longest
    assert drawdown_duration(p)[0] == longest


def test_the_tuners_stability_score_is_defined_on_a_short_fold() -> None:
    """optimize_for STABILITY scores a walk-forward fold by return over drawdown: folds are shorter than a year,
    so the fold's plain return is used (annualising 5 daily returns made it 153,211; a blank score would rate
    every version 0, the value of cash)."""
    from engine.tuning.backtest_validation import RETURN_OVER_DRAWDOWN, Measure

    eq = _daily([100, 120, 90, 60, 130, 125])
    value, total = Measure(RETURN_OVER_DRAWDOWN, None).score(eq, DAYS)
    assert value == pytest.approx(0.25 / 0.5)  # +25% over the fold, worst drawdown 120 -> 60
    assert total == pytest.approx(0.25)
