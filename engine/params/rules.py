"""Cross-field rules, declared as data in schema.json ("rules") and checked here.

Why data: the UI lists the rules next to the parameters they bind, and a new template version
adds rules without code. Each rule kind is one small function returning ParamIssues.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .coerce import fmt_value
from .errors import ParamIssue
from .grammar import name_matches, restriction_matches
from .rules_text import action_condition, weight_adjustment
from .schema import Schema
from .values import Locator, Values

TOL = 1e-6
Check = Callable[[Schema, Values, Locator, dict[str, Any]], list[ParamIssue]]


def _rows(values: Values, sheet: str, section: str) -> tuple[dict[str, Any], ...]:
    return values.get(sheet, {}).get(section, ())


def _where(row: dict[str, Any], where: dict[str, Any] | None) -> bool:
    return all(row.get(k) == v for k, v in (where or {}).items())


def _range(locate: Locator, sheet: str, section: str, rows: list[int], field: str) -> str:
    if not rows:
        return ""
    a, b = locate(sheet, section, rows[0], field), locate(sheet, section, rows[-1], field)
    return a if a == b else f"{a}:{b}"


def sum_equals(schema: Schema, values: Values, locate: Locator, r: dict[str, Any]) -> list[ParamIssue]:
    """Weights that must add up to a target (table column, optionally filtered; or kv params)."""
    sheet, section, target = r["sheet"], r.get("section", "main"), float(r.get("target", 1.0))
    tol = float(r.get("tolerance", 0.001))
    if "fields" in r:  # key/value params of one section
        kv = values.get(sheet, {}).get(section, {})
        nums = [kv.get(f) for f in r["fields"]]
        if any(v is None for v in nums):
            return []
        total = sum(nums)
        cells = [locate(sheet, section, None, f) for f in r["fields"]]
        where = f"{cells[0]}:{cells[-1]}" if _contiguous(cells) else ",".join(cells)
        names = ", ".join(r["fields"])
    elif "list_field" in r:  # one list parameter
        v = values.get(sheet, {}).get(section, {}).get(r["list_field"])
        if not v:
            return []
        total, where, names = sum(v), locate(sheet, section, None, r["list_field"]), r["list_field"]
    else:
        rows = _rows(values, sheet, section)
        idx = [i for i, row in enumerate(rows) if _where(row, r.get("where"))]
        nums = [rows[i][r["field"]] for i in idx]
        if any(v is None for v in nums):
            return []
        total = sum(nums)
        where = _range(locate, sheet, section, idx, r["field"])
        names = f"{r['field']} of {'the rows where ' + str(r['where']) if r.get('where') else 'all rows'}"
    if abs(total - target) <= tol:
        return []
    return [ParamIssue(sheet, where, f"{names} add up to {total:.4g}", f"a total of {target:g}",
                       r.get("fix", f"adjust the values so they sum to {target:g}"), round(total, 6), r["id"])]


def _contiguous(cells: list[str]) -> bool:
    cols = {re.sub(r"\d", "", c) for c in cells}
    rows = [int(re.sub(r"\D", "", c) or 0) for c in cells]
    return len(cols) == 1 and rows == list(range(rows[0], rows[0] + len(rows)))


def ordered(schema: Schema, values: Values, locate: Locator, r: dict[str, Any]) -> list[ParamIssue]:
    """a < b (strict) or a <= b for kv params, or for each row of a table."""
    sheet, section, fields = r["sheet"], r.get("section", "main"), r["fields"]
    strict = r.get("strict", True)
    sec = schema.sheet(sheet).section(section)
    targets: list[tuple[int | None, dict[str, Any]]]
    if sec.kind == "kv":
        targets = [(None, values.get(sheet, {}).get(section, {}))]
    else:
        targets = list(enumerate(_rows(values, sheet, section)))
    out = []
    for i, data in targets:
        for a, b in zip(fields, fields[1:], strict=False):
            va, vb = data.get(a), data.get(b)
            if va is None or vb is None:
                continue
            bad = va >= vb if strict else va > vb
            if bad:
                fa = sec.field(a)
                rowtxt = f" (row {i + 1})" if i is not None else ""
                out.append(ParamIssue(
                    sheet, locate(sheet, section, i, b),
                    f"{sec.field(b).header} {fmt_value(fa, vb)} is not {'above' if strict else 'at least'} "
                    f"{fa.header} {fmt_value(fa, va)}{rowtxt}",
                    f"{fa.header} {'<' if strict else '<='} {sec.field(b).header}",
                    r.get("fix", f"raise {sec.field(b).header} or lower {fa.header}"), vb, r["id"]))
    return out


def time_slots(schema: Schema, values: Values, locate: Locator, r: dict[str, Any]) -> list[ParamIssue]:
    """Slots ordered by start time, each ending after it starts and not overlapping the next."""
    sheet, section, s, e = r["sheet"], r.get("section", "main"), r["start"], r["end"]
    rows = _rows(values, sheet, section)
    out = []
    for i, row in enumerate(rows):
        if row.get(s) and row.get(e) and row[s] >= row[e]:
            out.append(ParamIssue(sheet, locate(sheet, section, i, e),
                                  f"slot {row.get(r.get('label', ''), i + 1)!s} ends at {row[e]:%H:%M}, "
                                  f"not after its start {row[s]:%H:%M}", "end time later than start time",
                                  "fix the start or end time", f"{row[e]:%H:%M}", r["id"]))
    for i in range(1, len(rows)):
        prev, cur = rows[i - 1], rows[i]
        if prev.get(e) and cur.get(s) and cur[s] < prev[e]:
            out.append(ParamIssue(sheet, locate(sheet, section, i, s),
                                  f"slot {cur.get(r.get('label', ''), i + 1)!s} starts at {cur[s]:%H:%M}, before the "
                                  f"previous slot ends ({prev[e]:%H:%M})",
                                  "slots in time order without overlap",
                                  "start this slot at or after the previous slot's end, or reorder the rows",
                                  f"{cur[s]:%H:%M}", r["id"]))
    return out


def contiguous(schema: Schema, values: Values, locate: Locator, r: dict[str, Any]) -> list[ParamIssue]:
    """Threshold bands: each band's min equals the previous band's max (in the listed order)."""
    sheet, section, lo, hi = r["sheet"], r.get("section", "main"), r["min"], r["max"]
    key = r["key"]
    rows = _rows(values, sheet, section)
    chain = r.get("chain")
    idx = [i for i, row in enumerate(rows) if chain is None or row.get(key) in chain]
    if chain:
        idx.sort(key=lambda i: chain.index(rows[i][key]))
    out = []
    for a, b in zip(idx, idx[1:], strict=False):
        pa, pb = _bounds_of(rows[a], lo, hi), _bounds_of(rows[b], lo, hi)
        if pa is None or pb is None:
            continue
        if abs(pa[1] - pb[0]) > TOL:
            out.append(ParamIssue(
                sheet, locate(sheet, section, b, lo if not r.get("range_field") else r["range_field"]),
                f"{rows[b][key]} starts at {pb[0]:g} but {rows[a][key]} ends at {pa[1]:g}",
                f"bands that touch: {rows[b][key]} should start at {pa[1]:g}",
                "make each band start where the previous one ends (no gap, no overlap)", pb[0], r["id"]))
    return out


def _bounds_of(row: dict[str, Any], lo: str, hi: str) -> tuple[float, float] | None:
    if lo == hi:  # a range expression "30-70" in one field
        m = re.fullmatch(r"\s*(-?[\d.]+)\s*-\s*(-?[\d.]+)\s*", str(row.get(lo) or ""))
        return (float(m.group(1)), float(m.group(2))) if m else None
    if row.get(lo) is None or row.get(hi) is None:
        return None
    return float(row[lo]), float(row[hi])


def regime_ref(schema: Schema, values: Values, locate: Locator, r: dict[str, Any]) -> list[ParamIssue]:
    """Regime names / patterns / restrictions used elsewhere must match regimes that exist, matched exactly as the
    engine matches them (grammar.name_matches, restriction_matches: case-sensitive), so none silently does nothing."""
    src = r.get("regimes", {"sheet": "RegimeClassification", "section": "main", "field": "regime_name"})
    regimes = [(str(row[src["field"]]), str(row.get("trend_class") or ""))
               for row in _rows(values, src["sheet"], src["section"]) if row.get(src["field"])]
    names = [n for n, _ in regimes]
    keywords = {k.lower() for k in r.get("keywords", ())}
    sheet, section, field, mode = r["sheet"], r.get("section", "main"), r["field"], r.get("mode", "pattern")
    out = []
    known: dict[str, bool] = {}  # each distinct pattern is matched against the regimes once
    for i, row in enumerate(_rows(values, sheet, section)):
        v = row.get(field)
        for item in (v if isinstance(v, tuple) else (v,)) if v is not None else ():
            s = str(item)
            if s not in known:
                known[s] = _regime_matched(s, mode, regimes, keywords)
            if known[s]:
                continue
            stem = s.strip("*_").lower()
            close = sorted((n for n in names if stem and stem in n.lower()), key=lambda n: not n.lower().startswith(stem))[:3]
            lowered = [(n.lower(), tc.lower()) for n, tc in regimes]
            hint = "matching is case-sensitive: " if _regime_matched(s.lower(), mode, lowered, keywords) else ""
            out.append(ParamIssue(
                sheet, locate(sheet, section, i, field),
                f"{item!r} does not {'name' if mode == 'exact' else 'match'} any regime in RegimeClassification",
                "an existing regime name" + ("" if mode == "exact" else " or a pattern such as Bullish_* (as spelt)")
                + ("" if not keywords else ", or " + ", ".join(sorted(r.get("keywords", ())))),
                (hint + "did you mean " + ", ".join(close) + "?") if close else
                hint + "use a name from RegimeClassification or add that regime there", item, r["id"]))
    return out


def _regime_matched(s: str, mode: str, regimes: list[tuple[str, str]], keywords: set[str]) -> bool:
    if s.lower() in keywords:
        return True
    if mode == "exact":
        return any(s == n for n, _ in regimes)
    if mode == "restriction":
        return any(restriction_matches(s, tc, n, False) for n, tc in regimes)
    return any(name_matches(s, n) for n, _ in regimes)


def foreign_key(schema: Schema, values: Values, locate: Locator, r: dict[str, Any]) -> list[ParamIssue]:
    """Values of one column must exist in another table's column (e.g. VolatilityClass in the thresholds), spelt
    exactly: the engine looks them up case-sensitively."""
    ref = r["ref"]
    spelt = {str(row.get(ref["field"])) for row in _rows(values, ref["sheet"], ref.get("section", "main"))}
    keywords = {k.lower() for k in r.get("keywords", ())}
    sheet, section, field = r["sheet"], r.get("section", "main"), r["field"]
    out = []
    for i, row in enumerate(_rows(values, sheet, section)):
        v = row.get(field)
        for item in (v if isinstance(v, tuple) else (v,)) if v is not None else ():
            if str(item) in spelt or str(item).lower() in keywords:
                continue
            same = [x for x in spelt if x.lower() == str(item).lower()]
            out.append(ParamIssue(sheet, locate(sheet, section, i, field),
                                  f"{item!r} is not defined in {ref['sheet']} ({ref.get('label', ref['field'])})",
                                  "one of " + ", ".join(sorted(spelt)) if spelt else "a value defined there first",
                                  f"spell it exactly {same[0]!r} (case matters)" if same else
                                  r.get("fix", "use an existing value or add it there first"), item, r["id"]))
    return out


def same_id(schema: Schema, values: Values, locate: Locator, r: dict[str, Any]) -> list[ParamIssue]:
    """A row that names a regime must carry that regime's id (RegimeParameters vs RegimeClassification)."""
    ref = r["ref"]
    ids = {row[ref["name_field"]]: row[ref["id_field"]]
           for row in _rows(values, ref["sheet"], ref.get("section", "main"))}
    sheet, section, nf, idf = r["sheet"], r.get("section", "main"), r["name_field"], r["id_field"]
    out = []
    for i, row in enumerate(_rows(values, sheet, section)):
        name, rid = row.get(nf), row.get(idf)
        if name in ids and rid is not None and ids[name] != rid:
            out.append(ParamIssue(sheet, locate(sheet, section, i, idf),
                                  f"{name} has id {rid} here but {ids[name]} in {ref['sheet']}",
                                  f"id {ids[name]}", f"set it to {ids[name]}", rid, r["id"]))
    return out


