"""The Parameters page's schema browsing: search by words, how many fields the engine uses, the sheet count line.

Read-only views of the parameter schema, apart from the edit and version logic in param_views.py.
"""
from __future__ import annotations

from engine.params.schema import Schema


def search(schema: Schema, text: str, limit: int = 40) -> tuple[list[tuple[str, str, str, str]], int]:
    """Parameters and table columns whose name, label, description or unit contain every word."""
    words = [w.lower() for w in (text or "").split() if w.strip()]
    if not words:
        return [], 0
    hits = []
    for sh, sec, f in schema.iter_fields():
        hay = f"{sh.name} {sec.title or ''} {f.name} {f.header} {f.description} {f.unit}".lower()
        if all(w in hay for w in words):
            hits.append((sh.name, sec.title or sec.key, f.header, f.description))
    return hits[:limit], len(hits)


def usage_counts(schema: Schema) -> dict[str, tuple[int, int]]:
    """Sheet -> (fields used by the engine, all fields), plus "*" for the whole schema."""
    out: dict[str, tuple[int, int]] = {}
    for sh, _sec, f in schema.iter_fields():
        used, total = out.get(sh.name, (0, 0))
        out[sh.name] = (used + f.used, total + 1)
    out["*"] = (sum(u for u, _ in out.values()), sum(t for _, t in out.values()))
    return out


def sheet_count_text(schema: Schema) -> str:
    """'31 workbook sheets plus the TradingRisk sheet that RegimeDesk adds': the schema's optional sheets are ours."""
    added = [sh.name for sh in schema.sheets if sh.optional]
    workbook = len(schema.sheets) - len(added)
    if not added:
        return f"{workbook} workbook sheets"
    names = " and ".join(added)
    return f"{workbook} workbook sheets plus the {names} sheet{'s' if len(added) > 1 else ''} that RegimeDesk adds"
