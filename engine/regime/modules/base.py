"""What every indicator module shares: the per-update Frame and the module interface.

Price modules do their work vectorised in ``prepare`` (whole buffer, TA-Lib); option-chain modules
do theirs in ``step`` (one chain snapshot at a time, keeping their own baselines). ``step`` is called
once per bar in time order by both the live path and the replay, so their state evolves identically.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.market.types import OptionChain
from engine.params.paramset import ParamSet
from engine.params.typed import Parameters
from engine.regime.modules.chainutil import ChainView
from engine.regime.paramtext import parse_param_string
from engine.regime.series import PriceBuffer, TimeBase
from engine.regime.types import ModuleResult, RegimeError

CHAIN_DATA = {"options_chain", "iv_data"}  # RequiresData values that mean "needs an option chain"


@dataclass(slots=True)
class Frame:
    """Arrays shared by all modules for one update (aligned with the buffer)."""

    buf: PriceBuffer
    tb: TimeBase
    day: np.ndarray  # local session day number per bar
    minute: np.ndarray  # local minute of day per bar
    sess_start: np.ndarray  # index of the first bar of each bar's session
    logret: np.ndarray
    rows: np.ndarray  # indices of the bars this update will emit outputs for
    peers: dict[str, np.ndarray] = field(default_factory=dict)  # peer closes aligned to buf.ts (<= t)
    vol_index: tuple[np.ndarray, np.ndarray] | None = None  # implied-vol index (value, age in minutes) per bar


class RegimeModule:
    """Base class: identity, enablement and base weight from IndicatorConfiguration."""

    name = ""  # IndicatorConfiguration IndicatorName
    component = ""  # DynamicWeightageConfig Component
    column = ""  # record column (OutputFormat name where the sheet has one)

    def __init__(self, ps: ParamSet) -> None:
        row = next((r for r in Parameters(ps).indicator_configuration.rows if r.indicator_name == self.name), None)
        self.enabled = bool(row.enabled) if row is not None else False
        self.base_weight = float(row.weight) if row is not None else 0.0
        self.extra = parse_param_string(row.parameters) if row is not None else {}
        needs = {str(x).strip().lower() for x in (_seq(row.requires_data) if row is not None else ())}
        self.needs_chain = bool(needs & CHAIN_DATA)
        self.needs_volume = "volume_data" in needs
        self.needs_peers = "multi_asset_data" in needs

    def need(self, key: str) -> Any:
        """A value from this module's IndicatorConfiguration Parameters cell (error names the cell)."""
        if key not in self.extra:
            raise RegimeError(f"IndicatorConfiguration row {self.name}: Parameters has no '{key}='; "
                              f"add it (e.g. '{key}=...') to the workbook")
        return self.extra[key]

    def prepare(self, frame: Frame) -> None:
        """Vectorised work over the whole buffer (default: nothing)."""

    def step(self, i: int, chain: OptionChain | ChainView | None, frame: Frame) -> ModuleResult:
        """One bar; the classifier passes a ChainView (built once per bar, shared by the chain modules)."""
        raise NotImplementedError

    def no_chain(self) -> ModuleResult:
        """The (shared, immutable) result of a bar without an option chain."""
        got = self.__dict__.get("_no_chain")
        if got is None:
            got = self.__dict__["_no_chain"] = ModuleResult.inactive(
                self.name, "no option chain for this bar (module dropped, weight redistributed)")
        return got


def clip1(x: float) -> float:
    if not math.isfinite(x):
        return 0.0
    return -1.0 if x < -1.0 else 1.0 if x > 1.0 else x


def fin(x: Any) -> float:
    x = float(x)
    return x if math.isfinite(x) else float("nan")


def _seq(v: Any) -> list[str]:
    if isinstance(v, str):
        return [x for x in v.split(",") if x.strip()]
    return [str(x) for x in (v or ())]
