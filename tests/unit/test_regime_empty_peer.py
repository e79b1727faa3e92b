"""A peer symbol without any bar (a symbol the data feed has not traded yet) must not stop the classifier.

Found running the engine on an Alpaca source: every market tick failed with IndexError while one of the
default symbols had no bars on the fake feed, so no regime was ever stored.
"""
from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from engine.params import default_params
from engine.regime.classifier import RegimeClassifier
from engine.regime.testing import ohlcv


def test_a_peer_without_bars_is_no_input_not_an_error() -> None:
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(0.0005 * rng.standard_normal(200)))
    df = ohlcv(close, start=datetime(2026, 3, 2, 14, 30, tzinfo=UTC))
    empty = df.iloc[0:0]
    outs = RegimeClassifier(default_params(), "SPY").update_many(df, None, peers={"QQQ": empty, "P": df})
    assert len(outs) == 200
    with_empty = RegimeClassifier(default_params(), "SPY").update_many(df, None, peers={"QQQ": empty})
    without = RegimeClassifier(default_params(), "SPY").update_many(df, None)
    assert [o.regime_id for o in with_empty] == [o.regime_id for o in without], "an empty peer changes nothing"
