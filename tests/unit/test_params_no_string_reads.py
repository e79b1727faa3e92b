"""Engine modules read parameters through the typed views (engine/params/typed.py), never by string.

`Parameters(ps).atr_indicators_config.atr_period` is checked by mypy and found by "find uses";
`ps.sheet("ATRIndicatorsConfig").atr_period`, `ps.table("RegimeParameters")` and the old regime
helper `kv(ps, "...")` are neither. Read from the source with ast (nothing imported): any call of
`.sheet(...)`, `.table(...)` or `kv(...)` under engine/ outside engine/params fails this test, except in
the allow-listed files below.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "engine"

# engine/params builds the typed views on top of ParamSet.sheet/.table: the one place string access belongs.
EXEMPT_PACKAGES = ("engine/params/",)

# Not yet converted: files other engineers own that still read parameters by string. Remove a line when
# its file moves to Parameters(ps); the test fails while a listed file no longer needs its entry.
NOT_YET_CONVERTED: dict[str, str] = {
}

STRING_READ_METHODS = frozenset({"sheet", "table"})  # ParamSet.sheet(name), ParamSet.table(sheet, section)
STRING_READ_FUNCTIONS = frozenset({"kv"})  # the removed engine.regime.config helper


def string_reads(source: str) -> list[tuple[int, str]]:
    """(line, call text) of every parameter read by string in a module's source."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if (isinstance(func, ast.Attribute) and func.attr in STRING_READ_METHODS) or (
                isinstance(func, ast.Name) and func.id in STRING_READ_FUNCTIONS):
            found.append((node.lineno, ast.unparse(node)[:120]))
    return sorted(found)


def _engine_files() -> dict[str, Path]:
    files = {p.relative_to(ROOT).as_posix(): p for p in ENGINE.rglob("*.py")}
    return {rel: p for rel, p in files.items() if not rel.startswith(EXEMPT_PACKAGES)}


def test_no_engine_module_reads_parameters_by_string() -> None:
    offenders = []
    for rel, path in sorted(_engine_files().items()):
        if rel in NOT_YET_CONVERTED:
            continue
        offenders += [f"{rel}:{line}: {text}" for line, text in string_reads(path.read_text(encoding="utf-8"))]
    assert not offenders, ("read these through engine.params.typed.Parameters(ps).<sheet>.<field> "
                           "instead of by string:\n" + "\n".join(offenders))


def test_the_allow_list_is_current() -> None:
    files = _engine_files()
    stale = [rel for rel in NOT_YET_CONVERTED
             if rel not in files or not string_reads(files[rel].read_text(encoding="utf-8"))]
    assert not stale, f"converted (or gone): remove from NOT_YET_CONVERTED: {stale}"


def test_the_scan_finds_each_kind_of_string_read() -> None:
    src = ("def f(ps):\n"
           "    a = ps.sheet('ATRIndicatorsConfig').atr_period\n"
           "    b = ps.table('RegimeParameters')\n"
           "    c = kv(ps, 'NoiseFiltering')\n"
           "    d = Parameters(ps).noise_filtering.spike_threshold\n")
    assert [line for line, _ in string_reads(src)] == [2, 3, 4]
