"""One-off generator: derive a first draft of config/parameters/schema.json from a workbook.

Why: writing ~3,000 cells of schema by hand invites typos; this reads the reference workbook,
infers types/bounds/options generically and writes a draft that is then curated by hand.
The committed schema.json is the source of truth; this script is only re-run for a new
template version (`python -m engine.params.derive_schema REF.xlsx OUT.json`), and its output
must be diffed against the curated file, never copied over it blindly.

The only workbook knowledge here is the *layout* (which rows are titles, headers, sections),
never parameter names.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from python_calamine import CalamineWorkbook

# sheet -> list of (section_key, kind, title_row, header_row, first_row, last_row); rows 1-based.
# header_row None = headerless (labels in column A, value in column B).
LAYOUT: dict[str, dict[str, Any]] = {
    "Summary": {"title_row": 3, "style": "summary", "sections": [("main", "kv", None, None, 4, 7)]},
    "MasterConfiguration": {"title_row": 1, "sections": [
        ("main", "kv", None, 3, 4, 24),
        ("configuration_mode_descriptions", "notes", 25, None, 26, 28)]},
    "TransitionRules": {"sections": [("main", "table", None, 1, 2, 26)]},
    "IndicatorConfiguration": {"title_row": 1, "sections": [("main", "table", None, 3, 4, 13)]},
    "RegimeClassification": {"sections": [
        ("main", "table", None, 1, 2, 19),
        ("volatility_thresholds", "table", 22, 23, 24, 26),
        ("trend_thresholds", "table", 29, 30, 31, 36)]},
    "RegimeFormationConfig": {"title_row": 1, "sections": [("main", "table", None, 3, 4, 13)]},
    "RegimeParameters": {"sections": [("main", "table", None, 1, 2, 19)]},
    "MultiTimeframeConfig": {"sections": [
        ("main", "table", None, 1, 2, 6), ("consensus_configuration", "kv", 9, 10, 11, 15)]},
    "DynamicWeightageConfig": {"sections": [
        ("main", "table", None, 1, 2, 9), ("dynamic_weight_adjustment_rules", "table", 11, 12, 13, 17)]},
    "PerformanceMetrics": {"sections": [
        ("main", "table", None, 1, 2, 13), ("performance_scoring_formula", "notes", 15, None, 16, 16)]},
    "ValidationRules": {"sections": [("main", "table", None, 1, 2, 13)]},
    "IntradaySettings": {"sections": [
        ("main", "table", None, 1, 2, 10), ("special_day_adjustments", "table", 12, 13, 14, 20)]},
    "OutputFormat": {"sections": [("main", "table", None, 1, 2, 31), ("output_options", "kv", 35, 36, 37, 41)]},
    "TemplateMetadata": {"title_row": 1, "sections": [
        ("main", "kv", None, 3, 4, 11), ("configuration_summary", "notes", 14, None, 15, 34)]},
}
KV_DEFAULT: dict[str, Any] = {"sections": [("main", "kv", None, 1, 2, None)]}
PHASE2: dict[str, Any] = {"title_row": 1, "style": "phase2", "sections": [("main", "kv", None, 2, 3, None)]}
ROLE = {"parameter": "key", "property": "key", "option": "key", "value": "value", "options": "options",
        "default": "default", "min": "min", "max": "max", "unit": "unit", "description": "description"}
COUNT_UNITS = {"points", "count", "periods", "bars", "candles", "strikes", "expiries", "days", "samples",
               "parameters", "regimes", "hours"}


def snake(header: str) -> str:
    """RegimeID -> regime_id, ATR_Percentile -> atr_percentile, 'Update Date:' -> update_date."""
    s = re.sub(r"[^0-9A-Za-z]+", "_", header.strip()).strip("_")
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    return re.sub(r"_+", "_", s).lower()


def _num(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    try:
        return float(str(v).strip())
    except ValueError:
        return None


def _clean(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def infer_kv(row: dict[str, Any]) -> dict[str, Any]:
    """Infer one key/value parameter's type and bounds from its Value/Options/Min/Max cells."""
    value, unit = row.get("value"), str(row.get("unit", "") or "")
    p: dict[str, Any] = {"type": "text"}
    opts = str(row.get("options", "") or "")
    sval = str(value).strip()
    if sval.upper() in ("TRUE", "FALSE") or unit == "boolean" or opts == "TRUE,FALSE":
        p["type"] = "boolean"
        value = sval.upper() == "TRUE"
    elif re.fullmatch(r"\d{1,2}:\d{2}", sval):
        p["type"] = "time"
    elif _num(value) is not None:
        lo, hi = _num(row.get("min")), _num(row.get("max"))
        m = re.fullmatch(r"(-?[\d.]+)-(-?[\d.]+)", opts)
        if m:
            lo, hi = float(m.group(1)), float(m.group(2))
        whole = all(x is None or float(x).is_integer() for x in (_num(value), lo, hi))
        p["type"] = "integer" if whole and (unit in COUNT_UNITS or "." not in str(value)) else "number"
        number = _num(value)
        value = int(number) if p["type"] == "integer" and number is not None else number
        if lo is not None:
            p["min"] = _clean(lo)
        if hi is not None:
            p["max"] = _clean(hi)
    elif "," in opts and opts not in ("HH:MM",):
        p["type"] = "enum"
        p["options"] = [o.strip() for o in opts.split(",")]
    elif unit in ("type", "method", "target"):
        p["type"] = "enum"
        p["options"] = list(dict.fromkeys([str(row["min"]), sval, str(row["max"])]))
    elif re.fullmatch(r"[A-Z][A-Z0-9_]+", sval):
        p["type"] = "enum"
        p["options"] = [sval]
    p["default"] = _clean(value)
    if unit and unit not in ("boolean", "type", "method", "target"):
        p["unit"] = unit
    p["description"] = str(row.get("description", "") or "")
    return p


