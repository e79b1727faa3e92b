"""Parameters page factories: number cells are text boxes (so the validator sees what was typed, not the empty
value a browser's type=number input sends for "abc"), the slider follows only finite numbers, and the versions
panel's grid headers and picker labels fit."""
from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from components import param_editor as ui
from components.ids import parameters as ids
from engine.params import load_schema
from webapp import param_version_callbacks as pvc
from webapp import param_views as pv


def _field(key: str) -> Any:
    return pv.field_spec(load_schema(), pv.Key.parse(key))


def _find(node: Any, ident: Any) -> Any:
    if getattr(node, "id", None) == ident:
        return node
    children = getattr(node, "children", None)
    for child in children if isinstance(children, list | tuple) else [children]:
        if child is not None and not isinstance(child, str | int | float):
            hit = _find(child, ident)
            if hit is not None:
                return hit
    return None


def _a_field(kind: str, slider: bool) -> tuple[str, Any]:
    """A key/value field of `kind` with both bounds (a slider), or the same field without its upper bound."""
    schema = load_schema()
    for sh, sec, f in schema.iter_fields():
        if sec.kind == "kv" and f.type == kind and ui.is_slider(f):
            g = f if slider else dataclasses.replace(f, max=None)
            assert ui.is_slider(g) == slider
            return ui.kv_key(sh.name, sec.key, f.name), g
    raise AssertionError(f"no {kind} field with a slider in the schema")


@pytest.mark.parametrize(("kind", "slider", "mode"), [("integer", True, "numeric"), ("integer", False, "numeric"),
                                                     ("number", True, "decimal"), ("number", False, "decimal")])
def test_number_editors_are_text_boxes_that_keep_what_was_typed(kind: str, slider: bool, mode: str) -> None:
    key, f = _a_field(kind, slider)
    vid = {"type": ids.VALUE, "name": key}
    for value, shown in ((3.0, 3), (0.25, 0.25), ("abc", "abc"), ("1e999", "1e999"), (None, "")):
        box = _find(ui.value_control(key, f, value), vid)
        assert box is not None
        assert (box.type, box.inputMode, box.value) == ("text", mode, shown)


def test_the_slider_follows_a_typed_number_and_stays_in_range_otherwise() -> None:
    key, f = _a_field("number", True)
    lo, hi = float(f.min), float(f.max)
    mid = (lo + hi) / 2
    for typed, expected in ((str(mid), mid), (mid, mid), ("abc", lo), ("NaN", lo), (str(hi * 10 + 1), hi)):
        slider = _find(ui.value_control(key, f, typed), {"type": ids.SLIDER, "name": key})
        assert slider.value == pytest.approx(expected), typed


@pytest.mark.parametrize(("raw", "number"), [
    ("2.5", 2.5), (" 7 ", 7.0), ("\u22123", -3.0), (4, 4.0), (0.5, 0.5), ("-0", 0.0),
    ("abc", None), ("", None), (None, None), ("NaN", None), ("nan", None), ("1e999", None), ("-inf", None),
    (True, None), (float("nan"), None), (float("inf"), None)])
def test_typed_number(raw: Any, number: float | None) -> None:
    assert ui.typed_number(raw) == number


def test_version_grid_headers_have_room_for_their_words() -> None:
    # about 8 px a character at the grid's header font, plus ~48 px for padding, the sort and the menu icons
    for col in pvc.VERSION_COLUMNS:
        need = 8 * len(col["headerName"]) + 48
        assert col["minWidth"] >= need, col
        assert col.get("maxWidth", float("inf")) >= col["minWidth"]
        assert col["wrapHeaderText"] and col["autoHeaderHeight"]
    assert [c["headerName"] for c in pvc.VERSION_COLUMNS] == ["Version", "Active", "Time (UTC)", "Author", "Source",
                                                              "Changes", "Note"]


def test_version_option_is_short_and_carries_the_note_as_tooltip() -> None:
    note = "tightened the stops after the 2026-11 drawdown review; see ticket 42 " * 3
    row = {"id": 3, "created_at": "2026-12-05 22:52:59", "source": "ui", "author": "web:admin", "note": note,
           "active": "active"}
    opt = pvc.version_option(row)
    assert opt == {"label": "v3 (active) · 2026-12-05 22:52 UTC · ui · web:admin", "value": "3", "title": note}
    opt = pvc.version_option({**row, "id": 12, "active": "", "note": ""})
    assert opt == {"label": "v12 · 2026-12-05 22:52 UTC · ui · web:admin", "value": "12", "title": ""}
