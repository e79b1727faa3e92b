"""The ensemble: walk-forward fitting never sees the bar it classifies, the workbook's voting and the
uncertainty rule on constructed inputs, and calibration that improves the Brier score on held-out data."""
from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from engine.params import default_params
from engine.regime.ensemble import vote
from engine.regime.ensemble.calibration import brier, fit_calibrator, outcomes, reliability
from engine.regime.ensemble.config import CalibrationConfig, EnsembleConfig
from engine.regime.ensemble.walkforward import walk_forward
from engine.regime.testing import edited

P = default_params()
CFG = EnsembleConfig.of(P)
CAL = CalibrationConfig.of(P)


def synthetic(n: int, seed: int = 3) -> pd.DataFrame:
    """Rows whose rule-based label is a function of (trend, vol): a learnable stand-in for replay output."""
    rng = np.random.default_rng(seed)
    regime = (np.arange(n) // 150) % 3
    trend = np.array([0.006, 0.0, -0.006])[regime] + rng.normal(0, 0.0015, n)
    vol = np.array([0.10, 0.30, 0.18])[regime] * np.exp(rng.normal(0, 0.1, n))
    close = 100 * np.exp(np.cumsum(trend / 60 + rng.normal(0, vol / 100, n)))
    label = np.where(trend > 0.003, 5, np.where(trend < -0.003, 11, 8)) - (vol > 0.25) * 2 + (vol < 0.12)
    ts = [datetime(2026, 1, 5, tzinfo=UTC) + timedelta(minutes=k) for k in range(n)]
    return pd.DataFrame({"ts": pd.to_datetime(ts, utc=True), "close": close, "trend": trend, "vol": vol,
                         "raw": np.tanh(trend * 200), "adx": 20 + 2000 * np.abs(trend), "label": label})


def test_walk_forward_never_sees_the_bar_it_classifies() -> None:
    frame = synthetic(900)
    out, models = walk_forward(frame, CFG, CAL, refit_every=300, train_window=600)
    assert out[199] is None and out[200] is not None and len(models) == 3
    for t, v in enumerate(out):  # the model in force at t ended its data strictly before bar t
        if v is not None:
            assert pd.Timestamp(v["model_data_end"]) < frame["ts"].iloc[t]
    cut = 650
    future = frame.copy()
    rng = np.random.default_rng(9)
    future.loc[cut:, ["close", "trend", "vol", "raw", "adx"]] *= rng.uniform(0.5, 1.5, (len(frame) - cut, 5))
    future.loc[cut:, "label"] = 17
    out2, _ = walk_forward(future, CFG, CAL, refit_every=300, train_window=600)
    assert out2[:cut] == out[:cut]  # past verdicts unchanged by any change to later bars
    assert out2[cut:] != out[cut:]  # ... and the perturbation does reach the bars it touches
    agree = np.mean([v["ensemble_regime_id"] == lab for v, lab in zip(out[200:], frame["label"][200:], strict=True)])
    assert agree > 0.7  # the models learned the rule-based labels out of sample


def _cfg(**kw: object) -> EnsembleConfig:
    return dataclasses.replace(CFG, regime_ids=(0, 1, 2), adaptive=False, **kw)


def test_weighted_voting_by_hand() -> None:
    probs = {"hmm": np.array([0.9, 0.1, 0.0]), "gmm": np.array([0.2, 0.8, 0.0]),
             "random_forest": np.array([0.0, 1.0, 0.0]), "gradient_boost": np.array([0.5, 0.5, 0.0])}
    cfg = _cfg()
    w = vote.effective_weights(cfg, None)
    got = vote.combine(cfg, probs, w)
    # 0.35*0.9 + 0.25*0.2 + 0.2*0 + 0.2*0.5 = 0.465 ; 0.35*0.1 + 0.25*0.8 + 0.2*1 + 0.2*0.5 = 0.535
    assert got == pytest.approx([0.465, 0.535, 0.0])
    maj = vote.combine(_cfg(method="MAJORITY_VOTING"), probs, w)
    assert maj == pytest.approx([0.5, 0.5, 0.0])  # hmm and gradient_boost (tie -> first) vs gmm and forest


def test_adaptive_weighting_follows_recent_agreement() -> None:
    cfg = dataclasses.replace(_cfg(), adaptive=True)
    w = vote.effective_weights(cfg, {"hmm": 0.5, "gmm": 1.0, "random_forest": 1.0, "gradient_boost": 0.0})
    raw = {"hmm": 0.35 * 0.5, "gmm": 0.25, "random_forest": 0.2, "gradient_boost": 0.2 * vote.AGREEMENT_FLOOR}
    total = sum(raw.values())
    assert w == pytest.approx({k: v / total for k, v in raw.items()})


def test_uncertainty_rule_and_handling() -> None:
    sure = {m: np.array([0.97, 0.02, 0.01]) for m in CFG.weights}
    cfg = _cfg()
    w = vote.effective_weights(cfg, None)
    v = vote.decide(cfg, (0, 1, 2), vote.combine(cfg, sure, w), sure, w, rule_regime=0)
    assert (v.status, v.regime_id, v.disagreement) == ("agree", 0, 0.0)
    v = vote.decide(cfg, (0, 1, 2), vote.combine(cfg, sure, w), sure, w, rule_regime=1)
    assert (v.status, v.regime_id) == ("ensemble", 0)  # firm and different: the ensemble's answer is used
    split = dict(sure, random_forest=np.array([0.1, 0.9, 0.0]), gradient_boost=np.array([0.1, 0.9, 0.0]))
    comb = vote.combine(cfg, split, w)  # 0.6*0.97 + 0.4*0.1 = 0.622 < 0.85 and disagreement 0.4 > 0.2
    assert comb[0] == pytest.approx(0.622)
    for handling, answer in (("CONSERVATIVE", None), ("MODERATE", 1), ("AGGRESSIVE", 0)):
        v = vote.decide(_cfg(uncertainty_handling=handling), (0, 1, 2), comb, split, w, rule_regime=1)
        assert v.status == "uncertain" and v.regime_id == answer and v.disagreement == pytest.approx(0.4)
    v = vote.decide(cfg, (0, 1, 2), comb, split, w, rule_regime=0)
    assert (v.status, v.regime_id) == ("rules", 0)  # not firm, but it agrees with the rules
    looser = _cfg(min_confidence=0.6, disagreement=0.5, max_uncertainty=1.0)
    assert vote.decide(looser, (0, 1, 2), comb, split, w, rule_regime=1).status == "ensemble"


def test_temperature_softens() -> None:
    p = np.array([0.8, 0.2])
    q = vote.temper(p, 2.0)
    assert q == pytest.approx(np.sqrt(p) / np.sqrt(p).sum()) and q[0] < 0.8


@pytest.mark.parametrize("method", ["ISOTONIC_REGRESSION", "PLATT_SCALING"])
def test_calibration_improves_brier_on_held_out_data(method: str) -> None:
    rng = np.random.default_rng(5)
    conf = rng.uniform(0.5, 1.0, 4000)
    truth = 0.6 + 0.35 * (conf - 0.5) / 0.5 * 0.5  # overconfident: a 0.9 call comes true ~78% of the time
    hit = (rng.uniform(size=conf.size) < truth).astype(float)
    ps = edited(P, {("ConfidenceCalibration", "calibration_method"): method,
                    ("ConfidenceCalibration", "calibration_window"): 2000})
    cal = CalibrationConfig.of(ps)
    c = fit_calibrator(conf[:2000], hit[:2000], cal)
    assert c.method == ("isotonic" if method == "ISOTONIC_REGRESSION" else "platt")
    held_raw, held = conf[2000:], c.apply(conf[2000:], cal)
    assert brier(held, hit[2000:]) < brier(held_raw, hit[2000:]) - 0.01
    assert held.min() >= cal.floor and held.max() <= cal.ceiling
    def ece(conf: np.ndarray) -> float:  # expected calibration error over the reliability diagram's bins
        rel = reliability(conf, hit[2000:], cal)
        assert rel["count"].sum() == 2000
        return float((rel["count"] * (rel["observed"] - rel["conf"]).abs()).sum() / 2000)
    assert ece(held) < ece(held_raw) - 0.02  # bins of 100 outcomes: ~0.04 of the ECE is sampling noise


def test_outcomes_wait_for_the_horizon() -> None:
    got = outcomes(np.array([1, 1, 2, 2, 2]), np.array([1, 2, 2, 1, 2]), 2)
    assert got[:3].tolist() == [0.0, 1.0, 1.0] and np.isnan(got[3:]).all()


def test_dynamics_by_hand() -> None:
    from engine.regime import dynamics as dy

    labels = np.array([0, 0, 0, 1, 1, 0, 0, 0, 0, 1])
    p = dy.transition_matrix(labels, (0, 1, 2))
    # from 0: 7 steps stay... 0->0: (0,1),(1,2),(5,6),(6,7),(7,8) = 5 ; 0->1: (2,3),(8,9) = 2
    assert p[0].tolist() == pytest.approx([5 / 7, 2 / 7, 0.0]) and p[1].tolist() == pytest.approx([0.5, 0.5, 0.0])
    assert p[2].tolist() == [0.0, 0.0, 1.0]  # never seen: stays put
    assert dy.expected_durations(p)[0] == pytest.approx(1 / (1 - 5 / 7))
    assert dy.leave_probability(p, 0, 2) == pytest.approx(1 - (5 / 7) ** 2)
    assert dy.run_lengths(labels) == [(0, 3), (1, 2), (0, 4)]
    assert dy.leave_probability_empirical([(0, 3), (0, 4), (0, 10)], 0, 2, 2) == pytest.approx(2 / 3)
    assert dy.row_entropy(p, 1) == pytest.approx(np.log(2) / np.log(3))
    rng = np.random.default_rng(1)
    calm = rng.normal(0, 1, 2000)
    garch = np.repeat(rng.choice([0.3, 3.0], 40), 50) * rng.normal(0, 1, 2000)
    assert not dy.volatility_clustering(calm)["clustered"] and dy.volatility_clustering(garch)["clustered"]
    cfg = dy.DynamicsConfig.of(P)
    got = dy.current(cfg, dy.history_dynamics(cfg, labels, np.zeros(10), (0, 1, 2)), [1, 0, 0, 0])
    assert got["age_bars"] == 3 and got["leave_probability"] == pytest.approx(1 - (5 / 7) ** cfg.lead_bars)
    assert got["stable"] == (got["stability_score"] >= cfg.min_stability) and got["persistence"] == 1.0


def test_fast_tree_probabilities_equal_sklearns() -> None:
    from engine.regime.ensemble.features import matrix
    from engine.regime.ensemble.models import fit_ensemble

    frame = synthetic(400)
    x = matrix(frame)
    m = fit_ensemble(x, frame["label"].to_numpy(), frame["ts"].to_numpy(), CFG.regime_ids)
    t = m.tree_input(m.scale(x[-50:]))
    assert np.allclose(m.rf_proba(t), m.rf.predict_proba(t), atol=1e-12)
    assert np.allclose(m.gb_proba(t), m.gb.predict_proba(t), atol=1e-12)
