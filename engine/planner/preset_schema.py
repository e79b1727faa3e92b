"""Every preset key, its type and allowed range, and its default: the one description presets are checked against.

A preset TOML only needs the keys it changes; the rest come from DEFAULTS. Module switches
(`enabled`) exist for every registered calculator, pattern, sequence generator and filter.

The rules a user preset's *name* is checked against beyond engine.planner.preset.check_preset_name are here too
(normal_name, blank_char, mixed_scripts, name_skeletons): two names a trader cannot tell apart in the picker (a blank
Hangul filler, a Cyrillic letter in a Latin name, a double space that HTML shows as one) must not both exist.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class KeySpec:
    kind: type  # bool, int, float or str
    default: object
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()

    def allowed(self) -> str:
        if self.kind is bool:
            return "true or false"
        if self.choices:
            return "one of " + ", ".join(self.choices)
        return f"{self.kind.__name__} from {self.lo:g} to {self.hi:g}"


def _b(default: bool) -> KeySpec:
    return KeySpec(bool, default)


def _f(default: float, lo: float, hi: float) -> KeySpec:
    return KeySpec(float, default, lo, hi)


def _i(default: int, lo: int, hi: int) -> KeySpec:
    return KeySpec(int, default, lo, hi)


CALCULATORS = ("profit_taking", "averaging_down", "opportunity_buys", "rebalance_sells", "rebalance_buys",
               "weight_based", "trend")
PATTERNS = ("direct_buy", "single_best", "profit_taking", "rebalance", "averaging_down", "multi_sell",
            "mixed_strategy", "opportunity_first", "deep_rebalance", "cash_generation", "cost_optimised",
            "adaptive", "market_regime")
SEQUENCES = ("combinatorial", "enhanced_combinatorial", "partial_execution", "constraint_relaxation")
FILTERS = ("eligibility", "recently_traded", "correlation_aware", "diversity")
TARGET_METHODS = ("inverse_volatility", "risk_parity", "min_variance", "fixed")
ANCHORS = ("none", "conservative", "default", "aggressive")  # engine.planner.turnover_anchor: the built-ins

SPEC: dict[str, KeySpec] = {
    "calculators.profit_taking.windfall_threshold": _f(0.30, 0.01, 5.0),  # gain over avg price that counts as windfall
    "calculators.profit_taking.sell_fraction": _f(0.5, 0.05, 1.0),  # share of the position sold
    "calculators.averaging_down.dip_threshold": _f(0.15, 0.01, 0.9),  # loss from avg price that counts as a dip
    "calculators.averaging_down.min_quality": _f(0.0, -1.0, 1.0),  # trend quality the name still needs
    "calculators.opportunity_buys.min_quality": _f(0.3, -1.0, 1.0),
    "calculators.rebalance_sells.band": _f(0.05, 0.0, 1.0),  # overweight tolerance, fraction of equity
    "calculators.rebalance_buys.band": _f(0.05, 0.0, 1.0),
    "calculators.weight_based.min_trade_weight": _f(0.01, 0.0, 0.5),
    "calculators.trend.fast_window": _i(12, 2, 100),
    "calculators.trend.slow_window": _i(50, 5, 400),
    "calculators.trend.min_signal": _f(0.1, 0.0, 1.0),
    "sequences.max_depth": _i(4, 1, 10),
    "sequences.min_depth": _i(4, 1, 10),  # the fewest steps the risk_appetite slider sets max_depth to (sliders.py)
    "sequences.beam_width": _i(24, 1, 200),
    "sequences.candidates_per_category": _i(3, 1, 20),
    "sequences.partial_fills": _f(0.5, 0.1, 1.0),  # smallest fill tried by partial_execution (and 0.75, 1.0)
    "sequences.relax_factor": _f(1.5, 1.0, 5.0),  # constraint_relaxation multiplies one limit by this
    "sequences.max_turnover": _f(0.3, 0.01, 2.0),  # most a plan may trade, fraction of equity (later steps cut)
    # never trade more / less than that built-in preset's plan on the same portfolio (turnover_anchor.py)
    "turnover.at_most": KeySpec(str, "none", choices=ANCHORS),
    "turnover.at_least": KeySpec(str, "none", choices=ANCHORS),
    "filters.eligibility.min_hold_days": _i(5, 0, 365),
    "filters.eligibility.cooldown_days": _i(2, 0, 90),
    "filters.eligibility.max_loss_to_sell": _f(0.25, 0.0, 1.0),
    "filters.recently_traded.days": _i(5, 0, 90),
    "filters.correlation_aware.threshold": _f(0.85, 0.0, 1.0),
    "filters.diversity.weight": _f(0.3, 0.0, 1.0),
    "costs.fixed": _f(1.0, 0.0, 1000.0),
    "costs.proportional": _f(0.0005, 0.0, 0.05),
    "scoring.return_weight": _f(1.0, 0.0, 10.0),
    "scoring.risk_weight": _f(1.0, 0.0, 10.0),
    "scoring.diversification_weight": _f(1.0, 0.0, 10.0),
    "scoring.cost_weight": _f(1.0, 0.0, 10.0),
    "scoring.target_weight": _f(1.0, 0.0, 10.0),
    "scoring.cvar_alpha": _f(0.95, 0.5, 0.999),
    "scoring.momentum_tilt": _f(0.5, -1.0, 1.0),  # expected return tilt by trend quality: >0 momentum, <0 dips
    "scoring.horizon_days": _i(21, 1, 252),
    "scoring.monte_carlo": _b(False),
    "scoring.mc_paths": _i(200, 10, 5000),
    "scoring.mc_top": _i(3, 1, 20),
    "scoring.seed": _i(7, 0, 2**31 - 1),
    "targets.method": KeySpec(str, "inverse_volatility", choices=TARGET_METHODS),
    "targets.lookback": _i(120, 20, 1000),
    "targets.max_weight": _f(0.20, 0.01, 1.0),
    "targets.cash_reserve": _f(0.05, 0.0, 0.9),
    "targets.universe_size": _i(10, 1, 200),  # names held in the target portfolio (best trend first)
    "regime.sensitivity": _f(0.5, 0.0, 1.0),
}
for _name in CALCULATORS:
    SPEC[f"calculators.{_name}.enabled"] = _b(True)
for _name in PATTERNS:
    SPEC[f"patterns.{_name}.enabled"] = _b(True)
for _name in SEQUENCES:
    SPEC[f"sequences.{_name}.enabled"] = _b(_name != "constraint_relaxation")
for _name in FILTERS:
    SPEC[f"filters.{_name}.enabled"] = _b(True)

DEFAULTS: dict[str, object] = {key: spec.default for key, spec in SPEC.items()}


# ---- user preset names -------------------------------------------------------------------------------------------
# Default_Ignorable_Code_Point (Unicode DerivedCoreProperties) that are no Cf (check_preset_name refuses those) and
# letters or symbols that render as a blank: a name holding one looks like the same name without it
_BLANK_RANGES = ((0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F), (0x2800, 0x2800),
                 (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0), (0xE0100, 0xE01EF))
_UNSHOWN = {"Co": "a private-use character", "Cn": "not an assigned character", "Cs": "a lone surrogate"}
_SPACES = re.compile(r"\s+")
SCRIPTS = ("LATIN", "CYRILLIC", "GREEK")  # scripts whose letters look alike: one name uses one of them


def normal_name(name: str) -> str:
    """NFKC, runs of whitespace as one space, stripped: "my  preset" and "my\u3000preset" are "my preset"."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", name)).strip()


