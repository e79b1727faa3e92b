"""The definition of every metric, as shown beside it in the UI and written into metrics.json ("definitions").

Placeholders: {ppy} is the number of return periods a year used to annualise (see periods.py),
{rf} the annual risk-free rate, {rf_pp} the same rate per period; {ret} ('per-bar'), {a_bar} ('a bar'), {bar}
('bar') and {bars} ('bars') name the return period: a backtest's bar, or the period of the regular grid the live
account's returns are measured on (grid.py: 'daily', 'a day', 'return periods (days)'). `definitions_for`
fills them in.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.analytics.grid import ReturnGrid

RETURNS = ("One return per bar of the index, in market time: the simple return of account equity from one bar's "
           "close to the next (equity_t / equity_t-1 - 1); a gap in the data (a weekend, a missing bar) is one return.")

METRIC_DEFINITIONS: dict[str, str] = {
    "total_return": "Final equity / first equity - 1, over the whole range.",
    "cagr": "Compound annual growth rate: (1 + total return) ^ ({ppy} / number of returns) - 1; "
            "years counted as {bars} / {ppy} (empyrical.cagr). Blank for less than a year of returns: as GIPS "
            "requires, a return over a shorter period is not annualised (the total return is the figure).",
    "volatility": "Annualised volatility: standard deviation of {ret} returns (ddof 1) x sqrt({ppy}) "
                  "(empyrical.annual_volatility).",
    "sharpe": "Sharpe ratio: mean(r - rf) / std(r - rf) x sqrt({ppy}); rf = {rf} a year = {rf_pp} {a_bar} "
              "(empyrical.sharpe_ratio). Blank with fewer than two returns or when they do not vary.",
    "sortino": "Sortino ratio: mean(r - rf) x {ppy} / downside deviation, the downside deviation being "
               "sqrt(mean(min(r - rf, 0)^2)) x sqrt({ppy}); rf = {rf_pp} {a_bar} (empyrical.sortino_ratio). "
               "Blank with fewer than two returns or none below rf.",
    "calmar": "Calmar ratio: CAGR / |max drawdown| (empyrical.calmar_ratio); blank without a drawdown, and "
              "with less than a year of returns (no CAGR).",
    "max_drawdown": "Largest fall of equity from its running peak within the range, as a negative fraction "
                    "(empyrical.max_drawdown).",
    "max_drawdown_duration": "Longest time under water: {bars} from a running peak until equity regains it "
                             "(or the range ends).",
    "max_drawdown_duration_days": "The same longest time under water, in calendar days of market time.",
    "win_rate": "Share of round trips with a positive net P&L (round trips matched first-in first-out per "
                "symbol; commission shared pro rata by quantity).",
    "profit_factor": "Sum of winning round trips' net P&L / |sum of losing ones|; blank without a losing trade.",
    "avg_win": "Mean net P&L of the winning round trips.",
    "avg_loss": "Mean net P&L of the losing round trips (negative).",
    "exposure": "Time invested: share of {bars} that start with an open position (gross exposure > 0).",
    "avg_gross_exposure": "Average gross exposure: mean of (sum of |position value|) / equity at the start of "
                          "each {bar}.",
    "turnover": "Traded value (sum of |qty x price| over all fills) / average equity.",
    "trades": "Number of closed round trips.",
    "fills": "Number of fills.",
    "commission": "Commission paid: sum over all fills.",
    "periods_per_year": "Return periods a year used to annualise: the market's trading days a year for daily "
                        "bars, those days x session minutes / bar minutes for intraday bars, 52 for weekly and 12 "
                        "for monthly bars.",
    "days_per_year": "The market's trading days a year, from its calendar: 252 sessions for an exchange, 365 days "
                     "for a market that trades every day (its data has Saturdays and Sundays: the simulated "
                     "market, crypto).",
    "risk_free": "Annual risk-free rate used by Sharpe and Sortino.",
    "per_regime.time_share": "Share of {bars} whose return was earned while this regime was in force (the regime "
                             "known at the start of the {bar}).",
    "per_regime.pnl": "Sum of equity changes over those {bars}.",
    "per_regime.return": "Compounded return over those {bars}: product(1 + r) - 1.",
    "per_regime.trades": "Round trips that closed while this regime was in force: counted in the {bar} their exit "
                         "falls in, with that {bar}'s P&L.",
}


def definitions_for(periods_per_year: float, risk_free: float, grid: ReturnGrid | None = None,
                    days: float | None = None) -> dict[str, str]:
    """METRIC_DEFINITIONS with the annualisation factor and risk-free rate written in.
    `days`: a backtest's market trading days a year (metrics "days_per_year"): the factor's derivation is stated.

    `grid`: the regular grid the returns were measured on (the live account); its period replaces 'bar', the
    return-periods definition states the grid and its factor, and 'return_frequency' defines the grid; without
    one (a backtest) 'return_frequency' says a return is one bar's."""
    rf_pp = (1.0 + risk_free) ** (1.0 / periods_per_year) - 1.0
    values = {"ppy": f"{periods_per_year:g}", "rf": f"{risk_free:.4%}", "rf_pp": f"{rf_pp:.6%}",
              "ret": "per-bar", "a_bar": "a bar", "bar": "bar", "bars": "bars"}
    if grid is not None:
        values |= {"ret": grid.adjective, "a_bar": f"{'an' if grid.unit == 'hour' else 'a'} {grid.unit}",
                   "bar": grid.unit, "bars": f"return periods ({grid.unit}s)"}
    out = {k: v.format(**values) for k, v in METRIC_DEFINITIONS.items()}
    if grid is None:
        out["return_frequency"] = RETURNS
        if days is not None and days > 0 and periods_per_year >= days:
            out["periods_per_year"] += (f" Here {periods_per_year:g} = {days:g} trading days a year x "
                                        f"{periods_per_year / days:g} bars a trading day.")
    else:
        out["periods_per_year"] = (f"Return periods a year used to annualise the returns on {grid.label}: "
                                   f"{periods_per_year:g} ({grid.factor_text}).")
        out["days_per_year"] += f" Here {grid.days_per_year:g}."
        out["return_frequency"] = grid.describe()
    return out
