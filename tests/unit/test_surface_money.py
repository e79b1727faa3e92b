"""Money reads the same on every page: the sign before the dollar, thousands separated (issue 10, point 6)."""
from __future__ import annotations

import pandas as pd

from components.metric_display import format_metric as format_value
from webapp.performance_symbol import SymbolView, pnl_line
from webapp.risk_views import money as risk_money


def test_performance_metric_money_puts_the_sign_before_the_dollar() -> None:
    assert format_value("commission", -5.77) == "-$5.77"
    assert format_value("commission", -253512.5) == "-$253,512.50"
    assert format_value("commission", 1234.5) == "$1,234.50"


def test_symbol_pnl_line_uses_signed_dollars() -> None:
    view = SymbolView(symbol="ALFA", closes=pd.DataFrame(), fills=pd.DataFrame(), realised=-5.77,
                      unrealised=1234.0, position=3.0, trips=2)
    assert pnl_line(view) == ("position 3 · realised P&L -$5.77 over 2 round trips · unrealised P&L $1,234.00"
                              " (open lots at the last close in range)")
    flat = SymbolView(symbol="ALFA", closes=pd.DataFrame(), fills=pd.DataFrame(), realised=-253512.5,
                      unrealised=None, position=0.0, trips=1)
    assert pnl_line(flat).startswith("position 0 · realised P&L -$253,512.50 over 1 round trips · unrealised P&L —")


def test_risk_figures_are_whole_signed_dollars() -> None:
    assert risk_money(-12345.6) == "-$12,346"
    assert risk_money(980.2) == "$980"
    assert risk_money(None) == "—"
    assert risk_money(float("nan")) == "—"
