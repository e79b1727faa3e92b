"""The regime the engine acts on (engine/regime/ensemble/effective.py) on constructed verdicts with
hand-derived answers, and the planner's reaction to an uncertain regime under CONSERVATIVE handling."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from components.ids import regime as regime_ids
from components.regime_views import effective_line
from engine.params import default_params
from engine.params.typed import Parameters
from engine.planner.cache_key import plan_cache_key
from engine.planner.execute import _gate
from engine.planner.planner import build_planner
from engine.planner.preset import load_preset
from engine.planner.synthetic import portfolio
from engine.planner.types import BUY, SELL, PlanStep
from engine.regime.ensemble.config import EnsembleConfig
from engine.regime.ensemble.effective import EffectiveRegime, of_config, resolve
from engine.regime.ensemble.stepper import _run
from engine.regime.testing import edited

NAMES = {3: "Bullish_Low", 5: "Bearish_High"}


def verdict(status: str, ens: int, conf: float = 0.9, calibrated: float | None = None, rule_run: int = 10,
            ensemble_run: int = 10) -> dict[str, Any]:
    return {"status": status, "ensemble_regime_id": ens, "confidence": conf, "calibrated_confidence": calibrated,
            "rule_run": rule_run, "ensemble_run": ensemble_run, "reason": f"constructed {status}"}


def eff(v: dict[str, Any] | None, handling: str = "CONSERVATIVE", conflict: str = "MOST_STABLE",
        rule_conf: float = 0.7, enabled: bool = True) -> EffectiveRegime:
    return resolve(enabled=enabled, handling=handling, conflict_resolution=conflict, rule_regime=3,
                   rule_name="Bullish_Low", rule_confidence=rule_conf, verdict=v, names=NAMES)


def test_without_a_model_or_disabled_the_rule_based_regime_stands() -> None:
    e = eff(None)
    assert (e.regime_id, e.regime_name, e.status) == (3, "Bullish_Low", "no_model") and "no ensemble model" in e.reason
    e = eff(verdict("ensemble", 5), enabled=False)  # a verdict is ignored when the switch is off
    assert (e.regime_id, e.status) == (3, "disabled")


def test_agree_and_rules_keep_the_common_answer() -> None:
    assert (eff(verdict("agree", 3)).regime_id, eff(verdict("agree", 3)).status) == (3, "agree")
    assert (eff(verdict("rules", 3)).regime_id, eff(verdict("rules", 3)).status) == (3, "rules")


@pytest.mark.parametrize(("handling", "want", "name"), [("CONSERVATIVE", None, None), ("MODERATE", 3, "Bullish_Low"),
                                                        ("AGGRESSIVE", 5, "Bearish_High")])
@pytest.mark.parametrize("conflict", ["MOST_STABLE", "HIGHEST_CONFIDENCE", "MOST_RECENT"])
def test_uncertain_follows_the_handling_alone(handling: str, want: int | None, name: str | None, conflict: str) -> None:
    # conflict_resolution has no say on an uncertain verdict, whichever answer it would favour
    e = eff(verdict("uncertain", 5, conf=0.99, rule_run=1, ensemble_run=50), handling, conflict)
    assert (e.regime_id, e.regime_name, e.status) == (want, name, "uncertain")
    assert e.no_new_exposure is (want is None) and e.rule_regime_id == 3


@pytest.mark.parametrize(("conflict", "rule_conf", "want"), [
    ("MOST_STABLE", 0.7, 3),         # rules held 40 bars, the ensemble 6: the rules'
    ("MOST_RECENT", 0.7, 5),         # the ensemble changed 6 bars ago, the rules 40: the ensemble's
    ("HIGHEST_CONFIDENCE", 0.7, 5),  # calibrated 0.80 > 0.70: the ensemble's
    ("HIGHEST_CONFIDENCE", 0.95, 3),  # 0.80 < 0.95: the rules'
])
@pytest.mark.parametrize("handling", ["CONSERVATIVE", "MODERATE", "AGGRESSIVE"])
def test_a_firm_conflict_goes_to_conflict_resolution(conflict: str, rule_conf: float, want: int, handling: str) -> None:
    v = verdict("ensemble", 5, conf=0.9, calibrated=0.8, rule_run=40, ensemble_run=6)
    e = eff(v, handling, conflict, rule_conf)
    assert (e.regime_id, e.status) == (want, "ensemble") and conflict in e.reason


def test_conflict_ties_keep_the_rules_and_raw_confidence_without_calibration() -> None:
    tie = verdict("ensemble", 5, rule_run=10, ensemble_run=10)
    assert eff(tie, conflict="MOST_STABLE").regime_id == 3 and eff(tie, conflict="MOST_RECENT").regime_id == 3
    assert eff(verdict("ensemble", 5, conf=0.7), conflict="HIGHEST_CONFIDENCE", rule_conf=0.7).regime_id == 3
    assert eff(verdict("ensemble", 5, conf=0.75), conflict="HIGHEST_CONFIDENCE", rule_conf=0.7).regime_id == 5


def test_bad_settings_and_statuses_are_named() -> None:
    with pytest.raises(ValueError, match="RiskControls regime_uncertainty_handling"):
        eff(verdict("uncertain", 5), handling="BOLD")
    with pytest.raises(ValueError, match="RiskControls conflict_resolution"):
        eff(verdict("ensemble", 5), conflict="LOUDEST")
    with pytest.raises(ValueError, match="unknown status"):
        eff(verdict("maybe", 5))


def test_the_workbook_settings_reach_the_rule() -> None:
    ps = edited(default_params(), {("RiskControls", "conflict_resolution"): "MOST_RECENT",
                                   ("RiskControls", "regime_uncertainty_handling"): "AGGRESSIVE"})
    cfg = EnsembleConfig.of(ps)
    assert (cfg.conflict_resolution, cfg.uncertainty_handling) == ("MOST_RECENT", "AGGRESSIVE")
    rows = Parameters(ps).regime_classification.rows
    a, b = int(rows[0].regime_id), int(rows[1].regime_id)
    e = of_config(cfg, a, str(rows[0].regime_name), 0.9, verdict("ensemble", b, rule_run=30, ensemble_run=2))
    assert (e.regime_id, e.regime_name) == (b, str(rows[1].regime_name))  # MOST_RECENT: the ensemble's, by name


def test_run_lengths() -> None:
    run: tuple[int | None, int] = (None, 0)
    for label, want in ((4, 1), (4, 2), (4, 3), (7, 1), (4, 1)):
        run = _run(run, label)
        assert run == (label, want)


HOLD = "regime uncertain (constructed): no new exposure"


def test_planner_under_an_uncertain_regime_proposes_no_buys_and_says_why() -> None:
    state = portfolio(seed=1, cash=50_000.0)
    preset = load_preset("default")
    free = build_planner(preset).plan(state)
    assert any(s.side == BUY for s in free.steps)  # the same portfolio buys when a regime is in force
    held = build_planner(preset).plan(replace(state, regime=None, regime_hold=HOLD))
    assert not any(s.side == BUY for s in held.steps)
    assert all(s.side == SELL for s in held.steps) and held.notes[0] == HOLD
    assert plan_cache_key(state, preset) != plan_cache_key(replace(state, regime_hold=HOLD), preset)


def test_sending_a_plan_while_uncertain_blocks_its_buys_only() -> None:
    buy = PlanStep("S01", BUY, 10, 100.0, 1000.0, "c", "p", "r", 0.0, 0.0, "")
    sell = replace(buy, side=SELL)
    assert _gate("ACTIVE", buy, HOLD) == f"{HOLD}; this buy adds exposure"
    assert _gate("ACTIVE", sell, HOLD) is None and _gate("ACTIVE", buy, None) is None


def _texts(node: Any) -> list[str]:
    """Every string in a Dash component tree."""
    if isinstance(node, str):
        return [node]
    children = getattr(node, "children", None)
    if children is None:
        return []
    return [t for c in (children if isinstance(children, list) else [children]) for t in _texts(c)]


def test_the_regime_card_shows_the_effective_regime_beside_the_rules() -> None:
    same = {"regime_id": 3, "regime_name": "Bullish_Low", "status": "agree", "reason": "firm",
            "rule_regime_id": 3, "rule_regime_name": "Bullish_Low"}
    line = effective_line(same)
    assert line.to_plotly_json()["props"]["id"] == regime_ids.CURRENT_EFFECTIVE and "agree" in _texts(line)
    assert not any("rule-based" in t for t in _texts(line))  # nothing to explain when they agree
    uncertain = {**same, "regime_id": None, "regime_name": None, "status": "uncertain",
                 "reason": "ensemble says 5, rules say 3"}
    texts = _texts(effective_line(uncertain))
    assert "no regime (uncertain): no new exposure" in texts and "uncertain" in texts
    assert "rule-based: Bullish_Low; ensemble says 5, rules say 3" in texts
    other = _texts(effective_line({**same, "regime_id": 5, "regime_name": "Bearish_High", "status": "ensemble"}))
    assert "Bearish_High" in other and "ensemble" in other
