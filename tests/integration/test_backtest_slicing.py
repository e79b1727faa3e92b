"""A backtest honours the preset's sliced execution (config/execution.toml) as the live engine does: the
planner job's buy becomes a parent, and the market tick's execution step sends its children on later bars.

Oracle: the same run with immediate execution. Up to the first plan both runs are the same, so the first
planned buy of ALFA is the immediate run's first order, Q shares. Sliced as TWAP over 3 days in 3 slices
(targets at T, T+1d, T+2d: cumulative round(Q/3), round(2Q/3), Q; daily bars, every day), created when bar
t closes (clock T), the parent is first worked at T+1d (target round(2Q/3), half up) and then at T+2d (Q)."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.backtest.inputs import BacktestSpec
from engine.backtest.runner import BacktestResult, run_backtest
from engine.execution import modes
from engine.params import default_params
from engine.planner.api import load_preset
from engine.trading.gateway import client_order_id_for

N = 90


def frame(base: float, seed: int) -> pd.DataFrame:
    """A steady rise (0.4% a day, small noise), one bar every calendar day, each opening at the previous close."""
    rng = np.random.default_rng(seed)
    close = base * np.exp(np.cumsum(0.004 + 0.002 * rng.standard_normal(N)))
    open_ = np.r_[close[0], close[:-1]]
    return pd.DataFrame({"timestamp": pd.date_range("2020-01-01", periods=N, freq="D", tz="UTC"), "open": open_,
                         "high": np.maximum(open_, close) * 1.001, "low": np.minimum(open_, close) * 0.999,
                         "close": close, "volume": 1e6})


def run(tmp_path: Path, monkeypatch, execution: str) -> BacktestResult:  # type: ignore[no-untyped-def]
    config = tmp_path / f"execution-{len(execution)}.toml"
    config.write_text(execution, encoding="utf-8")
    real_for, real_load = modes.for_preset, modes.load_config
    monkeypatch.setattr("engine.planner.execute.for_preset", lambda name: real_for(name, config))
    monkeypatch.setattr("engine.planner.execute.load_config", lambda: real_load(config))
    frames = {"IDX": frame(100, 1), "ALFA": frame(50, 2)}
    return run_backtest(BacktestSpec(frames, "IDX", default_params(), load_preset("default"), cash=100_000.0,
                                     slippage_bps=0.0, commission_per_share=0.0, participation=1.0))


@pytest.mark.slow
def test_a_sliced_preset_works_its_parent_over_later_bars_in_a_backtest(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    immediate = run(tmp_path, monkeypatch, '[default.execution]\nmode = "immediate"\n')
    first = immediate.orders[(immediate.orders.symbol == "ALFA") & (immediate.orders.side == "buy")].iloc[0]
    q, created = Decimal(str(first.qty)), pd.Timestamp(first.ts)
    sliced = run(tmp_path, monkeypatch, '[default.execution]\nmode = "twap"\nduration_s = 259200\nslices = 3\n')
    ids = {client_order_id_for("planner", f"parent-1-{seq}", "ALFA", "buy"): seq for seq in (1, 2, 3)}
    kids = sliced.orders[sliced.orders.client_order_id.isin(ids)].sort_values("ts")
    two_thirds = (q * 2 / 3).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    assert [Decimal(str(k)) for k in kids.qty] == [two_thirds, q - two_thirds], kids.to_string()
    assert [pd.Timestamp(t) for t in kids.ts] == [created + pd.Timedelta(days=1), created + pd.Timedelta(days=2)]
    assert set(kids.order_type) == {"market"} and set(kids.status) == {"filled"}
    assert first.client_order_id not in set(sliced.orders.client_order_id)  # no immediate order for that step
