"""The generated typed parameters (engine/params/typed.py): up to date, complete, truthful about types,
recorded like string reads, and a misspelt name is a type error."""
from __future__ import annotations

import datetime
import textwrap
import types
import typing
from pathlib import Path

import pytest

from engine.params import ParamSet, default_params, track_reads
from engine.params.schema import load_schema
from engine.params.testing import reference_bytes
from engine.params.typed import Parameters
from engine.params.typed_gen import TARGET, attribute, render, snake
from engine.params.workbook import load_workbook_params

SCHEMA = load_schema()


def test_checked_in_module_matches_the_schema():
    assert TARGET.read_text(encoding="utf-8") == render(SCHEMA), "run python -m engine.params.typed_gen"


def test_snake_case_names():
    assert snake("ATRIndicatorsConfig") == "atr_indicators_config"
    assert snake("IVSurfaceConfig") == "iv_surface_config"
    assert snake("TradingRisk") == "trading_risk"
    assert attribute("class") == "class_" and attribute("weight") == "weight"


def _conforms(value: object, hint: object) -> bool:
    """isinstance for the annotations the generator writes (float, int, bool, str, time, Literal, tuple, | None)."""
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, h) for h in typing.get_args(hint))
    if origin is tuple:
        item = typing.get_args(hint)[0]
        return isinstance(value, tuple) and all(_conforms(v, item) for v in value)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, float)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, typing.cast(type, hint))


def _hint(cls: type, name: str) -> object:
    prop = getattr(cls, attribute(name))
    return typing.get_type_hints(prop.fget, globalns=vars(__import__("engine.params.typed", fromlist=["x"])),
                                 localns={"datetime": datetime})["return"]


@pytest.mark.parametrize("source", ["defaults", "reference workbook"])
def test_every_field_is_reachable_and_has_the_declared_type(source: str):
    ps: ParamSet = default_params() if source == "defaults" else load_workbook_params(reference_bytes())
    params = Parameters(ps)
    checked = 0
    for sheet, section, field in SCHEMA.iter_fields():
        view = getattr(params, snake(sheet.name))
        if section.kind == "kv":
            expected = getattr(ps.sheet(sheet.name), field.name)
            pairs = [(getattr(view, attribute(field.name)), expected, type(view))]
        else:
            typed_rows = getattr(view, "rows" if section.key == "main" else section.key)
            plain_rows = ps.table(sheet.name, section.key)
            assert len(typed_rows) == len(plain_rows)
            pairs = [(getattr(t, attribute(field.name)), getattr(p, field.name), type(t))
                     for t, p in zip(typed_rows, plain_rows, strict=True)]
        for got, expected, cls in pairs:
            assert got == expected
            hint = _hint(cls, field.name)
            assert _conforms(got, hint), f"{sheet.name}.{section.key}.{field.name}: {got!r} is not {hint}"
            checked += 1
    assert checked > 300


def test_typed_reads_are_recorded_like_string_reads():
    params = Parameters(default_params())
    with track_reads() as rec:
        _ = params.atr_indicators_config.atr_period
        _ = params.regime_classification.trend_thresholds[0].min_slope
    assert ("ATRIndicatorsConfig", "main", "atr_period") in rec.fields_read()
    assert ("RegimeClassification", "trend_thresholds", "min_slope") in rec.fields_read()


def test_a_misspelt_parameter_is_a_type_error(tmp_path: Path):
    mypy_api = pytest.importorskip("mypy.api")
    snippet = tmp_path / "misspelt.py"
    snippet.write_text(textwrap.dedent("""
        from engine.params.typed import Parameters

        def period(params: Parameters) -> int:
            return params.atr_indicators_config.atr_perod
    """), encoding="utf-8")
    out, _err, status = mypy_api.run([str(snippet), "--ignore-missing-imports", "--follow-imports=silent",
                                      "--no-error-summary"])
    assert status == 1 and 'has no attribute "atr_perod"' in out, out
