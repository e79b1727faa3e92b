"""Stress the current book on supplied history, from a shell:

  python -m engine.portfolio_risk stress --closes FILE.csv [--index IDX] [--worst 5] [--database-url URL]

FILE.csv: daily (or intraday) closes, one column per symbol, the first column the date/time, e.g. an
export of 2008. The book (positions at their last stored prices, equity) comes from the store; VaR,
CVaR and every scenario (the worst days of the file replayed, the hypothetical ones) use the file.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

import pandas as pd

from engine.params.versions import active_params
from engine.portfolio_risk.book import read_book
from engine.portfolio_risk.limits import PortfolioLimits
from engine.portfolio_risk.report import RiskReport, compute
from engine.portfolio_risk.returns import from_closes
from engine.settings import load_settings
from engine.store.db import Store
from engine.store.migrate import open_store

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
MAX_BYTES = 50 * 1024 * 1024


class SuppliedHistoryError(ValueError):
    """The supplied closes cannot be used; the message names the file and what to fix."""


def read_closes(path: Path) -> pd.DataFrame:
    """A wide frame of closes from a CSV (first column: timestamps), checked cell by cell."""
    if not path.is_file():
        raise SuppliedHistoryError(f"{path}: no such file")
    if path.stat().st_size > MAX_BYTES:
        raise SuppliedHistoryError(f"{path}: {path.stat().st_size} bytes; at most {MAX_BYTES}")
    try:
        raw = pd.read_csv(path, index_col=0)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise SuppliedHistoryError(f"{path}: not a CSV of closes ({exc})") from None
    if raw.shape[1] == 0 or raw.shape[0] < 3:
        raise SuppliedHistoryError(f"{path}: needs a date column, one column per symbol and at least 3 rows")
    try:
        raw.index = pd.DatetimeIndex(pd.to_datetime(raw.index, utc=True))
    except (ValueError, TypeError) as exc:
        raise SuppliedHistoryError(f"{path}: the first column must be dates ({exc})") from None
    values = raw.apply(pd.to_numeric, errors="coerce")
    bad = values.isna() & raw.notna()
    if bad.to_numpy().any():
        row, col = next((r, c) for r in range(bad.shape[0]) for c in range(bad.shape[1]) if bad.iat[r, c])
        raise SuppliedHistoryError(f"{path}: row {row + 2}, column {raw.columns[col]!r}: {raw.iat[row, col]!r} "
                                   "is not a price")
    if (values <= 0).to_numpy().any():
        raise SuppliedHistoryError(f"{path}: prices must be positive")
    return values


def stress_report(store: Store, closes: pd.DataFrame, index_symbol: str | None, worst: int) -> RiskReport:
    with store.read() as session:
        book = read_book(session)
        limits = PortfolioLimits.from_params(active_params(session))
    return compute(book, from_closes(closes, index_symbol), limits.groups,
                   cluster_threshold=limits.cluster_correlation_threshold, worst_days=worst)


def print_report(rep: RiskReport, out: TextIO) -> None:
    if not rep.symbols:
        print("the book is empty: no positions to stress", file=out)
        return
    print(f"book: {len(rep.symbols)} positions, equity {rep.equity or 0:,.0f}; {rep.n_returns} returns supplied",
          file=out)
    for key, f in sorted(rep.var.items()):
        print(f"  {key:<14} VaR {f.var:>14,.0f}   CVaR {f.cvar:>14,.0f}", file=out)
    print(f"{'scenario':<48} {'kind':<13} {'P&L':>14}", file=out)
    for s in rep.scenarios:
        print(f"{s.name[:48]:<48} {s.kind:<13} {s.pnl:>14,.0f}", file=out)
        worst = sorted(s.per_position.items(), key=lambda kv: kv[1])[:3]
        print("    worst positions: " + ", ".join(f"{k} {v:,.0f}" for k, v in worst), file=out)


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    parser = argparse.ArgumentParser(prog="python -m engine.portfolio_risk", description="portfolio stress on "
                                     "supplied history")
    sub = parser.add_subparsers(dest="command", required=True)
    st = sub.add_parser("stress", help="the current book under the worst days of a supplied history")
    st.add_argument("--closes", type=Path, required=True, help="CSV: date, then one column of closes per symbol")
    st.add_argument("--index", default=None, help="the index column (its worst days are replayed); default: the "
                    "book's own worst days")
    st.add_argument("--worst", type=int, default=5, help="how many worst days to replay (default 5)")
    st.add_argument("--database-url", default=None, help="the store (default: DATABASE_URL / settings)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_OK if exc.code in (0, None) else EXIT_USAGE
    try:
        closes = read_closes(args.closes)
    except SuppliedHistoryError as exc:
        print(f"error: {exc}", file=out)
        return EXIT_FAILED
    if args.index is not None and args.index not in closes.columns:
        print(f"error: --index {args.index!r} is not a column of {args.closes}", file=out)
        return EXIT_FAILED
    settings = load_settings(database_url=args.database_url) if args.database_url else load_settings()
    store = open_store(settings.database_url)
    try:
        print_report(stress_report(store, closes, args.index, max(0, args.worst)), out)
    finally:
        store.dispose()
    return EXIT_OK
