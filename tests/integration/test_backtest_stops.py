"""A backtest honours the preset's protective stops (config/execution.toml) exactly as the live engine does:
the stop is attached by the market tick's execution step, triggers on the bar that reaches it and exits
through the gateway to the paper broker, which fills it at the next bar's open.

The run uses the "default" planner preset (it buys the rising symbol here) with an execution file that gives
"default" a 10% stop-loss; the path then gaps 30% down on one bar, so the stop fires on that bar whatever the
entry price was (any entry on the rise is above the gap's open / 0.9) and the exit fills at the next open."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.backtest.inputs import BacktestSpec
from engine.backtest.runner import run_backtest
from engine.execution import modes
from engine.params import default_params
from engine.planner.api import load_preset
from engine.trading.gateway import client_order_id_for

N, GAP = 90, 80


def frame(base: float, seed: int) -> pd.DataFrame:
    """A steady rise (0.4% a day, small noise), each bar opening at the previous close; bar GAP opens and
    closes 30% below bar GAP-1's close; flat-ish after."""
    rng = np.random.default_rng(seed)
    close = base * np.exp(np.cumsum(0.004 + 0.002 * rng.standard_normal(N)))
    close[GAP:] *= 0.7  # deep enough for an entry from bar ~50 (the 50-day trend) on
    open_ = np.r_[close[0], close[:-1]]
    open_[GAP] = close[GAP]
    return pd.DataFrame({"timestamp": pd.date_range("2020-01-01", periods=N, freq="B", tz="UTC"), "open": open_,
                         "high": np.maximum(open_, close) * 1.001, "low": np.minimum(open_, close) * 0.999,
                         "close": close, "volume": 1e6})


@pytest.mark.slow
def test_a_stop_loss_preset_exits_on_the_gap_bar_in_a_backtest(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "execution.toml"
    config.write_text("[default.stops]\nstop_loss_pct = 10\n", encoding="utf-8")
    real = modes.for_preset
    monkeypatch.setattr("engine.execution.tick.for_preset", lambda name: real(name, config))
    frames = {"IDX": frame(100, 1), "ALFA": frame(50, 2)}
    spec = BacktestSpec(frames, "IDX", default_params(), load_preset("default"), cash=100_000.0, slippage_bps=0.0,
                        commission_per_share=0.0, participation=1.0)
    result = run_backtest(spec)
    alfa = frames["ALFA"]
    gap_ts = alfa["timestamp"][GAP]
    fills = result.fills.assign(ts=pd.to_datetime(result.fills["ts"], utc=True))
    rise = fills[(fills.symbol == "ALFA") & (fills.side == "buy") & (fills.ts < gap_ts)]
    assert len(rise), "the planner bought ALFA on the rise (the premise of the test)"
    # held when the stop fires: the buys less any rebalancing sells before the gap
    before = fills[(fills.symbol == "ALFA") & (fills.ts < gap_ts)]
    held = sum(Decimal(str(q)) * (1 if side == "buy" else -1) for q, side in zip(before.qty, before.side, strict=True))
    bought = rise
    entry = float((bought.qty * bought.price).sum() / bought.qty.sum())
    assert alfa["open"][GAP] < 0.9 * entry  # the gap opens through the 10% stop
    # the exit: the first stop's first attempt, a market sell of the whole position sent on the gap bar
    stop_id = client_order_id_for("stop", "stop-1-1", "ALFA", "sell")
    exits = result.orders[result.orders.client_order_id == stop_id]
    assert len(exits) == 1, result.orders.to_string()
    exit_order = exits.iloc[0]
    # sent when the gap bar closed (the backtest's clock stands at a bar's end: the next bar's timestamp)
    assert pd.Timestamp(exit_order.ts) == alfa["timestamp"][GAP + 1]
    assert (exit_order.side, Decimal(str(exit_order.qty)), exit_order.status) == ("sell", held, "filled")
    exit_fill = fills[fills.client_order_id == stop_id]
    assert list(exit_fill.ts) == [alfa["timestamp"][GAP + 1]]  # filled on the next bar (stamped with its time) ...
    assert float(exit_fill.price.iloc[0]) == pytest.approx(alfa["open"][GAP + 1], rel=1e-6)  # ... at its open
