"""One uploaded CSV file as backtest data: one symbol (named after the file) or several in long format
(a `symbol` column, each value a symbol by the order ticket's rule). Each symbol is validated by the CSV
source's own loader; the records of the other symbols are blanked out (not removed: one blank line per line
they span) so its messages keep the uploaded file's line numbers. Records are split by csv itself, never by
str.splitlines (which breaks inside a quoted field and at U+2028 or a form feed).
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
    records = _records(text, name)
    first = next((i for i, (rec, _chunk, _line) in enumerate(records) if any(c.strip() for c in rec)), None)
    if first is None:
        raise BacktestError(f"{name}: the file is empty; it needs a header row and at least one bar")
    header = [h.strip().lower() for h in records[first][0]]
    with tempfile.TemporaryDirectory(prefix="backtest-upload-") as tmp:
        if "symbol" not in header:
            path = Path(tmp) / name
            path.write_text(text, encoding="utf-8", newline="")
            return _load({_file_symbol(name): path})
        col = header.index("symbol")
        symbols: dict[int, str] = {}
        for i, (rec, _chunk, line) in enumerate(records[first + 1:], start=first + 1):
            if rec and any(c.strip() for c in rec):
                if len(rec) <= col or not rec[col].strip():
                    raise BacktestError(f"{name} line {line}, column 'symbol': the symbol is missing")
                symbols[i] = rec[col].strip().upper()
                if not SYMBOL.match(symbols[i]):
                    raise BacktestError(f"{name} line {line}, column 'symbol': {rec[col].strip()[:20]!r} is not a "
                                        "symbol; a symbol is 1 to 16 letters, digits, '.' or '-', starting with a "
                                        "letter or digit (e.g. SPY)")
        distinct = sorted(set(symbols.values()))
        if not distinct:  # as the single-symbol path says it (the CSV source's loader)
            raise BacktestError(f"{name}: the file has a header but no bars")
        if len(distinct) > MAX_SYMBOLS:
            raise BacktestError(f"{name}: {len(distinct)} symbols; at most {MAX_SYMBOLS} per upload")
        files = {}
        for n, sym in enumerate(distinct):
            folder = Path(tmp) / f"{n:03d}"  # numbered, not named after the symbol: two symbols never share one
            folder.mkdir()
            kept = [chunk if i <= first or symbols.get(i, sym) == sym else "\n" * _breaks(chunk)
                    for i, (_rec, chunk, _line) in enumerate(records)]
            (folder / name).write_text("".join(kept), encoding="utf-8", newline="")
            files[sym] = folder / name
        return _load(files)


def _file_symbol(name: str) -> str:
    """The symbol of a file without a symbol column: its name (SPY.csv -> SPY), by the symbol column's rule, so a
    long or odd file name is refused here, at the upload, and not when the run is recorded."""
    symbol = Path(name).stem.upper()
    if not SYMBOL.match(symbol):
        raise BacktestError(f"{name}: the file name {Path(name).stem[:40]!r} is not a symbol and the file has no "
                            "'symbol' column; a symbol is 1 to 16 letters, digits, '.' or '-', starting with a letter "
                            "or digit: rename the file to SYMBOL.csv (e.g. SPY.csv) or add a 'symbol' column")
    return symbol


def _records(text: str, name: str) -> list[tuple[list[str], str, int]]:
    """(fields, its text as in the file, its line number) per CSV record. Lines are split as the CSV source
    reads a file (open(newline=''): at \\n, \\r, \\r\\n only, not at U+2028 or a form feed), a quoted field may
    span lines, and the line number is csv's line_num (the record's last line), the one the loader names."""
    physical = io.StringIO(text, newline="").readlines()
    reader = csv.reader(physical)
    out: list[tuple[list[str], str, int]] = []
    done = 0
    try:
        for rec in reader:
            out.append((rec, "".join(physical[done:reader.line_num]), reader.line_num))
            done = reader.line_num
    except csv.Error as exc:
        raise BacktestError(f"{name} line {reader.line_num}: not valid CSV ({exc})") from None
    return out


def _breaks(chunk: str) -> int:
    """How many lines a record's text spans (a blank line for each keeps the lines after it numbered)."""
    return len(io.StringIO(chunk, newline="").readlines())


def _load(files: dict[str, Path]) -> dict[str, pd.DataFrame]:
    try:
        return load_csv_files(files)
    except BacktestError as exc:  # the temporary copy's path means nothing to the user
        raise BacktestError(re.sub(r" \(file [^)]*\)", "", str(exc))) from None
