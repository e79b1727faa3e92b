"""Time-weighted returns leave deposits and withdrawals out (engine/analytics/flows.py), by hand-computed figures."""
from __future__ import annotations

import pandas as pd
import pytest

from engine.analytics.flows import flow_steps, twr_returns

IDS = pd.Series([1, 2, 3, 4])
EQUITY = pd.Series([100.0, 101.0, 151.0, 152.51])  # +1 %, a 50 deposit arrives by snapshot 3, then +1 %


def test_the_curve_has_the_time_weighted_returns() -> None:
    steps = flow_steps([(3, 50.0, 151.0)])
    curve = steps.time_weighted(IDS, EQUITY)
    # (151 - 50) / 101 - 1 = 0; the newest value is the equity itself; earlier ones scaled by 151 / 101
    assert list(curve.pct_change().iloc[1:]) == pytest.approx([0.01, 0.0, 0.01])
    assert curve.iloc[-1] == pytest.approx(152.51) and curve.iloc[0] == pytest.approx(100.0 * 151.0 / 101.0)
    index = pd.date_range("2026-12-07", periods=4, freq="D", tz="UTC")
    flows = pd.Series([50.0], index=index[2:3])
    assert list(twr_returns(pd.Series(EQUITY.to_numpy(), index=index), flows)) == pytest.approx([0.01, 0.0, 0.01])


def test_net_equity_differences_are_pnl_and_a_first_funding_is_skipped() -> None:
    steps = flow_steps([(3, 50.0, 151.0)])
    assert list(steps.net_equity(IDS, EQUITY).diff().iloc[1:]) == pytest.approx([1.0, 0.0, 1.51])
    funded = flow_steps([(2, 100.0, 100.0)])  # 0 -> 100 by the first deposit: no return to take it out of
    assert list(funded.time_weighted(pd.Series([1, 2]), pd.Series([0.0, 100.0]))) == [0.0, 100.0]