def blank_char(name: str) -> tuple[int, str] | None:
    """(position from 1, what it is) of the first character shown as nothing (a filler, a braille blank, a variation
    selector), a private-use or an unassigned one; None when every character shows."""
    for i, char in enumerate(name):
        code = ord(char)
        if any(lo <= code <= hi for lo, hi in _BLANK_RANGES):
            return i + 1, "shows as a blank or nothing"
        if (kind := _UNSHOWN.get(unicodedata.category(char))) is not None:
            return i + 1, kind
    return None


def mixed_scripts(name: str) -> list[str]:
    """The look-alike SCRIPTS whose letters `name` mixes ("dеfault" with a Cyrillic е: LATIN, CYRILLIC); []."""
    found = {unicodedata.name(c, "").split(" ", 1)[0] for c in name if c.isalpha()}
    return sorted(found & set(SCRIPTS))


@lru_cache(maxsize=1)
def _prototypes() -> dict[str, str]:
    """Each character to one member of its confusable class (Unicode TR39 confusables, as the maintained
    confusable_homoglyphs package ships them), single characters only; loaded on the first name check."""
    from confusable_homoglyphs.confusables import confusables_data

    parent: dict[str, str] = {}

    def root(c: str) -> str:
        while parent.get(c, c) != c:
            c = parent[c]
        return c

    for char, entries in confusables_data.items():
        for entry in entries if len(char) == 1 else ():
            other = entry.get("c", "")
            if len(other) == 1 and (a := root(char)) != (b := root(other)):
                low, high = sorted((a, b))
                parent[high] = low
    return {c: root(c) for c in parent}


def name_skeletons(name: str) -> frozenset[str]:
    """The forms look-alike names share (NFKC, each character as its confusable class, case folded): two names
    sharing one cannot be told apart. Two, as case folding and look-alikes do not commute: capital I reads as l
    ("defauIt" is "default") while "MINE" is "Mine"; "dеfault" (Cyrillic е) and "my  preset" read as usual."""
    table = _prototypes()
    text = normal_name(name)

    def mapped(value: str) -> str:
        return unicodedata.normalize("NFKC", "".join(table.get(c, c) for c in value))

    return frozenset({mapped(text.casefold()), mapped(mapped(text).casefold())})
