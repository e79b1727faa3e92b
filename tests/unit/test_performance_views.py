"""Performance page glue without a store: fill roles, the chart's downsampling, metric formatting, links."""
from __future__ import annotations

import pandas as pd
import pytest

from components.metric_display import format_metric as format_value
from components.trading_tables import positions_table
from webapp.performance_data import chart_frame, day_bounds, parse_day
from webapp.performance_symbol import fill_roles


def test_fill_roles_entry_exit_reverse() -> None:
    fills = pd.DataFrame({"side": ["buy", "buy", "sell", "sell", "buy"], "qty": [5, 5, 4, 10, 4]})
    # long 5, long 10, long 6, reverse to short 4, cover 4
    assert fill_roles(fills) == ["entry", "entry", "exit", "exit+entry", "exit"]


def test_chart_frame_keeps_the_deepest_point_and_the_prior_peak() -> None:
    ts = pd.date_range("2025-01-02", periods=6, freq="min", tz="UTC")
    sample = pd.DataFrame({"ts": ts, "equity": [100, 90, 95, 80, 110, 105], "min_equity": [100, 85, 95, 70, 110, 100],
                           "max_equity": [100, 100, 96, 90, 112, 110]})
    frame = chart_frame(sample, peak_before=120.0, points=3)  # groups of two rows
    assert frame["equity"].tolist() == [90, 80, 105]
    assert frame["peak"].tolist() == [120.0, 120.0, 120.0]
    assert frame["drawdown_pct"].tolist() == pytest.approx([(85 / 120 - 1) * 100, (70 / 120 - 1) * 100,
                                                            (100 / 120 - 1) * 100])


def test_day_bounds_and_bad_dates() -> None:
    start, end = day_bounds(parse_day("2025-06-02"), parse_day("2025-06-30T00:00:00"))
    assert start is not None and end is not None
    assert start.isoformat() == "2025-06-02T00:00:00+00:00"
    assert end.isoformat() == "2025-06-30T23:59:59.999999+00:00"
    assert parse_day("June") is None and parse_day(42) is None and parse_day("x" * 100) is None


def test_format_value() -> None:
    assert format_value("total_return", 0.1234) == "+12.34%"
    assert format_value("win_rate", 0.5) == "50.00%"
    assert format_value("sharpe", 1.23456) == "1.23"
    assert format_value("commission", 12.5) == "$12.50"
    assert format_value("trades", 1512) == "1,512"
    assert format_value("calmar", None) == "—"


def test_both_pages_show_a_metric_the_same_way() -> None:
    """Review: '+19284.30%' without separators, 'Periods per year 60,732.000', a '+' on volatility and on the
    risk-free rate, '-0.00%', and the two pages labelling the same metric differently."""
    assert format_value("cagr", 192.843) == "+19,284.30%"
    assert format_value("total_return", -0.00001) == "0.00%" and format_value("total_return", 0.0) == "0.00%"
    assert format_value("volatility", 0.1834) == "18.34%" and format_value("risk_free", 0.02) == "2.00%"
    assert format_value("periods_per_year", 362_880.0) == "362,880"
    assert format_value("calmar", 40_050.7531) == "40,050.75"
    assert format_value("sharpe", float("nan")) == "—"
    from components import backtest_views
    from webapp import performance_display
    assert backtest_views.METRIC_ROWS is performance_display.METRIC_ROWS  # one list of labels for both pages


def test_positions_link_to_the_symbol_chart() -> None:
    table = positions_table([{"symbol": "BRK.B", "qty": 3, "avg_entry_price": 10.0, "market_price": 11.0,
                              "unrealized_pnl": 3.0}])
    body = table.children[0].children[1].children  # the slot table's Tbody rows
    link = body[0].children[0].children
    assert link.href == "/performance?symbol=BRK.B" and link.children == "BRK.B"
