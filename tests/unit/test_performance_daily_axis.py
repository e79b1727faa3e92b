"""The Performance page's daily P&L: days are categories, so one day is one labelled bar, not sub-second ticks."""
from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from webapp.performance_display import daily_figure


def test_one_day_is_one_category_bar_with_its_date() -> None:
    view = SimpleNamespace(daily=pd.DataFrame({"day": [pd.Timestamp("2026-01-06")], "pnl": [-12.3456]}),
                           daily_label="session day (XNYS)")
    fig = daily_figure(view)  # type: ignore[arg-type]
    bar = fig["data"][0]  # type: ignore[index]
    assert bar["x"] == ["2026-01-06"] and bar["y"] == [-12.35] and bar["marker"]["color"] == ["#c62828"]
    assert fig["layout"]["xaxis"]["type"] == "category"  # type: ignore[index]
    assert "opening equity" in fig["layout"]["title"]["text"]  # type: ignore[index]
    assert fig["layout"]["xaxis"]["title"]["text"] == "session day (XNYS)"  # type: ignore[index]  # the view's days


def test_a_short_history_is_flagged_beside_the_annualised_ratios() -> None:
    from datetime import UTC, datetime, timedelta

    from webapp.performance_data import short_history_note

    start = datetime(2026, 1, 5, 0, 30, tzinfo=UTC)
    assert short_history_note(start, start + timedelta(hours=13, minutes=30)) == [
        "only 13.5 hours of history: the annualised volatility, Sharpe and Sortino are extrapolated from it and are "
        "noisy until there are weeks of returns"]
    assert short_history_note(start, start + timedelta(days=3))[0].startswith("only 3.0 days of history")
    assert short_history_note(start, start + timedelta(days=30)) == []
