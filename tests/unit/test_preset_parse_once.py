"""Built-in planner presets are parsed once per text (the engine lists them every cycle); each caller still
gets its own dicts, so a caller changing its copy cannot change what the next caller reads."""
from __future__ import annotations

from engine.planner.preset import BUILT_IN_PRESETS, load_preset


def test_each_load_is_equal_and_independent() -> None:
    name = "default"
    assert name in BUILT_IN_PRESETS
    first = load_preset(name)
    key = next(iter(first.params))
    original = first.params[key]
    first.params[key] = "changed by a caller"
    first.sliders["risk_appetite"] = -1.0
    second = load_preset(name)
    assert second.params[key] == original
    assert second.sliders.get("risk_appetite") != -1.0
    assert second.params is not first.params and second.sliders is not first.sliders
    assert load_preset(name) == second  # the same content every time
