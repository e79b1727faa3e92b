"""The simulated market's implied-volatility index (VIX): one point per bar, consistent with its option chain's
ATM implied vols (30-day constant maturity on the chain's term structure), not a tradable symbol."""
from __future__ import annotations

import numpy as np

from engine.market.simulated import VOL_INDEX, SimulatedMarket
from engine.market.types import OptionChain


def _chain_30d_atm(c: OptionChain) -> float:
    """Oracle from the chain alone: ATM IV per expiry (calls' IV interpolated at the forward in log-moneyness),
    then total variance linear in time through the two longest expiries, read at 30 days."""
    pts = []
    for e in np.unique(c.expiry_days):
        sel = (c.expiry_days == e) & (c.kind == "C")
        fwd = c.spot * np.exp(0.04 * e / 365.0)
        x = np.log(c.strike[sel] / fwd)
        o = np.argsort(x)
        pts.append((float(e), float(np.interp(0.0, x[o], c.iv[sel][o]))))
    (t1, v1), (t2, v2) = pts[-2], pts[-1]
    w1, w2 = v1 * v1 * t1, v2 * v2 * t2
    return float(np.sqrt((w1 + (w2 - w1) * (30.0 - t1) / (t2 - t1)) / 30.0))


def test_vix_matches_the_chains_atm_term_structure() -> None:
    m = SimulatedMarket(seed=5, minutes_per_poll=240)
    assert VOL_INDEX not in m.symbols() and m.vol_index_symbol() == VOL_INDEX
    seen = []
    for _ in range(30):
        u = m.poll()
        assert [p.ts for p in u.vol_index] == sorted({b.ts for b in u.bars})  # one point per bar, bar times
        chain = next(c for c in u.chains if c.underlying == m.index_symbol())
        vix = u.vol_index[-1]
        assert vix.ts == chain.ts and vix.symbol == VOL_INDEX
        seen.append((vix.close, 100.0 * _chain_30d_atm(chain)))
    got, want = np.array(seen).T
    assert np.abs(got - want).max() < 0.5  # vol points
    assert got.max() - got.min() > 2.0  # it follows the regimes rather than sitting still


def test_resume_continues_the_same_index() -> None:
    a = SimulatedMarket(seed=5, minutes_per_poll=60)
    first = [a.poll() for _ in range(3)]
    b = SimulatedMarket(seed=5, minutes_per_poll=60)
    b.resume_after(first[1].bars[-1].ts)
    assert [p.close for p in b.poll().vol_index] == [p.close for p in first[2].vol_index]


def test_history_gives_the_polled_index() -> None:
    m = SimulatedMarket(seed=5, minutes_per_poll=120)
    polled = [p.close for _ in range(3) for p in m.poll().vol_index]
    hist = SimulatedMarket(seed=5).vol_index_history(360)
    assert hist["close"].tolist() == polled and hist["ts"].iloc[0] == m.start
