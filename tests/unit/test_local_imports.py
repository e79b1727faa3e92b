"""Function-local imports of project modules only where they are needed, and each one says why (issue 10).

Read from the source with ast (nothing imported): every `import`/`from ... import` of a project module
inside a function must carry a `# local import: <reason>` comment, on its line or on the line above.
The reasons in use: a deliberately lazy heavy import (sklearn, optuna, alpaca-py, ...), a subcommand
that loads only its own modules, or a documented cycle. Everything else belongs at the module top
(tests/unit/test_import_layers.py already proves that moving it creates no cycle).

NOT_CONVERTED lists modules owned by other engineers whose local imports are not converted yet (their
owners convert them and take them off the list); a module not listed is checked.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("engine", "webapp", "pages", "components")
PROJECT = (*PACKAGES, "app")
MARKER = "# local import:"

# Other engineers' modules, to be converted by their owners (issue 10 point 4): path -> owner area.
NOT_CONVERTED: dict[str, str] = {
}


def _is_project(node: ast.Import | ast.ImportFrom) -> bool:
    if isinstance(node, ast.ImportFrom):
        return bool(node.level) or (node.module or "").split(".")[0] in PROJECT
    return any(alias.name.split(".")[0] in PROJECT for alias in node.names)


def local_imports(source: str) -> list[tuple[int, bool]]:
    """(line, has the comment) for every function-local import of a project module in `source`."""
    lines = source.splitlines()
    found: list[tuple[int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if in_function and isinstance(child, (ast.Import, ast.ImportFrom)) and _is_project(child):
                here = lines[child.lineno - 1]
                above = lines[child.lineno - 2].strip() if child.lineno > 1 else ""
                found.append((child.lineno, MARKER in here or (above.startswith("#") and MARKER in above)))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(ast.parse(source), False)
    return found


def _files() -> list[Path]:
    return sorted([p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")] + [ROOT / "app.py"])


def _uncommented() -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for path in _files():
        bad = [line for line, ok in local_imports(path.read_text(encoding="utf-8")) if not ok]
        if bad:
            out[path.relative_to(ROOT).as_posix()] = bad
    return out


def test_every_function_local_project_import_says_why() -> None:
    missing = {f: lines for f, lines in _uncommented().items() if f not in NOT_CONVERTED}
    assert not missing, (
        "function-local imports of project modules without a `# local import: <reason>` comment; move them to "
        "the module top, or say why they must stay:\n"
        + "\n".join(f"{f}:{line}" for f, lines in sorted(missing.items()) for line in lines))


def test_the_scan_finds_local_imports_and_their_comments() -> None:
    source = (
        "from engine import clock\n"
        "def f():\n"
        "    from engine.store import db\n"
        "    import json\n"
        "    from engine import notify  # local import: reason\n"
        "    # local import: a heavy one\n"
        "    from engine.tuning import job\n"
        "    if True:\n"
        "        from . import sibling\n"
    )
    assert local_imports(source) == [(3, False), (5, True), (7, True), (9, False)]
