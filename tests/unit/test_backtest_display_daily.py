"""Daily P&L bars: one category per UTC day ('YYYY-MM-DD', in date order), so a one-day run shows a day, not
sub-second ticks, and runs on days months apart get ordinary bars instead of one bar as wide as the gap."""
from __future__ import annotations

import pandas as pd

from components import backtest_views as bv


def _view(label: str, stamps: list[str], equity: list[float]) -> bv.RunView:
    frame = pd.DataFrame({"timestamp": pd.to_datetime(stamps, utc=True), "equity": equity, "cash": 0.0,
                          "gross_exposure": 0.0, "regime_name": None})
    prices = pd.DataFrame({"timestamp": frame["timestamp"], "IDX": 1.0})
    return bv.RunView(label, frame, pd.DataFrame(), prices, "IDX", {})


def test_a_one_day_run_is_one_labelled_day() -> None:
    fig = bv.daily_pnl_figure([_view("#1", ["2026-01-04 14:30", "2026-01-04 20:59"], [1000.0, 1012.5])])
    assert list(fig.data[0].x) == ["2026-01-04"] and list(fig.data[0].y) == [12.5]  # 1012.5 - 1000 start
    assert fig.layout.xaxis.type == "category"


def test_runs_on_different_days_share_a_date_ordered_day_axis() -> None:
    late = _view("#1", ["2026-04-01 15:00", "2026-04-01 21:00", "2026-04-02 21:00"], [500.0, 510.0, 505.0])
    early = _view("#2", ["2025-09-02 15:00", "2025-09-02 21:00"], [200.0, 190.0])
    fig = bv.daily_pnl_figure([late, early])
    assert [list(t.x) for t in fig.data] == [["2026-04-01", "2026-04-02"], ["2025-09-02"]]
    assert [list(t.y) for t in fig.data] == [[10.0, -5.0], [-10.0]]
    assert fig.layout.xaxis.type == "category" and fig.layout.xaxis.categoryorder == "category ascending"
    assert all(t.width is None for t in fig.data)  # no time-scaled bar width


def test_days_without_bars_are_skipped() -> None:
    fig = bv.daily_pnl_figure([_view("#1", ["2026-01-02 21:00", "2026-01-05 21:00"], [100.0, 90.0])])
    assert list(fig.data[0].x) == ["2026-01-02", "2026-01-05"] and list(fig.data[0].y) == [0.0, -10.0]
