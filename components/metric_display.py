"""Performance metrics for a person: one label and one format per metric, shared by the Backtest and the
Performance pages (a quant comparing a backtest with the live account reads the same words and digits).

Keys are those of engine/analytics/metrics.py (metrics.json); undefined values (None) show as an em dash.
"""
from __future__ import annotations

from components.formatting import money

# (key, label) in the order the tables show them
METRIC_ROWS: tuple[tuple[str, str], ...] = (
    ("total_return", "Total return"), ("cagr", "CAGR"), ("volatility", "Volatility (annualised)"),
    ("sharpe", "Sharpe"), ("sortino", "Sortino"), ("calmar", "Calmar"), ("max_drawdown", "Max drawdown"),
    ("max_drawdown_duration", "Max drawdown duration (bars)"),
    ("max_drawdown_duration_days", "Max drawdown duration (days)"),
    ("win_rate", "Win rate"), ("profit_factor", "Profit factor"), ("avg_win", "Average win"),
    ("avg_loss", "Average loss"), ("exposure", "Time invested"), ("avg_gross_exposure", "Average gross exposure"),
    ("turnover", "Turnover"), ("trades", "Round trips"), ("fills", "Fills"), ("commission", "Commission paid"),
    ("periods_per_year", "Return periods a year"), ("risk_free", "Risk-free rate (annual)"),
)
FREQUENCY_ROW = ("return_frequency", "Return frequency")  # what one return is: a backtest's bar, the live page's grid
OTHER_WORDS = {"time_share": "Time share", "pnl": "P&L", "return": "Return"}  # per-regime columns
SIGNED_PERCENT = {"total_return", "cagr", "max_drawdown", "return"}  # gains and losses: the sign says which
PERCENT = {"volatility", "win_rate", "exposure", "avg_gross_exposure", "time_share", "risk_free"}
RATIO = {"sharpe", "sortino", "calmar", "profit_factor", "turnover"}
MONEY = {"avg_win", "avg_loss", "commission", "pnl"}
_LABELS = dict((FREQUENCY_ROW, *METRIC_ROWS)) | OTHER_WORDS


def metric_words(key: str) -> str:
    """A metric key in words: 'max_drawdown' -> 'Max drawdown'; an unknown key from its own name."""
    return _LABELS.get(key) or key.replace("_", " ").capitalize()


def format_metric(key: str, value: object) -> str:
    """Percentages with two decimals (signed for returns, a zero never '-0.00%'), ratios with two, money,
    whole counts; thousands grouped throughout; '—' when undefined."""
    if value is None or isinstance(value, bool):
        return "—"
    if not isinstance(value, int | float):
        return str(value)
    if value != value:  # NaN
        return "—"
    if key in SIGNED_PERCENT or key in PERCENT:
        shown = round(float(value) * 100, 2) + 0.0  # + 0.0: -0.0 prints as 0.00
        return f"{shown:+,.2f}%" if key in SIGNED_PERCENT and shown else f"{shown:,.2f}%"
    if key in RATIO:
        return f"{value:,.2f}"
    if key in MONEY:
        return money(float(value))
    if key == "max_drawdown_duration_days":
        return f"{value:,.1f}"
    return f"{value:,.0f}"
