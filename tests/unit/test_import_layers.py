"""Dependencies point one way: pages -> webapp -> engine domains -> store -> settings/clock.

Read from the source with ast (no imports executed): every `import` of a project module at run time,
function-local ones included; imports under `if TYPE_CHECKING:` are type-only and do not count.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("engine", "webapp", "pages", "components")
PROJECT = (*PACKAGES, "app")

# Lower layers may not import these (prefix match on module names).
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "engine": ("webapp", "pages", "components", "app", "dash", "flask"),
    "webapp": ("pages",),
    "components": ("engine.store", "webapp", "pages", "app"),  # UI factories: types from engine, no data access
    "engine.store": ("engine.trading", "engine.planner", "engine.regime", "engine.backtest", "engine.execution",
                     "engine.portfolio_risk", "engine.health", "engine.cycle", "engine.jobs", "engine.scheduler"),
    "engine.settings": ("engine.store", "engine.trading", "engine.planner", "engine.regime", "engine.params"),
    "engine.clock": ("engine.store", "engine.trading", "engine.planner", "engine.regime", "engine.params"),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_imports(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    """Project module -> project modules it imports at run time (resolved to existing modules)."""
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")] + [ROOT / "app.py"]
    modules = {_module_name(p): p for p in files}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        raw = _runtime_imports(ast.parse(path.read_text(encoding="utf-8")), name, path.name == "__init__.py")
        targets = set()
        for target in raw:
            if target.split(".")[0] not in PROJECT and target.split(".")[0] not in ("dash", "flask"):
                continue
            while target and target not in modules and "." in target and target.split(".")[0] in PROJECT:
                target = target.rsplit(".", 1)[0]
            if target != name:
                targets.add(target)
        graph[name] = targets
    return graph


def test_lower_layers_never_import_upper_ones() -> None:
    graph = import_graph()
    violations = []
    for module, targets in graph.items():
        for layer, forbidden in FORBIDDEN.items():
            if module == layer or module.startswith(layer + "."):
                violations += [f"{module} -> {t}" for t in targets
                               if any(t == f or t.startswith(f + ".") for f in forbidden)]
    assert not violations, "imports against the layering:\n" + "\n".join(sorted(violations))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), ignoring package __init__ re-exports."""
    packages = {m for m in graph if (ROOT / m.replace(".", "/") / "__init__.py").exists()}
    edges = {m: {t for t in ts if t in graph and t not in packages} for m, ts in graph.items() if m not in packages}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0

    def strongconnect(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for vertex in sorted(edges):
        if vertex not in index:
            strongconnect(vertex)
    return out


def test_no_import_cycles() -> None:
    cycles = _cycles(import_graph())
    assert not cycles, "modules that import each other (directly or through others):\n" + "\n".join(
        " <-> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
