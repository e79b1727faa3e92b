"""A run's results as files (equity.csv, orders.csv, fills.csv, metrics.json) and its metrics.

Metrics come from the one metrics module the Performance page uses too (engine/analytics/metrics.py,
empyrical-reloaded underneath). Files are written byte-for-byte reproducibly: fixed column order,
ISO-8601 UTC timestamps, exact decimals as the store keeps them, sorted JSON keys.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from engine.analytics.definitions import definitions_for
from engine.analytics.periods import bar_frequency, days_per_year, infer_periods_per_year
from engine.analytics.solvency import metrics_with_note
from engine.backtest.runner import BacktestResult

TS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def periods_per_year(result: BacktestResult) -> float:
    """Annualisation of the run's bar returns; the session length comes from the whole data set, so a
    range that starts or ends mid-session (or lies within one) is annualised like the rest; so do the market's
    trading days a year (365 when the index trades every day, periods.days_per_year)."""
    return infer_periods_per_year(pd.DatetimeIndex(result.equity["timestamp"]), result.session_minutes,
                                  market_days(result))


def market_days(result: BacktestResult) -> float:
    """The market's trading days a year: the runner's (read from the whole index), else from the run's bars."""
    if result.days_per_year is not None:
        return result.days_per_year
    return days_per_year(pd.DatetimeIndex(result.equity["timestamp"]))


def equity_series(result: BacktestResult) -> pd.Series:
    return pd.Series(result.equity["equity"].to_numpy(dtype=float), index=pd.DatetimeIndex(result.equity["timestamp"]))


def compute(result: BacktestResult, risk_free: float = 0.0) -> dict[str, object]:
    """The issue's metrics (metrics.json keys) of one run, P&L per regime included. A run whose equity reached
    zero or below keeps its metrics that stay defined, the return metrics None and the reason under "note"
    (engine/analytics/solvency.py): the run and its trades are real and are kept, by the CLI and the web alike."""
    eq = equity_series(result)
    fills = result.fills.copy()
    if len(fills) and len(eq):  # the metrics cover what the equity curve covers (the run stops at its last bar)
        fills = fills[pd.to_datetime(fills["ts"], utc=True) <= eq.index[-1]]
    for col in ("qty", "price", "commission"):
        fills[col] = fills[col].astype(float)
    regimes = pd.Series(result.equity["regime_name"].to_numpy(dtype=object), index=eq.index).dropna()
    gross = pd.Series(result.equity["gross_exposure"].to_numpy(dtype=float), index=eq.index)
    metrics, note = metrics_with_note(eq, fills, regimes if len(regimes) else None, periods_per_year(result),
                                      risk_free, gross_exposure=gross)
    return {"return_frequency": bar_frequency(pd.DatetimeIndex(eq.index)), **metrics, "days_per_year": market_days(result),
            **({"note": note} if note else {})}


def _clean(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def metrics_json(metrics: dict[str, object]) -> str:
    """metrics.json: the metrics and, under "definitions", how each was computed (annualisation, risk-free rate)."""
    ppy, rf, days = metrics.get("periods_per_year"), metrics.get("risk_free"), metrics.get("days_per_year")
    if isinstance(ppy, int | float) and ppy > 0 and isinstance(rf, int | float):
        year = float(days) if isinstance(days, int | float) else None
        metrics = {**metrics, "definitions": definitions_for(float(ppy), float(rf), days=year)}
    return json.dumps(_clean(metrics), sort_keys=True, indent=2, default=str) + "\n"


def _csv(frame: pd.DataFrame) -> str:
    out = frame.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.DatetimeTZDtype) or col in ("ts", "timestamp", "updated_at"):
            out[col] = pd.to_datetime(out[col], utc=True).dt.strftime(TS_FORMAT)
        elif out[col].dtype == object:
            out[col] = out[col].map(lambda v: "" if v is None else str(v))
    return out.to_csv(index=False, lineterminator="\n", float_format="%.6f")


def csv_texts(result: BacktestResult) -> dict[str, str]:
    """{file name: CSV text} of the three tables."""
    equity = result.equity.copy()
    for col in ("equity", "cash", "gross_exposure"):
        equity[col] = equity[col].round(6)
    return {"equity.csv": _csv(equity), "orders.csv": _csv(result.orders), "fills.csv": _csv(result.fills)}


def prices_csv(result: BacktestResult) -> str:
    """Each symbol's close per bar of the run (stored with a run for its charts)."""
    return _csv(result.prices)


def write_outputs(result: BacktestResult, metrics: dict[str, object] | None, out: str | Path) -> list[Path]:
    """The run's files; without metrics (they could not be computed) the CSV files only."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    texts = csv_texts(result) | ({"metrics.json": metrics_json(metrics)} if metrics is not None else {})
    for name, text in texts.items():
        path = folder / name
        path.write_text(text, encoding="utf-8", newline="")
        written.append(path)
    return written
