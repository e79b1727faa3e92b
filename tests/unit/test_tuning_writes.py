"""Nothing in engine/tuning writes parameter versions except through engine.params.versions'
apply_version / rollback: no ParamVersion row is built, updated or deleted there, and the version
writers it calls are only those two."""
from __future__ import annotations

import ast
from pathlib import Path

TUNING = Path(__file__).resolve().parents[2] / "engine" / "tuning"


def _calls(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            names.add(f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else "")
    return names


def test_no_module_builds_or_updates_parameter_rows() -> None:
    files = sorted(TUNING.glob("*.py"))
    assert len(files) >= 10
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        calls = _calls(tree)
        assert "ParamVersion" not in calls, f"{path.name} builds a ParamVersion row"
        assert not {"_insert_active", "delete"} & calls, path.name
        for node in ast.walk(tree):  # update(ParamVersion) / insert(ParamVersion)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("update", "insert"):
                assert not any(isinstance(a, ast.Name) and a.id == "ParamVersion" for a in node.args), path.name
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "engine.params.versions"
                    for a in n.names}
        assert imported <= {"apply_version", "rollback", "active_params", "get_version", "list_versions", "_tx"}, \
            f"{path.name} imports {imported}"
