"""Names one sheet uses for another's rows are checked as the engine matches them (audit 1, 7, 8): every regime has a
RegimeParameters row, regime patterns match case-sensitively, group limits name an existing group, symbols are
upper-cased. Hand-written cases."""
from __future__ import annotations

import pytest

from engine.params.catalog import apply_edits
from engine.params.paramset import ParamSet, default_params
from engine.portfolio_risk.limits import PortfolioLimits
from engine.regime.formation import Formation
from engine.regime.intraday import IntradayClock, restricted_match
from engine.regime.transitions import TransitionPolicy

BASE = default_params()
GROUPS = ("TradingRisk", "risk_groups")
LIMITS = ("TradingRisk", "group_limits")


@pytest.mark.parametrize("regime,cell", [("Neutral_Low_Vol", "RegimeClassification!B10"),
                                         ("Strong_Bearish_High_Vol", "RegimeClassification!B14")])
def test_a_regime_without_a_parameters_row_is_refused(regime: str, cell: str) -> None:
    rows = [r.as_dict() for r in BASE.table("RegimeParameters") if r.regime_name != regime]
    r = apply_edits(BASE, tables={("RegimeParameters", "main"): rows})
    assert r.paramset is None
    hits = [str(i) for i in r.issues if i.where == cell]
    assert hits and regime in hits[0] and "RegimeParameters" in hits[0], [str(i) for i in r.issues]


def test_a_parameters_row_in_another_case_is_refused() -> None:
    r = apply_edits(BASE, cells={("RegimeParameters", "main", 0, "regime_name"): "neutral_low_vol"})
    assert r.paramset is None
    assert any("neutral_low_vol" in str(i) and "RegimeParameters!" in str(i) for i in r.issues)


@pytest.mark.parametrize("pattern", ["bullish_*", "BULLISH_*", "Bullish", "bullish_med_vol"])
def test_a_transition_pattern_the_engine_cannot_match_is_refused(pattern: str) -> None:
    r = apply_edits(BASE, cells={("TransitionRules", "main", 7, "from_regime"): pattern})
    assert r.paramset is None
    assert any(str(i).startswith("TransitionRules!B9:") and repr(pattern) in str(i) for i in r.issues)


@pytest.mark.parametrize("pattern,ids", [("Bullish_*", ["8"]), ("Bullish_Med_Vol", ["8"]), ("*_Med_Vol", ["8"]),
                                         ("ALL", ["8"])])
def test_an_accepted_transition_pattern_matches_in_the_engine(pattern: str, ids: list[str]) -> None:
    r = apply_edits(BASE, cells={("TransitionRules", "main", 7, "from_regime"): pattern})
    assert r.paramset is not None, [str(i) for i in r.issues]
    f = Formation(r.paramset)
    got = [x.rule_id for x in TransitionPolicy(r.paramset, f).matching(f.by_name["Bullish_Med_Vol"],
                                                                         f.by_name["Strong_Bullish_Med_Vol"])]
    assert [g for g in got if g == "8"] == ids


@pytest.mark.parametrize("pattern,ok", [("strong_bullish_high_vol", False), ("Strong_Bullish", False),
                                        ("Strong_Bullish_*", True), ("Strong_Bullish_High_Vol", True)])
def test_formation_patterns_match_as_the_engine_does(pattern: str, ok: bool) -> None:
    r = apply_edits(BASE, cells={("RegimeFormationConfig", "main", 0, "regime_type"): pattern})
    assert (r.paramset is not None) == ok, [str(i) for i in r.issues]
    if r.paramset is not None:
        rule = Formation(r.paramset).rule_for("Strong_Bullish_High_Vol")
        assert rule is not None and rule.rule_id == "RF001"


@pytest.mark.parametrize("pattern,ok", [("strong_*", False), ("STRONG_*", False), ("Strong_*", True),
                                        ("strong_bullish", True), ("Sideways", True), ("Trending", True),
                                        ("Strongest_*", False)])
def test_slot_restrictions_match_as_the_engine_does(pattern: str, ok: bool) -> None:
    r = apply_edits(BASE, cells={("IntradaySettings", "main", 0, "restricted_regimes"): pattern})
    assert (r.paramset is not None) == ok, [str(i) for i in r.issues]
    if r.paramset is None:
        assert any(str(i).startswith("IntradaySettings!F2:") for i in r.issues), [str(i) for i in r.issues]
        return
    slot = IntradayClock(r.paramset).slots[0]
    regime = {"Sideways": ("Sideways", "Sideways_Low_Vol", False)}.get(
        pattern, ("Strong_Bullish", "Strong_Bullish_High_Vol", True))
    assert restricted_match(slot.restricted, *regime)


def _risk(groups: list[dict[str, object]], limits: list[dict[str, object]]) -> tuple[ParamSet | None, list[str]]:
    r = apply_edits(BASE, tables={GROUPS: groups, LIMITS: limits})
    return r.paramset, [str(i) for i in r.issues]


@pytest.mark.parametrize("group,words", [("tech", "spell it exactly 'Tech'"), ("Technology", "Risk Groups")])
def test_a_group_limit_must_name_an_existing_group(group: str, words: str) -> None:
    ps, issues = _risk([{"symbol": "AAPL", "group": "Tech"}], [{"group": group, "max_exposure_pct": 20}])
    assert ps is None
    assert any(i.startswith("TradingRisk!") and repr(group) in i and words in i for i in issues), issues


def test_lower_case_symbols_are_stored_upper_case_and_the_limit_applies() -> None:
    ps, issues = _risk([{"symbol": "aapl", "group": "Tech"}, {"symbol": " msft ", "group": "Tech"}],
                       [{"group": "Tech", "max_exposure_pct": 20}])
    assert ps is not None, issues
    limits = PortfolioLimits.from_params(ps)
    assert dict(limits.groups) == {"AAPL": "Tech", "MSFT": "Tech"}
    assert dict(limits.group_limits) == {"Tech": 20.0}


@pytest.mark.parametrize("symbols,words", [(["aapl", "AAPL"], "appears twice"), (["AA PL"], "ticker symbol")])
def test_duplicate_or_malformed_symbols_are_refused(symbols: list[str], words: str) -> None:
    ps, issues = _risk([{"symbol": s, "group": "Tech"} for s in symbols], [])
    assert ps is None and any(words in i for i in issues), issues
