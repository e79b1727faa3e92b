"""Differences between two ParamSets, cell-addressed, for version history, the UI's pending edits and the CLI.

Table rows are matched by the section's key column (e.g. RegimeName), so an inserted row does not
make every later row look different; a pure reordering is reported once as "(row order)".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .coerce import to_json_value
from .layout import field_cell, sheet_layout
from .paramset import ParamSet


@dataclass(frozen=True)
class Change:
    sheet: str
    cell: str  # where the value sits in the exported workbook of the newer set
    field: str  # "section.name" or "section[key].name" or "section[key]" for a whole row
    old: Any
    new: Any

    def to_dict(self) -> dict[str, Any]:
        return {"sheet": self.sheet, "cell": self.cell, "field": self.field,
                "old": to_json_value(self.old), "new": to_json_value(self.new)}

    def __str__(self) -> str:
        return f"{self.sheet}!{self.cell} {self.field}: {_show(self.old)} -> {_show(self.new)}"


def _show(v: Any) -> str:
    if v is None:
        return "(none)"
    v = to_json_value(v)
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    return str(v)


def diff_params(a: ParamSet, b: ParamSet) -> list[Change]:
    """Every value that differs from `a` to `b`, in schema order."""
    out: list[Change] = []
    schema = b.schema
    for sh in schema.sheets:
        av, bv = a._values.get(sh.name, {}), b._values.get(sh.name, {})
        lay_b = sheet_layout(sh, {k: len(v) for k, v in bv.items() if isinstance(v, tuple)})
        lay_a = sheet_layout(sh, {k: len(v) for k, v in av.items() if isinstance(v, tuple)})
        for sec in sh.data_sections:
            sa, sb = av.get(sec.key), bv.get(sec.key)
            if sa is None or sb is None:
                continue
            if sec.kind == "kv":
                for f in sec.fields:
                    if sa.get(f.name) != sb.get(f.name):
                        out.append(Change(sh.name, field_cell(lay_b[sec.key], f.name, None),
                                          f"{sec.key}.{f.name}", sa.get(f.name), sb.get(f.name)))
                continue
            key = sec.key_field or sec.fields[0].name
            ka = [r.get(key) for r in sa]
            kb = [r.get(key) for r in sb]
            by_key = len(set(ka)) == len(ka) and len(set(kb)) == len(kb)
            if by_key:
                pairs = [(ka.index(k) if k in ka else None, j) for j, k in enumerate(kb)]
                removed = [i for i, k in enumerate(ka) if k not in kb]
            else:
                pairs = [(j if j < len(sa) else None, j) for j in range(len(sb))]
                removed = list(range(len(sb), len(sa)))
            for i, j in pairs:
                label = kb[j] if by_key else j
                if i is None:
                    out.append(Change(sh.name, field_cell(lay_b[sec.key], sec.fields[0].name, j),
                                      f"{sec.key}[{label}]", None, dict(sb[j])))
                    continue
                for f in sec.fields:
                    if sa[i].get(f.name) != sb[j].get(f.name):
                        out.append(Change(sh.name, field_cell(lay_b[sec.key], f.name, j),
                                          f"{sec.key}[{label}].{f.name}", sa[i].get(f.name), sb[j].get(f.name)))
            common_a = [k for k in ka if k in kb]
            common_b = [k for k in kb if k in ka]
            if by_key and common_a != common_b:
                out.append(Change(sh.name, field_cell(lay_b[sec.key], key, 0), f"{sec.key} (row order)",
                                  tuple(common_a), tuple(common_b)))
            for i in removed:
                label = ka[i] if by_key else i
                out.append(Change(sh.name, field_cell(lay_a[sec.key], sec.fields[0].name, i),
                                  f"{sec.key}[{label}]", dict(sa[i]), None))
    return out
