"""The plan context's array shortcuts (engine/planner/context.py, portfolio.py, targets.py) stand in for pandas
steps on the planner's hot path: each must give exactly the numbers (and the memory order the scoring's sums
run in) of the pandas code it replaced, which is written out here as the reference."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from engine.planner.context import build_context, ffill, last_prices, returns_of
from engine.planner.filters.recently_traded import recently_traded
from engine.planner.portfolio import _closes_frame, _last_closes
from engine.planner.preset_schema import DEFAULTS
from engine.planner.targets import target_weights
from engine.planner.types import Action, Holding, LastTrade, PortfolioState, Sequence
from engine.planner.values import whole
from tests.unit.planner_helpers import ctx as make_ctx

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _history(gaps: bool, rows: int = 260, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (rows, 6)), axis=0))
    if gaps:
        closes[:12, 2] = np.nan  # a late listing
        closes[rng.integers(0, rows, 25), rng.integers(0, 6, 25)] = np.nan  # missing bars
        closes[-1, 4] = np.nan  # no bar yet this cycle
    index = pd.date_range(NOW - timedelta(days=rows - 1), periods=rows, freq="D")
    return pd.DataFrame(closes, index=index, columns=[f"S{i}" for i in range(6)])


def _reference_returns(state: PortfolioState, lookback: int, slow: int) -> pd.DataFrame:
    """build_context's returns by the pandas steps it took before the array shortcuts."""
    closes = state.history.ffill().iloc[-max(lookback, slow + 2):]
    return closes.iloc[-lookback:].pct_change(fill_method=None).iloc[1:].fillna(0.0)


@pytest.mark.parametrize("gaps", [False, True])
def test_ffill_and_returns_equal_pandas(gaps: bool) -> None:
    frame = _history(gaps)
    filled = ffill(np.ascontiguousarray(frame.to_numpy(dtype=float)))
    np.testing.assert_array_equal(filled, frame.ffill().to_numpy(dtype=float))
    expected = frame.ffill().pct_change(fill_method=None).iloc[1:].fillna(0.0).to_numpy(dtype=float)
    np.testing.assert_array_equal(returns_of(filled), expected)
    assert last_prices(filled, frame.columns.tolist()) == PortfolioState({}, 0.0, frame, NOW).prices
    assert _last_closes(frame) == {str(c): float(v) for c, v in frame.ffill().iloc[-1].items() if pd.notna(v)}


def test_a_zero_close_gives_the_same_inf_and_nan_handling_as_pct_change() -> None:
    frame = pd.DataFrame({"A": [1.0, 0.0, 2.0, 0.0, 0.0], "B": [1.0, 2.0, np.nan, 3.0, 3.0]})
    expected = frame.pct_change(fill_method=None).iloc[1:].fillna(0.0).to_numpy(dtype=float)
    np.testing.assert_array_equal(returns_of(frame.to_numpy(dtype=float)), expected)


@pytest.mark.parametrize("gaps", [False, True])
def test_build_context_equals_the_pandas_steps(gaps: bool) -> None:
    history = _history(gaps)
    positions = {"S1": Holding("S1", 300.0, 90.0), "S4": Holding("S4", 120.0, 110.0)}
    state = PortfolioState(positions, 25_000.0, history, NOW, regime="Bearish_Trend",
                           last_trades={"S1": LastTrade(NOW - timedelta(days=2), "buy")})
    params = dict(DEFAULTS)
    ctx = build_context(state, params)
    ref = _reference_returns(state, whole(params, "targets.lookback"), whole(params, "calculators.trend.slow_window"))
    assert repr(ctx.prices) == repr(state.prices) and repr(ctx.equity) == repr(state.equity)
    pd.testing.assert_frame_equal(ctx.returns, ref, check_exact=True)
    # the scoring sums over this array: it must stay row-major, as pandas' own result was
    assert ctx.matrix.flags.c_contiguous and ref.to_numpy(dtype=float).flags.c_contiguous


def test_target_weights_from_the_array_equal_the_frame_path() -> None:
    closes = _history(False).iloc[-60:]
    universe = ["S3", "S0", "S5", "S1"]
    values = np.ascontiguousarray(closes.to_numpy(dtype=float))
    for method in ("inverse_volatility", "min_variance", "risk_parity"):
        assert repr(target_weights(method, closes, universe, 0.3, 0.9, values=values)) == \
            repr(target_weights(method, closes, universe, 0.3, 0.9))


def test_closes_frame_skips_only_a_sort_that_changes_nothing() -> None:
    times = pd.DatetimeIndex(pd.date_range(NOW, periods=5, freq="D"))
    backwards = times[::-1]
    for index in (times, backwards):
        columns: dict[str, tuple[pd.Index, np.ndarray]] = {"A": (index, np.arange(5.0)),
                                                           "B": (index, np.arange(5.0) * 2)}
        expected = pd.DataFrame({s: pd.Series(c, index=i) for s, (i, c) in columns.items()}).sort_index()
        pd.testing.assert_frame_equal(_closes_frame(columns), expected, check_exact=True)


def test_recently_traded_judges_each_symbol_as_the_per_action_rule_did() -> None:
    trades = {"A": LastTrade(NOW - timedelta(days=1), "sell"), "B": LastTrade(NOW - timedelta(days=1), "buy"),
              "C": LastTrade(NOW - timedelta(days=400), "sell")}
    c = make_ctx({"A": 10.0, "B": 20.0, "C": 30.0, "D": 40.0}, last_trades=trades)
    acts = [Action(s, side, 5.0, 10.0, 0.5, "calc", "why") for s in "ABCD" for side in ("buy", "sell")]
    seqs = [Sequence(f"s{i}", (a, b), "gen") for i, (a, b) in enumerate(zip(acts, acts[::-1], strict=True))]
    window = c.p("filters.recently_traded.days") * 86400

    def keep(a: Action) -> bool:  # the rule as it was: asked per action
        last = trades.get(a.symbol)
        return last is None or last.side == a.side or (NOW - last.ts).total_seconds() >= window

    expected = [s if all(map(keep, s.actions)) else Sequence(s.label, tuple(filter(keep, s.actions)), s.generator)
                for s in seqs if any(map(keep, s.actions))]
    assert recently_traded(c, seqs) == expected
