"""The implied-volatility index input (VIX) of the volatility module: blended into V when fresh, dropped with
a reason when absent or stale (ValidationRules StaleDataCheck, 2 minutes in the reference workbook), the same in both replay paths."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.market.simulated import SimulatedMarket
from engine.params import default_params
from engine.regime import batch
from engine.regime.classifier import RegimeClassifier
from engine.regime.replay import replay
from engine.regime.series import BROWNIAN_RANGE
from engine.regime.vol_index import VolIndexBuffer

PS = default_params()


def _bars(n: int) -> pd.DataFrame:
    bars, _ = SimulatedMarket(seed=2).history(n)
    return bars[bars["symbol"] == "IDX"].rename(columns={"ts": "timestamp"}).reset_index(drop=True)


def _vix(df: pd.DataFrame, upto: int, level: float = 30.0) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": df["timestamp"].iloc[:upto], "close": np.full(upto, level)})


def test_alignment_takes_the_newest_point_at_or_before_each_bar() -> None:
    buf = VolIndexBuffer()
    ns = 60_000_000_000
    buf.add(pd.DataFrame({"timestamp": pd.to_datetime([ns, 3 * ns], utc=True), "close": [20.0, 22.0]}))
    got = buf.align(np.array([0, ns, 2 * ns, 5 * ns], dtype=np.int64))
    assert got is not None
    value, age = got
    assert np.isnan(value[0]) and value[1:].tolist() == [20.0, 20.0, 22.0] and age[1:].tolist() == [0.0, 1.0, 2.0]
    buf.trim(4 * ns)  # only the point in force at 4 min and later ones are kept
    assert buf.ts.tolist() == [3 * ns]


def test_fresh_index_is_blended_into_the_volatility_reading() -> None:
    df = _bars(400)
    clf = RegimeClassifier(PS)
    outs = clf.update_many(df, vol_index=_vix(df, 300))
    a, cw = clf.atr.a, clf.atr.cw
    c = df["close"].to_numpy()
    atr_pct = a["atr"] / c
    want_atr = atr_pct / BROWNIAN_RANGE * np.sqrt(clf.tb.bars_per_year)  # the module's own ATR vol, unblended
    assert a["vol_atr"][100:] == pytest.approx(want_atr[100:])
    assert a["vol"][100:300] == pytest.approx(cw * want_atr[100:300] + (1 - cw) * 0.30)
    assert a["vol"][300:302] == pytest.approx(cw * want_atr[300:302] + (1 - cw) * 0.30)  # 1-2 min old: fresh
    assert a["vol"][302:] == pytest.approx(want_atr[302:])  # 3+ minutes after the last point: stale (limit 2)
    det = {k: next(m for m in outs[k].modules if m.name == "ATRBasedIndicators").diagnostics for k in (200, 301, 350)}
    assert det[200]["vix"] == 30.0 and det[200]["vix_used"] and det[200]["vix_note"] == ""
    assert det[301]["vix_used"] and det[301]["vix_age_minutes"] == 2.0  # 2 minutes old: still fresh
    assert not det[350]["vix_used"] and det[350]["vix_note"] == "implied-volatility index stale (51 min old)"


def test_absent_index_says_so() -> None:
    df = _bars(200)
    out = RegimeClassifier(PS).update_many(df)[-1]
    d = next(m for m in out.modules if m.name == "ATRBasedIndicators").diagnostics
    assert d["vix"] is None and not d["vix_used"] and d["vix_note"] == "no implied-volatility index from the market source"


def test_batch_equals_incremental_with_an_index() -> None:
    df = _bars(900)
    vix = _vix(df, 700, 25.0)
    assert batch.unsupported_reason(PS, len(df)) is None
    got = replay(df, PS, engine="batch", vol_index=vix)
    pd.testing.assert_frame_equal(got, replay(df, PS, engine="incremental", vol_index=vix))
    plain = replay(df, PS, engine="batch")
    v, p = got["volatility_value"].to_numpy(), plain["volatility_value"].to_numpy()
    assert not np.allclose(v[100:700], p[100:700]) and np.allclose(v[720:], p[720:], equal_nan=True)