def list_length(schema: Schema, values: Values, locate: Locator, r: dict[str, Any]) -> list[ParamIssue]:
    """len(list A) == len(list B) + offset (e.g. one weight per timeframe, primary included)."""
    sheet, section = r["sheet"], r.get("section", "main")
    kv = values.get(sheet, {}).get(section, {})
    a, b = kv.get(r["field"]), kv.get(r["other"])
    if a is None or b is None:
        return []
    want = len(b) + int(r.get("offset", 0))
    if len(a) == want:
        return []
    return [ParamIssue(sheet, locate(sheet, section, None, r["field"]), f"{r['field']} has {len(a)} items",
                       f"{want} items ({r.get('explain', 'one per ' + r['other'] + ' item')})",
                       r.get("fix", "add or remove items"), ",".join(map(str, a)), r["id"])]


CHECKS: dict[str, Check] = {"sum_equals": sum_equals, "ordered": ordered, "time_slots": time_slots,
                            "contiguous": contiguous, "regime_ref": regime_ref, "foreign_key": foreign_key,
                            "same_id": same_id, "list_length": list_length, "action_condition": action_condition,
                            "weight_adjustment": weight_adjustment}


def check_rules(schema: Schema, values: Values, locate: Locator) -> list[ParamIssue]:
    out: list[ParamIssue] = []
    for r in schema.rules:
        out.extend(CHECKS[r["rule"]](schema, values, locate, r))
    return out
