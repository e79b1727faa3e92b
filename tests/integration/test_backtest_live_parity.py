"""The backtest and the live engine share their code: the same bars through the engine's own context
(runtime.build_context with the CSV source, its market clock, the migrated store) and through a backtest
give the same orders and fills."""
from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import select

from engine.backtest.inputs import BacktestSpec, load_csv_dir, preset_from_file
from engine.backtest.runner import run_backtest
from engine.params import default_params
from engine.store.models import FillRow, OrderRow
from tests.engine_run import live_csv_run
from tests.integration import backtest_data


def _live_orders(url: str, csv_dir, preset, bars: int) -> tuple[pd.DataFrame, pd.DataFrame]:  # type: ignore[no-untyped-def]
    """Drive the engine's jobs as the scheduler would, one CSV bar per market tick."""
    with live_csv_run(url, csv_dir, preset, bars) as ctx, ctx.store.read() as s:
        orders = s.execute(select(OrderRow.client_order_id, OrderRow.symbol, OrderRow.side, OrderRow.qty,
                                  OrderRow.status).order_by(OrderRow.client_order_id)).all()
        fills = s.execute(select(FillRow.ts, FillRow.client_order_id, FillRow.symbol, FillRow.side, FillRow.qty,
                                 FillRow.price, FillRow.commission)
                          .order_by(FillRow.ts, FillRow.client_order_id)).all()
    return (pd.DataFrame(orders, columns=["client_order_id", "symbol", "side", "qty", "status"]),
            pd.DataFrame(fills, columns=["ts", "client_order_id", "symbol", "side", "qty", "price", "commission"]))


@pytest.mark.slow  # two runs of the engine jobs over 60 bars: about 40 s on a busy machine
def test_backtest_orders_equal_the_engine_jobs_orders(tmp_path) -> None:  # type: ignore[no-untyped-def]
    csv_dir = backtest_data.csv_dir(tmp_path / "csv", bars=60)
    preset = preset_from_file(backtest_data.preset_file(tmp_path))
    live_orders, live_fills = _live_orders(f"sqlite:///{tmp_path / 'live.db'}", csv_dir, preset, bars=60)
    assert len(live_orders) > 0, "the engine job should trade within 60 bars with the quick preset"
    frames = load_csv_dir(csv_dir)
    result = run_backtest(BacktestSpec(frames=frames, index_symbol="IDX", params=default_params(), preset=preset,
                                       cash=250_000.0))
    ours = result.orders[["client_order_id", "symbol", "side", "qty", "status"]].sort_values("client_order_id")
    pd.testing.assert_frame_equal(ours.reset_index(drop=True), live_orders, check_dtype=False)
    pd.testing.assert_frame_equal(result.fills.sort_values(["ts", "client_order_id"]).reset_index(drop=True),
                                  live_fills, check_dtype=False)
