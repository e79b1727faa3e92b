"""ValidationRules VAL007-VAL009 (and the conditions of VAL010 / VAL011) drive the engine: each rule's `enabled` flag switches its protection on or off and
its condition's number is read (or refused with the cell when the engine cannot read it).

Expectations are computed here by hand or with numpy (quantiles of the window, signs of its returns), never by the
module under test."""
from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from engine.params import default_params
from engine.params.catalog import apply_edits
from engine.regime.modules.greeks import GreekSentimentModule
from engine.regime.modules.iv_surface import ABNORMAL_CAP, IVSurfaceModule
from engine.regime.modules.volume_profile import VolumeProfileModule
from engine.regime.testing import chain, edited, frame_for, ohlcv

PS = default_params()
T0 = datetime(2026, 1, 5, 3, 45, tzinfo=UTC)
ROW = {"disable_greek_sentiment": 6, "adjust_volume_weight": 7, "cap_iv_contribution": 8, "trigger_gc": 9,
       "reduce_computation": 10}


def _rule(action: str, **cells: object):
    return edited(PS, cells={("ValidationRules", "main", ROW[action], k): v for k, v in cells.items()})


def _run(module, chains: list, close: np.ndarray) -> list:
    frame = frame_for(ohlcv(close), PS)
    module.prepare(frame)
    first = len(close) - len(chains)
    return [module.step(first + k, c, frame) for k, c in enumerate(chains)]


# -- VAL007 disable_greek_sentiment ---------------------------------------------------------------------------
def test_greeks_missing_excludes_the_greek_module_naming_the_rule() -> None:
    good = chain(100.0, T0)
    no_gamma = dataclasses.replace(good, gamma=np.full(len(good), np.nan))  # delta present, gamma missing
    res = _run(GreekSentimentModule(PS), [no_gamma], np.full(40, 100.0))[-1]
    assert not res.active
    assert "gamma" in res.reason_if_inactive and "(VAL007 GreekDataCheck, WARNING)" in res.reason_if_inactive


def test_greeks_missing_with_the_rule_off_reads_them_as_zero() -> None:
    good = chain(100.0, T0)
    nan = np.full(len(good), np.nan)
    bare = dataclasses.replace(good, delta=nan, gamma=nan, vega=nan, theta=nan)
    res = _run(GreekSentimentModule(_rule("disable_greek_sentiment", enabled=False)), [bare],
               np.full(40, 100.0))[-1]
    # every Greek read as 0: net delta and every share 0, so the level is 0, the baseline [0] and the score 0
    assert res.active and res.score == 0.0
    assert res.diagnostics["level"] == 0.0 and res.diagnostics["greeks_missing"] == "delta, gamma, vega, theta"


# -- VAL008 adjust_volume_weight -------------------------------------------------------------------------------
def _zero_volume_scores(ps):
    close = 100.0 * 1.001 ** np.arange(60)  # every return positive
    df = ohlcv(close, volume=0.0)
    frame = frame_for(df, ps)
    m = VolumeProfileModule(ps)
    m.prepare(frame)
    return df, m, m.step(59, None, frame)


def test_zero_volume_window_drops_the_volume_module_naming_the_rule() -> None:
    _, _, res = _zero_volume_scores(PS)
    assert not res.active and res.reason_if_inactive.endswith("(VAL008 VolumeDataCheck, WARNING)")


def test_zero_volume_with_the_rule_off_profiles_time_at_price() -> None:
    df, m, res = _zero_volume_scores(_rule("adjust_volume_weight", enabled=False))
    n = m.periods  # 20 bars, value area 0.68, POC weight 0.7 (IndicatorConfiguration)
    tp = ((df["high"] + df["low"] + df["close"]) / 3).to_numpy()[-n:]
    val, poc, vah = np.quantile(tp, [(1 - m.value_area) / 2, 0.5, (1 + m.value_area) / 2], method="inverted_cdf")
    close = float(df["close"].iloc[-1])
    imbalance = 1.0  # every bar of the window rose: the mean sign of its returns
    want = m.poc_weight * np.tanh((close - poc) / ((vah - val) / 2)) + (1 - m.poc_weight) * imbalance
    assert res.active and res.score == pytest.approx(min(1.0, want), abs=1e-12)
    assert res.diagnostics["poc"] == pytest.approx(poc) and res.diagnostics["profile"] == "time_at_price"
    assert res.diagnostics["volume_profile"] == "above_value"  # the last close tops a rising window


# -- VAL009 cap_iv_contribution --------------------------------------------------------------------------------
def _jump() -> list:
    seq = [chain(100.0, T0 + timedelta(minutes=k), atm_iv=0.2 + 0.001 * (k % 2)) for k in range(20)]
    # ATM IV falls to 0.1 (z about -200), contango and a call-rich smile: a bullish reading above the cap
    return [*seq, chain(100.0, T0 + timedelta(minutes=20), atm_iv=0.1, term=0.3, skew=0.3)]


def test_abnormal_iv_is_capped_only_while_the_rule_is_on() -> None:
    close = np.full(60, 100.0)
    free = _run(IVSurfaceModule(_rule("cap_iv_contribution", enabled=False)), _jump(), close)[-1]
    capped = _run(IVSurfaceModule(PS), _jump(), close)[-1]
    assert free.score > ABNORMAL_CAP and "validation" not in free.diagnostics  # the rule off: not capped
    assert capped.score == ABNORMAL_CAP == min(free.score, 0.5)
    z = capped.diagnostics["iv_zscore"]
    assert z < -2.5 and f"z {z:+.2f} beyond 2.5 sigma" in capped.diagnostics["validation"]
    assert capped.diagnostics["validation"].endswith("(VAL009 IVDataCheck, WARNING)")


def test_the_iv_condition_number_sets_the_sigma_limit() -> None:
    close = np.full(60, 100.0)
    free = _run(IVSurfaceModule(_rule("cap_iv_contribution", enabled=False)), _jump(), close)[-1]
    z = abs(free.diagnostics["iv_zscore"])
    above = _run(IVSurfaceModule(_rule("cap_iv_contribution", condition=f"iv_abnormal>{z * 2:.0f}")), _jump(),
                 close)[-1]
    below = _run(IVSurfaceModule(_rule("cap_iv_contribution", condition=f"iv_abnormal>{z / 2:.0f}")), _jump(),
                 close)[-1]
    assert above.score == free.score > ABNORMAL_CAP  # z is under the condition's limit: not capped
    assert below.score == ABNORMAL_CAP


# -- the condition grammar, cell by cell -----------------------------------------------------------------------
@pytest.mark.parametrize("action,text,words", [
    ("trigger_gc", "memory>1500", "memory>1500MB"),
    ("trigger_gc", "memory<1500MB", "memory>1500MB"),
    ("reduce_computation", "latency>300", "latency>300ms"),
    ("reduce_computation", "latency>0ms", "zero or less"),
    ("cap_iv_contribution", "iv_abnormal>3%", "iv_abnormal>3"),
])
def test_a_limit_the_engine_cannot_read_is_refused_at_its_cell(action: str, text: str, words: str) -> None:
    r = apply_edits(PS, cells={("ValidationRules", "main", ROW[action], "condition"): text})
    issues = [str(i) for i in r.issues]
    cell = f"ValidationRules!C{ROW[action] + 2}:"
    assert r.paramset is None
    assert any(i.startswith(cell) and repr(text) in i and action in i and words in i for i in issues), issues
