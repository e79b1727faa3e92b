"""Batch regime replay = incremental classifier on long histories (>= 20,000 bars each kind), under the
default workbook and the real user's workbook loaded through the params importer.

Long enough that the classifier's buffer (MAX_BUFFER bars, fed in pieces of half of it) rolls many
times, so the batch path's chunking, carried state (stability, smoothing and persistence histories)
and buffer-start effects are all exercised. The incremental classifier is the oracle.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.market.simulated import SimulatedMarket
from engine.params import default_params
from engine.params.testing import REFERENCE
from engine.params.workbook import load_workbook_params
from engine.regime.classifier import MAX_BUFFER
from engine.regime.replay import replay, replay_engine

pytestmark = pytest.mark.slow


def _workbooks() -> dict[str, object]:
    return {"default": default_params(), "reference": load_workbook_params(REFERENCE, sandbox=False)}


def _daily(raw: pd.DataFrame, hour: int = 21) -> pd.DataFrame:
    ts = pd.to_datetime(raw.index).tz_localize("UTC") + pd.Timedelta(hours=hour)
    if "Open" in raw.columns:
        cols = {"open": raw["Open"], "high": raw["High"], "low": raw["Low"], "close": raw["Close"],
                "volume": raw["Volume"].astype(float)}
    else:  # a close-only series (WTI, VIX, monthly): every price is the close, no volume
        c = raw.iloc[:, 0].astype(float)
        cols = {"open": c, "high": c, "low": c, "close": c, "volume": 0.0}
    return pd.DataFrame({"timestamp": ts, **{k: np.asarray(v, dtype=float) if not np.isscalar(v) else v
                                            for k, v in cols.items()}})


def _real_series() -> dict[str, pd.DataFrame]:
    """Real market data shipped with the arch package: 4 daily series and 3 monthly ones."""
    import arch.data.crude
    import arch.data.frenchdata
    import arch.data.nasdaq
    import arch.data.sp500
    import arch.data.vix
    import arch.data.wti

    crude = arch.data.crude.load()
    ff = arch.data.frenchdata.load()
    market = pd.DataFrame({"index": 100.0 * np.cumprod(1.0 + (ff["Mkt-RF"] + ff["RF"]).to_numpy() / 100.0)},
                          index=pd.date_range("1926-07-31", periods=len(ff), freq="ME"))
    return {"S&P 500": _daily(arch.data.sp500.load()), "NASDAQ": _daily(arch.data.nasdaq.load()),
            "WTI": _daily(arch.data.wti.load()), "VIX": _daily(arch.data.vix.load()),
            "Brent monthly": _daily(crude[["Brent"]]), "WTI monthly": _daily(crude[["WTI"]]),
            "US market monthly (Fama-French)": _daily(market)}


@pytest.mark.parametrize("workbook", ["default", "reference"])
def test_simulated_minute_bars(workbook: str) -> None:
    ps = _workbooks()[workbook]
    bars, _ = SimulatedMarket(seed=13).history(24_000)
    df = bars[bars["symbol"] == "IDX"].rename(columns={"ts": "timestamp"}).reset_index(drop=True)
    assert len(df) >= 20_000 >= 4 * MAX_BUFFER
    assert replay_engine(ps, len(df)) == "batch"
    out = replay(df, ps)
    pd.testing.assert_frame_equal(out, replay(df, ps, engine="incremental"))
    assert out["regime_transition"].sum() > 20 and out["regime_name"].nunique() >= 4


@pytest.mark.parametrize("workbook", ["default", "reference"])
def test_real_market_data(workbook: str) -> None:
    ps = _workbooks()[workbook]
    total = 0
    for name, df in _real_series().items():
        out = replay(df, ps, symbol=name)
        pd.testing.assert_frame_equal(out, replay(df, ps, symbol=name, engine="incremental"), obj=name)
        total += len(out)
        assert out["regime_transition"].sum() > 0, name
    assert total >= 20_000
