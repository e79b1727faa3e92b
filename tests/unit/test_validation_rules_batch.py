"""ValidationRules VAL007 / VAL008 switched off: the batch replay still equals the incremental classifier (the oracle),
and the module the rule no longer protects keeps its weight where the rule would have dropped it."""
from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from engine.market.simulated import SimulatedMarket
from engine.params import default_params
from engine.regime.replay import replay, replay_engine
from engine.regime.testing import edited

PS = default_params()


def _same(df: pd.DataFrame, ps, **kw) -> pd.DataFrame:
    assert replay_engine(ps, len(df)) == "batch"
    inc = replay(df, ps, engine="incremental", **kw)
    out = replay(df, ps, engine="batch", **kw)
    pd.testing.assert_frame_equal(out, inc)
    return out


def test_zero_volume_windows_keep_the_volume_module_when_val008_is_off() -> None:
    bars, _ = SimulatedMarket(seed=7).history(1500)
    df = bars[bars["symbol"] == "IDX"].rename(columns={"ts": "timestamp"}).reset_index(drop=True)
    df.loc[900:1000, "volume"] = 0.0  # 101 bars without volume: windows of 20 bars inside have none
    on = _same(df, PS)
    off = _same(df, edited(PS, cells={("ValidationRules", "main", 7, "enabled"): False}))
    inside = slice(930, 1000)  # every window of these rows lies in the zero-volume stretch
    assert (on.loc[inside, "volume_profile_weight"] == 0.0).all()  # VAL008 on: weight renormalised away
    assert (off.loc[inside, "volume_profile_weight"] > 0.0).all()  # off: time-at-price profile, full weight
    assert (on.loc[:850, "volume_profile_weight"] == off.loc[:850, "volume_profile_weight"]).all()


def test_missing_greeks_keep_the_greek_module_when_val007_is_off() -> None:
    m = SimulatedMarket(seed=5, start=datetime(2026, 1, 5, 3, 45, tzinfo=UTC))
    bars, chains = [], []
    for _ in range(400):
        u = m.poll()
        bars += [b for b in u.bars if b.symbol == m.index_symbol()]
        chains += [c for c in u.chains if c.underlying == m.index_symbol()]
    df = pd.DataFrame([{"timestamp": b.ts, "open": b.open, "high": b.high, "low": b.low, "close": b.close,
                        "volume": b.volume} for b in bars])
    chains = [dataclasses.replace(c, gamma=np.full(len(c), np.nan)) if k >= len(chains) // 2 else c
              for k, c in enumerate(chains)]
    on = _same(df, PS, chains=chains)
    off = _same(df, edited(PS, cells={("ValidationRules", "main", 6, "enabled"): False}), chains=chains)
    last = on.index[-1]
    assert "GreekSentimentAnalysis" not in on.loc[last, "active_modules"]  # VAL007: excluded, gamma missing
    assert "GreekSentimentAnalysis" in off.loc[last, "active_modules"]
