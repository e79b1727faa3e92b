"""Classifier-level rules: hysteresis, intraday slots, parameter consumption."""
from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from engine.params import default_params, track_reads
from engine.regime import candidate
from engine.regime.classifier import RegimeClassifier
from engine.regime.intraday import IntradayClock, restricted_match
from engine.regime.quality import score
from engine.regime.replay import records
from engine.regime.series import local_clock
from engine.regime.testing import chain, edited, ohlcv

PS = default_params()


def test_volatility_hysteresis_keeps_the_current_class_near_a_boundary() -> None:
    clf = RegimeClassifier(PS)
    f = clf.formation
    cur = f.by_name["Neutral_Med_Vol"]  # Medium: 0.12-0.25
    h = clf.stability.hysteresis  # 0.05 -> must clear 0.25 * 1.05
    assert candidate.vol_with_hysteresis(clf.formation, 0.255, cur, h).name == "Medium"
    assert candidate.vol_with_hysteresis(clf.formation, 0.27, cur, h).name == "High"
    assert candidate.vol_with_hysteresis(clf.formation, 0.255, None, h).name == "High"
    wide = RegimeClassifier(edited(PS, {("StabilityConfiguration", "hysteresis_buffer"): 0.15}))
    assert candidate.vol_with_hysteresis(wide.formation, 0.27, cur, wide.stability.hysteresis).name == "Medium"


def test_trend_hysteresis() -> None:
    clf = RegimeClassifier(PS)
    cur = clf.formation.by_name["Neutral_Med_Vol"]
    assert candidate.trend_with_hysteresis(clf.formation, 0.00305, 25, {}, cur, 0.05).name == "Neutral"
    assert candidate.trend_with_hysteresis(clf.formation, 0.0035, 25, {}, cur, 0.05).name == "Bullish"


def test_intraday_slots_in_market_timezone_and_restrictions() -> None:
    clock = IntradayClock(PS)
    ts = np.array([np.datetime64("2026-01-05T03:50:00", "ns").astype(np.int64),   # 09:20 IST
                   np.datetime64("2026-01-05T07:30:00", "ns").astype(np.int64)])  # 13:00 IST
    _, minute = local_clock(ts, clock.tz)
    slots = [clock.slot(int(k)) for k in clock.slot_index(minute, True)]
    assert [s.name for s in slots] == ["OpeningBell", "LunchHour"]
    assert slots[0].sensitivity == 2.0
    assert restricted_match(slots[1].restricted, "Strong_Bullish", "Strong_Bullish_Med_Vol", True)
    assert not restricted_match(slots[1].restricted, "Bullish", "Bullish_Med_Vol", True)
    clf = RegimeClassifier(PS)
    f = clf.formation
    demoted = candidate.demote(clf.formation, f.trend_by_name["Strong_Bullish"], f.vol_by_name["Medium"], slots[1].restricted)
    assert demoted.name == "Bullish"


def test_every_used_regime_parameter_is_read() -> None:
    """Consumption honesty: each workbook field the schema marks as consumed by the regime engine is read."""
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(0.0005 * rng.standard_normal(400)))
    df = ohlcv(close, start=datetime(2026, 1, 5, 3, 45, tzinfo=UTC))
    chains = [chain(float(c), t.to_pydatetime()) for c, t in zip(close[-30:], df["timestamp"].iloc[-30:], strict=True)]
    peer = df.assign(close=df["close"] * 1.01)
    with track_reads() as reads:
        clf = RegimeClassifier(PS, "T")
        recs = records(clf.update_many(df, chains, peers={"P": peer}), PS)
        truth = recs[["timestamp"]].assign(trend="up", volatility="low")
        score(recs, truth, PS)
        from engine.regime.cli import format_frame
        format_frame(recs, PS)
    # the ensemble and the regime dynamics run outside the classifier (their own engine job, the Regime page):
    # tests/integration/test_params_consumption.py runs them and proves their fields are read
    outside = ("engine.regime.ensemble", "engine.regime.dynamics")
    missing = [x for x in reads.unread_used() if x[3].startswith("engine.regime") and not x[3].startswith(outside)]
    assert missing == []


def test_disabled_modules_drop_out_and_weights_follow() -> None:
    rng = np.random.default_rng(1)
    close = 100 * np.exp(np.cumsum(0.0005 * rng.standard_normal(200)))
    df = ohlcv(close)
    chains = [chain(float(c), t.to_pydatetime()) for c, t in zip(close[-5:], df["timestamp"].iloc[-5:], strict=True)]
    ps = edited(PS, {("MasterConfiguration", "enable_greek_analysis"): False},
                cells={("IndicatorConfiguration", "main", 4, "enabled"): False,  # ATRBasedIndicators
                       ("IndicatorConfiguration", "main", 5, "weight"): 0.25})  # enabled weights must sum to 1
    out = RegimeClassifier(ps).update_many(df, chains)[-1]
    reasons = {m.name: m.reason_if_inactive for m in out.modules if not m.active}
    assert "MasterConfiguration" in reasons["GreekSentimentAnalysis"]
    assert "IndicatorConfiguration" in reasons["ATRBasedIndicators"]
    assert out.regime_id >= 0  # ATR still feeds volatility and ADX; only its vote is gone
    assert sum(m.weight for m in out.modules) == pytest.approx(1.0)
    assert {"TrendingOIPA", "IVSurfaceAnalysis", "MultiTimeframeAnalysis"} <= set(out.active_modules)
