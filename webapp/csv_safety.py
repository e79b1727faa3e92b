"""CSV files the dashboard hands out, made safe to open in a spreadsheet (OWASP CSV injection).

A cell starting with = + - @ tab or CR is read by Excel or LibreOffice as a formula; text people or files put in
the store (a login attempt's user name, a workbook's regime name, a symbol from an uploaded CSV, a broker's
rejection message) could then run as one for whoever opens the download. Such text gets a leading quote."""
from __future__ import annotations

import csv
import io
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A cell value a spreadsheet shows as text: text starting with = + - @ tab or CR gets a leading quote.

    Decided by type, not by look: the audit's text columns (actor, target, details...) hold what people typed
    (a login attempt's user name is its target), so "-5" there is text and is quoted; a real number (the id) is
    written as it is, so a negative number stays a number."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _is_number(cell: str) -> bool:
    try:
        float(cell)  # -1.5, 1e-3, inf: a number, never a formula
        return True
    except ValueError:
        return False


def spreadsheet_safe_csv(text: str) -> str:
    """CSV `text` (as pandas or the backtest wrote it) with every formula-like cell quoted, except cells that are
    plain numbers (-1.5 stays a number): the types are gone in CSV text, so the look decides here."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in csv.reader(io.StringIO(text, newline="")):
        writer.writerow([cell if _is_number(cell) else spreadsheet_safe(cell) for cell in row])
    return out.getvalue()
