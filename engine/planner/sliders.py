"""The six 0..1 sliders and the one mapping from a slider position to the technical parameters it moves.

Each slider moves every parameter in its `moves` linearly from the value at 0 to the value at 1
(integers rounded). The mapping is the documentation: the Planner page lists `moves` under
each slider, and tests check that each moved parameter is read by the planner.

hold_duration sets the per-plan turnover budget (sequences.max_turnover: conservative 0.15, default 0.4,
aggressive 0.55 of equity). A budget is a ceiling, not an order: the order of the built-in presets'
turnover on one portfolio is guaranteed by their `[turnover]` anchors (engine/planner/turnover_anchor.py).
It no longer moves the trend's slow window (calculators.trend.slow_window, 20 -> 150 before): a faster trend reads
weaker, fewer names passed the trend threshold into the targets, and "trade freely" traded least. Each slider moves
the plan the way its label says: more risk appetite never less exposure, more spread never fewer names, a shorter
hold never less turnover (tests/unit/test_planner_slider_monotone.py).

risk_appetite never sets sequences.max_depth below the preset's sequences.min_depth (FLOORS; 4 by default, 3 in
conservative.toml, its shipped depth): the linear 2 -> 6 gave 2 or 3 below 0.375. A plan that may buy only 2-3 names
buys the top of the targets, and a higher max weight moves target weight onto the capped top name and off the others
it buys, so their sum (the plan's exposure) fell as risk rose (default, bear regime, risk 0.1 -> 0.15 and 0.15 -> 0.2);
each depth step 2 -> 3 -> 4 also let a swap in (sell one, buy one) that ended less invested (0.629 -> 0.544 at
0.1 -> 0.15 on the simulated market). From 4 up Default's sweep is non-decreasing (tests/unit/test_planner_risk_sweep.py).

| slider             | 0 means                         | 1 means                               |
|--------------------|---------------------------------|---------------------------------------|
| risk_appetite      | weigh risk heavily, hold cash   | weigh return, concentrate, no reserve |
| hold_duration      | trade freely                    | long minimum hold, less per plan      |
| entry_style        | buy dips (average down early)   | buy strength (only strong trends)     |
| position_spread    | few names, correlated allowed   | many names, diversity enforced        |
| profit_taking      | let winners run                 | take profits early, sell all          |
| regime_sensitivity | ignore the regime               | follow the regime's bull/bear stance  |
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class SliderSpec:
    name: str
    label: str
    help: str
    moves: tuple[str, ...]


# slider -> {parameter: (value at 0, value at 1)}
MAPPING: dict[str, dict[str, tuple[float, float]]] = {
    "risk_appetite": {
        "scoring.risk_weight": (3.0, 0.3),
        "scoring.return_weight": (0.5, 2.0),
        "targets.max_weight": (0.10, 0.40),
        "targets.cash_reserve": (0.20, 0.0),
        "sequences.max_depth": (2, 6),
    },
    "hold_duration": {
        "filters.eligibility.min_hold_days": (0, 60),
        "filters.eligibility.cooldown_days": (0, 20),
        "filters.recently_traded.days": (0, 30),
        "scoring.cost_weight": (0.5, 3.0),
        "sequences.max_turnover": (0.6, 0.1),
    },
    "entry_style": {
        "calculators.averaging_down.dip_threshold": (0.05, 0.40),
        "calculators.opportunity_buys.min_quality": (0.0, 0.6),
        "calculators.trend.min_signal": (0.0, 0.4),
        "scoring.momentum_tilt": (-0.5, 1.0),
    },
    "position_spread": {
        "targets.universe_size": (3, 30),
        "filters.diversity.weight": (0.0, 0.8),
        "filters.correlation_aware.threshold": (0.98, 0.6),
        "scoring.diversification_weight": (0.2, 3.0),
    },
    "profit_taking": {
        "calculators.profit_taking.windfall_threshold": (1.0, 0.08),
        "calculators.profit_taking.sell_fraction": (0.2, 1.0),
    },
    "regime_sensitivity": {
        "regime.sensitivity": (0.0, 1.0),
    },
}

_HELP = {
    "risk_appetite": ("Risk appetite", "Low: weigh risk (CVaR, volatility) heavily and keep a cash reserve. "
                      "High: weigh expected return, allow larger positions and longer plans."),
    "hold_duration": ("Hold duration", "Low: trade freely. High: longer minimum hold and cooldown, "
                      "costs weigh more, less traded per plan."),
    "entry_style": ("Entry style", "Low: buy dips early (averaging down). High: buy only strong trends."),
    "position_spread": ("Position spread", "Low: few concentrated names. High: many names, correlated buys "
                        "dropped, diversity enforced."),
    "profit_taking": ("Profit taking", "Low: let winners run. High: sell smaller gains, and more of the position."),
    "regime_sensitivity": ("Regime sensitivity", "Low: ignore the regime. High: bull regimes favour buys, bear "
                           "regimes sells and cash."),
}

# parameter -> the preset key holding the least value a slider sets it to (the linear value below it is raised to it)
FLOORS: dict[str, str] = {"sequences.max_depth": "sequences.min_depth"}
DEFAULT_FLOORS: dict[str, float | int] = {"sequences.min_depth": 4}  # preset_schema's default, when no preset is given

SLIDERS: tuple[SliderSpec, ...] = tuple(
    SliderSpec(name, _HELP[name][0], _HELP[name][1], tuple(params)) for name, params in MAPPING.items())
SLIDER_NAMES = tuple(s.name for s in SLIDERS)


def slider_values(name: str, position: float, params: Mapping[str, object] | None = None) -> dict[str, float | int]:
    """The parameter values slider `name` sets at `position` (0..1); a FLOORS parameter no lower than the floor
    `params` (the preset's parameters) hold, or DEFAULT_FLOORS' without them."""
    out: dict[str, float | int] = {}
    for key, (lo, hi) in MAPPING[name].items():
        value = lo + (hi - lo) * position
        out[key] = int(round(value)) if isinstance(lo, int) and isinstance(hi, int) else round(value, 6)
        if key in FLOORS:
            floor = (params or DEFAULT_FLOORS).get(FLOORS[key], DEFAULT_FLOORS[FLOORS[key]])
            out[key] = max(out[key], int(floor) if isinstance(floor, int | float) else DEFAULT_FLOORS[FLOORS[key]])
    return out


def apply_sliders(flat: Mapping[str, object], sliders: Mapping[str, float]) -> dict[str, object]:
    out = dict(flat)
    for name, position in sliders.items():
        out.update(slider_values(name, position, flat))
    return out
