"""Cross-field rules over the workbook's small languages, checked with the engine's own parsers (grammar.py).

Why: a ValidationRules condition or a weight adjustment the engine cannot read used to validate and then be
silently ignored (a data check switched off, a percentage given to the wrong component).
"""
from __future__ import annotations

from typing import Any

from .coerce import fmt_value
from .errors import ParamIssue
from .grammar import (
    ACTION_CONDITIONS,
    COMPONENT_ALIASES,
    OPTIONAL_NUMBER_CONDITIONS,
    WEIGHT_CONDITION_FORMS,
    action_condition_problem,
    adjustment_problem,
    weight_condition_problem,
)
from .schema import Schema
from .values import Locator, Values


def _rows(values: Values, sheet: str, section: str) -> tuple[dict[str, Any], ...]:
    return values.get(sheet, {}).get(section, ())


def action_condition(schema: Schema, values: Values, locate: Locator, r: dict[str, Any]) -> list[ParamIssue]:
    """A ValidationRules row whose action the engine reads a number from (a gap or age in minutes, a z-score)
    needs a condition that parser reads: 'data_gaps>5' (no min) would switch the data check off. Actions whose
    number is optional (an IV z-score, a memory or latency limit) take a bare check or 'name>threshold' (the
    workbook's or the documented value), or a number with a unit the engine reads: 'memory>1500' (MB? GB?) is
    refused rather than guessed."""
    sheet, section, field, action_field = r["sheet"], r.get("section", "main"), r["field"], r["action_field"]
    out = []
    for i, row in enumerate(_rows(values, sheet, section)):
        action, text = row.get(action_field), row.get(field)
        if action not in ACTION_CONDITIONS and (action not in OPTIONAL_NUMBER_CONDITIONS or text is None):
            continue  # an optional number's blank (or already refused) cell: the workbook's or default value
        found = action_condition_problem(str(action), "" if text is None else str(text))
        if found is None:
            continue
        why, example = found
        out.append(ParamIssue(sheet, locate(sheet, section, i, field),
                              f"{fmt_value(None, text)!r} {why}",
                              example, "write the limit after > with its unit, as in the example", text, r["id"]))
    return out


def weight_adjustment(schema: Schema, values: Values, locate: Locator, r: dict[str, Any]) -> list[ParamIssue]:
    """Each adjustment percentage names one component of the row's Components (paired by name, never by
    position), every listed component gets one, and the condition maps to a state the engine measures."""
    sheet, section = r["sheet"], r.get("section", "main")
    kn = r["known"]
    known = schema.sheet(kn["sheet"]).section(kn.get("section", "main")).field(kn["field"]).options
    names = ", ".join(sorted({*known, *(k.upper() if len(k) <= 4 else k.title() for k in COMPONENT_ALIASES)}))
    out = []
    for i, row in enumerate(_rows(values, sheet, section)):
        cond = row.get(r["condition"])
        if cond is not None and (why := weight_condition_problem(str(cond))) is not None:
            out.append(ParamIssue(sheet, locate(sheet, section, i, r["condition"]), f"{cond!r}: {why}",
                                  WEIGHT_CONDITION_FORMS, "rewrite the condition in one of those forms", cond,
                                  r["id"]))
        adj, comps = row.get(r["adjustment"]), row.get(r["components"])
        if adj is None or comps is None:
            continue
        comp_list = [str(c) for c in (comps if isinstance(comps, tuple | list) else str(comps).split(","))]
        if (why := adjustment_problem(str(adj), comp_list, known)) is not None:
            out.append(ParamIssue(sheet, locate(sheet, section, i, r["adjustment"]),
                                  f"{adj!r} with Components {','.join(comp_list)}: {why}",
                                  "one '+N% Name' per listed component, Name one of " + names,
                                  "name each listed component once after its percentage", adj, r["id"]))
    return out
