"""Command line for research and backtests (dispatched by ``python -m engine regime ...``).

  regime replay --csv FILE [--params FILE.xlsx] [--symbol SYM] --out OUT.csv

Classifies a whole OHLCV history (any bar interval, daily included) strictly without look-ahead and
writes one row per bar: the OutputFormat columns that apply, formatted with the sheet's Format
column, then the engine's extra columns (module scores and weights, classes, rule ids, version).
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from engine.market.csv_source import load_ohlcv_csv
from engine.market.types import MarketDataError
from engine.params import ParamsError, default_params
from engine.params.paramset import ParamSet
from engine.params.typed import Parameters
from engine.params.workbook import import_workbook
from engine.regime.replay import replay
from engine.regime.types import RegimeError


def _params(path: str | None) -> Any:
    if path is None:
        return default_params()
    res = import_workbook(path)
    if not res.ok:
        problems = "; ".join(str(i) for i in res.report.errors[:5])
        raise RegimeError(f"parameter workbook {path} is not valid: {problems}. "
                          f"Run `python -m engine params validate {path}` for the full list and fix it")
    return res.paramset


def _load(path: str, symbol: str | None) -> pd.DataFrame:
    return load_ohlcv_csv(path, symbol)


def format_frame(df: pd.DataFrame, params: ParamSet) -> pd.DataFrame:
    """Apply OutputFormat: integer/float/datetime formats, and DefaultValue for required empty cells."""
    out = df.copy()
    fmt_cols = set()
    for r in Parameters(params).output_format.rows:
        fmt_cols.add(str(r.column_name))
        name = str(r.column_name)
        if name not in out.columns:
            continue
        fmt, dtype = str(r.format or ""), str(r.data_type or "").lower()
        default = "" if str(r.default_value) in ("N/A", "None") else str(r.default_value)
        col = out[name]
        if dtype == "datetime":
            out[name] = pd.to_datetime(col, utc=True).dt.strftime(fmt or "%Y-%m-%d %H:%M:%S")
        elif dtype in ("float", "integer") and "%" in fmt:
            out[name] = [(fmt % (int(v) if dtype == "integer" else float(v))) if _ok(v)
                         else (default if r.required else "") for v in col]
    for name in out.columns:  # engine extras (module scores, weights, components): 6 significant digits
        if name not in fmt_cols and pd.api.types.is_float_dtype(out[name]):
            out[name] = [f"{v:.6g}" if _ok(v) else "" for v in out[name]]
    return out


def _ok(v: Any) -> bool:
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def cmd_replay(a: argparse.Namespace) -> int:
    params = _params(a.params)
    df = _load(a.csv, a.symbol)
    symbol = a.symbol or df.attrs.get("symbol", Path(a.csv).stem.upper())
    out = replay(df, params, symbol=symbol)
    format_frame(out, params).to_csv(a.out, index=False)
    live = out[~out["warmup"].astype(bool)]
    print(f"{a.csv}: {len(out)} bars classified ({len(out) - len(live)} warm-up) -> {a.out}")
    if len(live):
        top = live["regime_name"].value_counts().head(3)
        print("  most frequent: " + ", ".join(f"{k} {v / len(live):.0%}" for k, v in top.items()))
        print(f"  transitions: {int(live['regime_transition'].sum())}; parameter version {out['param_version'].iloc[0]}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine regime", description="Regime research tools")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("replay", help="classify an OHLCV CSV history bar by bar (no look-ahead)")
    r.add_argument("--csv", required=True, help="CSV with timestamp,open,high,low,close,volume")
    r.add_argument("--params", help="parameter workbook (.xlsx); default: the built-in reference values")
    r.add_argument("--symbol", help="symbol name for the output (default: the file name)")
    r.add_argument("--out", required=True, help="output CSV path")
    r.set_defaults(func=cmd_replay)
    a = p.parse_args(argv)
    try:
        return int(a.func(a))
    except (RegimeError, MarketDataError, ParamsError, OSError, ValueError) as e:
        print(f"regime {a.command}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
