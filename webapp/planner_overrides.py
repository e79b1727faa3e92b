"""Numeric overrides on the Planner page: which keys can be overridden, reading one typed value, checking the
overrides the browser sends back, and saying for each parameter whether the base, a slider or an override set it.

Precedence is the preset composition's (engine.planner.preset.compose_preset): base preset < slider < override.
Values are read by engine.planner.preset.parse_override, i.e. as a preset file's TOML value checked by the same
check_value, so the page cannot hold a value a preset file could not. No Dash here: the panel module draws it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from engine.planner.preset import PlannerPreset, PresetError, check_value, parse_override
from engine.planner.preset_schema import SPEC
from engine.planner.sliders import SLIDER_NAMES, slider_values

WHERE = "Planner page override"
MAX_OVERRIDES = 60  # every numeric key fits; more is a forged request
EDITABLE_KEYS: tuple[str, ...] = tuple(sorted(k for k, s in SPEC.items() if s.kind in (int, float)))


@dataclass(frozen=True)
class Source:
    """Where one parameter's value in effect comes from."""

    key: str
    base: object  # the base preset's value
    slider: str | None  # the slider that moves the key away from the base (None: no slider moved it)
    slider_value: object
    override: object  # None: not overridden
    effective: object

    @property
    def by(self) -> str:
        if self.override is not None:
            return f"override (beats slider {self.slider})" if self.slider else "override"
        return f"slider {self.slider}" if self.slider else "base"


def allowed(key: str) -> str:
    return SPEC[key].allowed()


def non_switch(overrides: Mapping[str, object]) -> dict[str, object]:
    """The overrides the editor shows (numbers and choices); module switches are the switches' business."""
    return {k: v for k, v in overrides.items() if not (k in SPEC and SPEC[k].kind is bool)}


def checked_overrides(data: object) -> dict[str, object]:
    """The page store's overrides, checked again on the server (the browser can send anything): a mapping of
    non-switch preset keys to values check_value accepts; PresetError names the key and its range."""
    if data is None:
        return {}
    if not isinstance(data, Mapping) or len(data) > MAX_OVERRIDES:
        raise PresetError("Planner page: the overrides are malformed; reload the page")
    out: dict[str, object] = {}
    for key, value in data.items():
        if not isinstance(key, str) or (key in SPEC and SPEC[key].kind is bool):
            raise PresetError(f"{WHERE}: {str(key)[:60]!r} is a module switch or not a preset key")
        out[key] = check_value(WHERE, key, value)
    return out


def add_override(current: object, key: object, text: object) -> dict[str, object]:
    """The current overrides plus `key` = the typed value; PresetError (nothing changed) if either is refused."""
    overrides = checked_overrides(current)
    if not isinstance(key, str) or key not in EDITABLE_KEYS:
        raise PresetError(f"{WHERE}: pick a numeric parameter first")
    return {**overrides, key: parse_override(WHERE, key, text)}


def remove_override(current: object, key: object) -> dict[str, object]:
    """The current overrides without `key`; PresetError (nothing changed) when `key` is not overridden, so the
    page never reports removing what was not there."""
    overrides = checked_overrides(current)
    if not isinstance(key, str) or key not in overrides:
        raise PresetError(f"{WHERE}: {str(key)[:60]!r} has no override to remove; nothing was changed")
    del overrides[key]
    return overrides


def slider_sources(base: PlannerPreset, sliders: Mapping[str, float]) -> dict[str, tuple[str, object]]:
    """Parameter -> (slider, value it sets) for each parameter a slider moves away from the base's value."""
    out: dict[str, tuple[str, object]] = {}
    for name in SLIDER_NAMES:
        if name not in sliders:
            continue
        for key, value in slider_values(name, float(sliders[name]), base.params).items():
            if value != base.params.get(key):
                out[key] = (name, value)
    return out


def sources(base: PlannerPreset, sliders: Mapping[str, float], overrides: Mapping[str, object],
            composed: PlannerPreset) -> list[Source]:
    """Every parameter a slider moved or an override set, and what is in effect (from the composed preset)."""
    moved = slider_sources(base, sliders)
    keys = sorted(set(moved) | set(overrides))
    return [Source(k, base.params.get(k), moved.get(k, (None, None))[0], moved.get(k, (None, None))[1],
                   overrides.get(k), composed.params.get(k)) for k in keys]
