"""One uploaded CSV file as backtest data: one symbol (named after the file) or several in long format
(a `symbol` column, each value a symbol by the order ticket's rule). Each symbol is validated by the CSV source's own loader; the rows of the other
symbols are blanked out (not removed) so its messages keep the uploaded file's line numbers.
"""
from __future__ import annotations

import csv
import io
import re
import tempfile
from pathlib import Path

import pandas as pd

from engine.backtest.inputs import BacktestError, load_csv_files

MAX_SYMBOLS = 50
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
# the order ticket's rule (webapp/manual_orders.py SYMBOL_PATTERN): "A/B", "A_B", "." and ".." are no symbols
SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9.\-]{0,15}$")


def frames_from_upload(data: bytes, filename: str) -> dict[str, pd.DataFrame]:
    name = _SAFE.sub("_", Path(filename or "upload.csv").name) or "upload.csv"
    if not name.lower().endswith(".csv"):
        raise BacktestError(f"{name}: upload a .csv file (timestamp, open, high, low, close, volume[, symbol])")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BacktestError(f"{name}: not UTF-8 text ({exc.reason})") from None
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise BacktestError(f"{name}: the file is empty; it needs a header row and at least one bar")
    header = [h.strip().lower() for h in next(csv.reader([lines[first]]))]
    with tempfile.TemporaryDirectory(prefix="backtest-upload-") as tmp:
        if "symbol" not in header:
            path = Path(tmp) / name
            path.write_text(text, encoding="utf-8")
            return _load({Path(name).stem.upper(): path})
        col = header.index("symbol")
        symbols: dict[int, str] = {}
        for i, rec in enumerate(csv.reader(io.StringIO("\n".join(lines[first + 1:]))), start=first + 1):
            if rec and any(c.strip() for c in rec):
                if len(rec) <= col or not rec[col].strip():
                    raise BacktestError(f"{name} line {i + 1}, column 'symbol': the symbol is missing")
                symbols[i] = rec[col].strip().upper()
                if not SYMBOL.match(symbols[i]):
                    raise BacktestError(f"{name} line {i + 1}, column 'symbol': {rec[col].strip()[:20]!r} is not a "
                                        "symbol; a symbol is 1 to 16 letters, digits, '.' or '-', starting with a "
                                        "letter or digit (e.g. SPY)")
        distinct = sorted(set(symbols.values()))
        if len(distinct) > MAX_SYMBOLS:
            raise BacktestError(f"{name}: {len(distinct)} symbols; at most {MAX_SYMBOLS} per upload")
        files = {}
        for n, sym in enumerate(distinct):
            folder = Path(tmp) / f"{n:03d}"  # numbered, not named after the symbol: two symbols never share one
            folder.mkdir()
            kept = [line if i <= first or symbols.get(i, sym) == sym else "" for i, line in enumerate(lines)]
            (folder / name).write_text("\n".join(kept) + "\n", encoding="utf-8")
            files[sym] = folder / name
        return _load(files)


def _load(files: dict[str, Path]) -> dict[str, pd.DataFrame]:
    try:
        return load_csv_files(files)
    except BacktestError as exc:  # the temporary copy's path means nothing to the user
        raise BacktestError(re.sub(r" \(file [^)]*\)", "", str(exc))) from None
