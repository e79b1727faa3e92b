"""Backtests run the live engine's jobs: reproducible files, no look-ahead, the same orders as the engine job,
and accounting that checks out against the fills and the bars (computed here, independently)."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from engine.backtest.inputs import BacktestSpec, default_index, load_csv_dir, parse_date, preset_from_file
from engine.backtest.outputs import compute, write_outputs
from engine.backtest.runner import run_backtest
from engine.params import default_params
from tests.integration import backtest_data


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("bt")
    return backtest_data.csv_dir(folder / "csv", bars=50), backtest_data.preset_file(folder)


def _spec(data: tuple[Path, Path], **kw: object) -> BacktestSpec:
    frames = load_csv_dir(data[0])
    args: dict[str, object] = {"frames": frames, "index_symbol": default_index(frames), "params": default_params(),
                               "preset": preset_from_file(data[1]), "cash": 250_000.0, "params_label": "defaults"}
    return BacktestSpec(**{**args, **kw})  # type: ignore[arg-type]


@pytest.mark.slow  # two backtests: 10-50 s depending on the machine's load
def test_same_inputs_write_identical_files(data, tmp_path) -> None:  # type: ignore[no-untyped-def]
    outs = []
    for n in (1, 2):
        result = run_backtest(_spec(data))
        outs.append(write_outputs(result, compute(result), tmp_path / f"run{n}"))
    assert len(pd.read_csv(outs[0][2])) > 0, "the quick preset should trade within 50 bars"
    for a, b in zip(*outs, strict=True):
        assert a.name == b.name and a.read_bytes() == b.read_bytes(), a.name


@pytest.mark.slow  # one backtest: 5-50 s depending on the machine's load
def test_accounting_matches_fills_and_bars(data) -> None:  # type: ignore[no-untyped-def]
    """Fills at the NEXT bar's open moved 2 bps against us; cash and equity follow from the fills alone."""
    spec = _spec(data)
    result = run_backtest(spec)
    frames = spec.frames
    assert list(result.equity["timestamp"]) == list(frames["IDX"]["timestamp"])  # one row per index bar
    orders = result.orders.set_index("client_order_id")
    cash = Decimal("250000")
    for fill in result.fills.itertuples():
        bar = frames[fill.symbol].set_index("timestamp").loc[fill.ts]
        factor = Decimal("1.0002") if fill.side == "buy" else Decimal("0.9998")
        assert Decimal(str(fill.price)) == (Decimal(str(bar["open"])) * factor).quantize(Decimal("0.0001"))
        planned_at = orders.loc[fill.client_order_id, "ts"]  # the end of the bar the plan was made on
        times = frames[fill.symbol]["timestamp"]
        assert fill.ts == times[times >= planned_at].iloc[0]  # the first bar after the plan's bar, never earlier
        assert Decimal(str(fill.commission)) == Decimal(str(fill.qty)) * Decimal("0.005")
        signed = Decimal(str(fill.qty)) * (1 if fill.side == "buy" else -1)
        cash -= signed * Decimal(str(fill.price)) + Decimal(str(fill.commission))
    last = result.equity.iloc[-1]
    assert float(last["cash"]) == pytest.approx(float(cash), abs=0.01)
    qty = {s: 0.0 for s in frames}
    for fill in result.fills.itertuples():
        qty[fill.symbol] += float(fill.qty) * (1 if fill.side == "buy" else -1)
    value = sum(q * float(frames[s]["close"].iloc[-1]) for s, q in qty.items())
    assert float(last["equity"]) == pytest.approx(float(cash) + value, abs=0.05)


@pytest.mark.slow  # two backtests: 10-100 s depending on the machine's load
def test_a_run_cut_at_t_matches_the_full_run_before_t(data) -> None:  # type: ignore[no-untyped-def]
    full = run_backtest(_spec(data))
    times = full.equity["timestamp"]
    cut_at = times.iloc[len(times) * 2 // 3]
    assert (full.fills["ts"] > cut_at).any(), "the full run must trade after the cut for this test to mean anything"
    cut = run_backtest(_spec(data, end=cut_at.to_pydatetime()))
    assert cut.equity["timestamp"].iloc[-1] == cut_at
    pd.testing.assert_frame_equal(cut.equity, full.equity[full.equity["timestamp"] <= cut_at])
    before = full.fills[full.fills["ts"] <= cut_at].reset_index(drop=True)
    pd.testing.assert_frame_equal(cut.fills, before)
    cols = ["ts", "client_order_id", "symbol", "side", "qty", "order_type"]
    pd.testing.assert_frame_equal(cut.orders[cols], full.orders[full.orders["ts"] <= cut.orders["ts"].max()][cols]
                                  .reset_index(drop=True))


def test_start_date_warms_up_and_trades_only_from_the_start(data) -> None:  # type: ignore[no-untyped-def]
    spec = _spec(data)
    start = spec.frames["IDX"]["timestamp"].iloc[35]
    result = run_backtest(_spec(data, start=start.to_pydatetime()))
    assert result.equity["timestamp"].iloc[0] == start and len(result.equity) == 15
    assert result.fills.empty or result.fills["ts"].min() > start


def test_end_of_day_parsing() -> None:
    assert parse_date("2024-03-01", "--end", end_of_day=True).isoformat() == "2024-03-01T23:59:59.999999+00:00"
    assert parse_date("2024-03-01T14:30", "--end", end_of_day=True).isoformat() == "2024-03-01T14:30:00+00:00"