def derive(path: Path) -> dict[str, Any]:
    wb = CalamineWorkbook.from_path(str(path))
    sheets = []
    for name in wb.sheet_names:
        rows = [[c.strip() if isinstance(c, str) else c for c in r]
                for r in wb.get_sheet_by_name(name).to_python(skip_empty_area=False)]
        spec = LAYOUT.get(name) or (PHASE2 if rows and rows[0][0] and rows[1][0] == "Parameter" else KV_DEFAULT)
        sheet: dict[str, Any] = {"name": name, "group": "Advanced", "description": "",
                                 "style": spec.get("style", "classic"), "sections": []}
        if spec.get("title_row"):
            sheet["title"] = {"row": spec["title_row"], "text": rows[spec["title_row"] - 1][0]}
        prev_end = spec.get("title_row") or 0
        for key, kind, trow, hrow, first, last in spec["sections"]:
            last = last or len(rows)
            start = trow or hrow or first
            sec: dict[str, Any] = {"key": key, "kind": kind, "gap_before": start - prev_end - 1}
            prev_end = last
            if trow:
                sec["title"] = rows[trow - 1][0]
            data = [rows[i - 1] for i in range(first, last + 1)]
            if kind == "notes":
                sec["lines"] = [[c for c in r if c != ""] for r in data]
                sheet["sections"].append(sec)
                continue
            headers = [h for h in rows[hrow - 1] if h != ""] if hrow else ["Label", "Value"]
            sec["header"] = hrow is not None
            if kind == "kv":
                roles = [ROLE.get(h.lower(), snake(h)) for h in headers]
                sec["columns"] = [{"header": h, "role": r} for h, r in zip(headers, roles, strict=True)]
                params = []
                for r in data:
                    cells = dict(zip(roles, r, strict=False))
                    label = str(r[0])
                    p = {"name": snake(label) if hrow is None or not re.fullmatch(r"[a-z0-9_]+", label) else label}
                    if p["name"] != label:
                        p["label"] = label
                    p.update(infer_kv(cells))
                    params.append(p)
                sec["params"] = params
            else:
                cols = []
                for j, h in enumerate(headers):
                    vals = [r[j] for r in data if j < len(r) and r[j] != ""]
                    col: dict[str, Any] = {"header": h, "name": snake(h)}
                    if vals and all(str(v).upper() in ("TRUE", "FALSE") for v in vals):
                        col["type"] = "boolean"
                    elif vals and all(_num(v) is not None for v in vals):
                        col["type"] = "integer" if all(float(str(v)).is_integer() for v in vals) else "number"
                    elif vals and all(re.fullmatch(r"\d{1,2}:\d{2}", str(v)) for v in vals):
                        col["type"] = "time"
                    elif vals and all(re.fullmatch(r"#[0-9A-Fa-f]{6}", str(v)) for v in vals):
                        col["type"] = "colour"
                    else:
                        col["type"] = "text"
                    cols.append(col)
                sec["columns"] = cols
                sec["default_rows"] = [
                    {c["name"]: (_clean(_num(r[j])) if c["type"] in ("integer", "number") else
                                 (str(r[j]).upper() == "TRUE" if c["type"] == "boolean" else r[j]))
                     for j, c in enumerate(cols)} for r in data if any(x != "" for x in r)]
            sheet["sections"].append(sec)
        sheets.append(sheet)
    return {"schema_version": 1, "sheets": sheets}


if __name__ == "__main__":
    out = derive(Path(sys.argv[1]))
    Path(sys.argv[2]).write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
