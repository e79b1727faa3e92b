"""Backtest page pieces on hand-made runs: per-symbol realised/unrealised P&L, regime bands, daily P&L."""
from __future__ import annotations

import pandas as pd

from components import backtest_views as bv
from components.metric_display import format_metric
from webapp.backtest_page_data import symbol_pnl


def _view(fills: list[tuple[str, str, str, float, float, float]]) -> bv.RunView:
    ts = pd.date_range("2024-01-01", periods=4, freq="D", tz="UTC")
    equity = pd.DataFrame({"timestamp": ts, "equity": [1000.0, 1010.0, 990.0, 1040.0], "cash": 0.0,
                           "gross_exposure": 0.0, "regime_name": [None, "Bull", "Bull", "Bear"]})
    frame = pd.DataFrame(fills, columns=["ts", "symbol", "side", "qty", "price", "commission"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    prices = pd.DataFrame({"timestamp": ts, "AAA": [100.0, 105.0, 110.0, 120.0], "IDX": [1.0, 1.0, 1.0, 1.0]})
    return bv.RunView("#1 t", equity, frame, prices, "IDX", {})


def test_realised_and_unrealised_pnl_of_a_symbol() -> None:
    view = _view([("2024-01-02", "AAA", "buy", 10, 100.0, 1.0), ("2024-01-03", "AAA", "sell", 4, 110.0, 0.4)])
    # realised: 4 x (110 - 100) - (0.4 + 4/10 of 1.0) = 39.20; unrealised: 6 x (120 - 100) = 120
    assert symbol_pnl(view, "AAA") == ("AAA: realised $39.20 over 1 round trip(s), win rate 100.00%; "
                                       "unrealised $120.00 on 6 held at the last close 120.00")


def test_regime_bands_join_consecutive_bars() -> None:
    bands = bv.regime_bands(_view([]).equity, {"Bull": "#0f0"})
    assert [(b["name"], b["x0"].day, b["x1"].day, b["color"]) for b in bands] == [
        ("Bull", 2, 4, "#0f0"), ("Bear", 4, 4, "#999999")]


def test_daily_pnl_is_the_change_of_the_last_equity_of_each_day() -> None:
    fig = bv.daily_pnl_figure([_view([])])
    assert list(fig.data[0].y) == [0.0, 10.0, -20.0, 50.0]


def test_metric_formatting_shows_fractions_as_percent() -> None:
    assert format_metric("total_return", 0.1234) == "+12.34%" and format_metric("max_drawdown", -0.05) == "-5.00%"
    assert format_metric("commission", 12.5) == "$12.50" and format_metric("trades", 7) == "7"
    assert format_metric("sharpe", None) == "—"


def test_the_run_info_shows_the_range_as_chosen() -> None:
    """Review: a 15:00 -> 19:00 run read '2026-01-05 → 2026-01-05'. Whole days stay dates."""
    from datetime import UTC, datetime

    from engine.backtest.runs import RunSummary
    from webapp.backtest_page_data import _info

    def info(start: datetime | None, end: datetime | None) -> str:
        r = RunSummary(id=3, name="", status="done", message="", progress=1.0, created_at=datetime(2026, 1, 6, tzinfo=UTC),
                       author="web:alice", data_label="stored history", params_label="version 1",
                       preset_name="default", cash=1_000_000.0, start_ts=start, end_ts=end, bars=241, metrics={})
        return _info(r)

    hours = info(datetime(2026, 1, 5, 15, 0, tzinfo=UTC), datetime(2026, 1, 5, 19, 0, tzinfo=UTC))
    assert "stored history, 2026-01-05 15:00 → 2026-01-05 19:00, cash $1,000,000" in hours
    days = info(datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC))
    assert "2024-01-02 → 2024-12-31," in days
    assert "start of data → end of data" in info(None, None)
