"""A copy of a parameter set with some kv values changed, validated (the tuner's and tests' one way to
make a candidate; storing it is apply_version's job, never this module's)."""
from __future__ import annotations

import copy
from collections.abc import Mapping

from engine.params.paramset import ParamSet

Key = tuple[str, str, str]  # (sheet, kv section, parameter name)


def edited(ps: ParamSet, changes: Mapping[Key, object]) -> ParamSet:
    """`ps` with each (sheet, section, name) set to its new value; raises ValidationError when invalid."""
    canon = copy.deepcopy(ps.to_canonical())
    for (sheet, section, name), value in changes.items():
        values = canon["sheets"][sheet][section]
        if name not in values:
            raise KeyError(f"{sheet}.{section} has no parameter {name!r}")
        values[name] = value
    return ParamSet.from_canonical(canon, schema=ps.schema)


def kv_value(ps: ParamSet, key: Key) -> object:
    """The current value of a kv parameter (unrecorded read: the tuner's search space, not engine logic)."""
    sheet, section, name = key
    return ps.to_canonical()["sheets"][sheet][section][name]


def kv_number(ps: ParamSet, key: Key) -> float:
    """A numeric kv parameter's current value (the tuner searches numbers only)."""
    value = kv_value(ps, key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{'/'.join(key)} holds {value!r}, not a number")
    return float(value)
