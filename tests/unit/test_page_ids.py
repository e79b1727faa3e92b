"""One way to name a component id (issue 10, point 3): constants of components/ids/<page>.py, used by the layout
and by the callbacks alike, never a string literal.

Read from the source with ast: in pages/, webapp/ and components/, the first argument of every Input, Output and
State, every `id=` keyword, and the "type" of every pattern-matching id must not be a string literal (f-strings
included in Input/Output/State; an `id=f"{prefix}-modal"` of a component built from its caller's prefix is fine).
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPENDENCIES = {"Input", "Output", "State"}

# Modules still naming ids by literal, with why. Shrink it; never grow it.
ALLOWED: dict[str, str] = {}


def _is_literal(node: ast.AST, f_strings: bool) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return True
    return f_strings and isinstance(node, ast.JoinedStr)


def _literal_type(node: ast.AST) -> bool:
    """A pattern-matching id {"type": "x", ...} whose type is a literal."""
    return isinstance(node, ast.Dict) and any(isinstance(k, ast.Constant) and k.value == "type" and _is_literal(v, True)
                                              for k, v in zip(node.keys, node.values, strict=True))


def literal_ids(source: str) -> list[str]:
    """'line: text' of every id in `source` that is a string literal."""
    found: list[tuple[int, int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        candidates = []
        if name in DEPENDENCIES and node.args:
            candidates.append((node.args[0], True))
        candidates += [(k.value, False) for k in node.keywords if k.arg == "id"]
        for arg, f_strings in candidates:
            if _is_literal(arg, f_strings) or _literal_type(arg):
                found.append((arg.lineno, arg.col_offset, f"{arg.lineno}: {ast.unparse(arg)}"))
    return [text for _line, _col, text in sorted(found)]


def _modules() -> list[Path]:
    return sorted(p for pkg in ("pages", "webapp", "components") for p in (ROOT / pkg).rglob("*.py"))


def test_no_module_names_an_id_by_string_literal() -> None:
    found = []
    for path in _modules():
        rel = path.relative_to(ROOT).as_posix()
        if rel not in ALLOWED:
            found += [f"{rel}:{hit}" for hit in literal_ids(path.read_text(encoding="utf-8"))]
    assert found == [], "use a constant of components/ids/<page>.py:\n" + "\n".join(found)


def test_the_allow_list_names_real_modules() -> None:
    assert all((ROOT / rel).exists() for rel in ALLOWED), [rel for rel in ALLOWED if not (ROOT / rel).exists()]


def test_the_scan_finds_literals_and_passes_constants() -> None:
    source = '''
from dash import Input, Output, State, dcc, html
import dash
html.Div(id="a-b")
html.Div(id=ids.A_B)
html.Div(id=f"{prefix}-modal")
dash.callback(Output("x-y", "children"), Input(ids.X, "n"), State(f"x-{k}", "value"))
Input({"type": "row-button", "index": ALL}, "n_clicks")
Input({"type": ids.ROW_BUTTON, "index": ALL}, "n_clicks")
dcc.Store(id={"type": "row", "index": 1})
'''
    assert literal_ids(source) == ["4: 'a-b'", "7: 'x-y'", "7: f'x-{k}'", "8: {'type': 'row-button', 'index': ALL}",
                                   "10: {'type': 'row', 'index': 1}"]


def test_callbacks_declared_at_module_level_register_once_per_app() -> None:
    """webapp/wiring.Callbacks: the functions stay plain; each app gets each callback once."""
    from dash import Dash, Input, Output, html

    from webapp.wiring import Callbacks

    declared = Callbacks()

    @declared(Output("wiring-out", "children"), Input("wiring-in", "n_clicks"))
    def echo(n: int | None) -> int | None:
        return n

    assert echo(3) == 3 and len(declared) == 1
    for _ in range(2):
        app = Dash(__name__)
        app.layout = html.Div()
        declared.register(app)
        assert list(app.callback_map) == ["wiring-out.children"]
