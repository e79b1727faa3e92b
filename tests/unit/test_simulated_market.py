"""The simulated market: determinism, restart, regime structure, and option-chain behaviour."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from engine.market.options import bs_price
from engine.market.simulated import SimulatedMarket
from engine.market.types import MarketDataError, MarketSource

SYMS = ["IDX", "ALFA", "BRVO", "CHRL", "DLTA", "ECHO", "FXTR", "GOLF", "HOTL"]


def _polls(market: SimulatedMarket, n: int):
    return [market.poll() for _ in range(n)]


@pytest.fixture(scope="module")
def history():
    bars, regimes = SimulatedMarket(seed=7).history(60_000)
    wide = bars.pivot(index="ts", columns="symbol", values="close")
    return bars, regimes, wide


def test_is_a_market_source_with_the_documented_universe():
    m = SimulatedMarket()
    src: MarketSource = m
    assert src.symbols() == SYMS
    assert src.index_symbol() == "IDX"
    assert m.option_underlyings() == ["IDX", "ALFA"]
    up = src.poll()
    assert [b.symbol for b in up.bars] == SYMS
    assert all(b.ts == datetime(2026, 1, 5, 14, 30, tzinfo=UTC) for b in up.bars)
    assert 4000 < up.bars[0].close < 6000 and all(15 < b.close < 500 for b in up.bars[1:])
    assert len(up.true_regimes) == 1 and up.true_regimes[0].trend in {"up", "down", "sideways"}
    assert [c.underlying for c in up.chains] == ["IDX", "ALFA"]
    assert len(up.chains[0]) == 3 * 41 * 2


def test_bars_are_consistent_ohlcv_one_minute_apart():
    ups = _polls(SimulatedMarket(seed=3), 200)
    ts = [u.bars[0].ts for u in ups]
    assert all(b - a == timedelta(minutes=1) for a, b in zip(ts, ts[1:], strict=False))
    for u in ups:
        for b in u.bars:
            assert b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high
            assert b.volume > 0
    # Each bar opens at the previous close: no invented gaps.
    closes = [u.bars[1].close for u in ups]
    opens = [u.bars[1].open for u in ups]
    assert opens[1:] == closes[:-1]


def test_same_seed_same_bars_and_different_seed_different_bars():
    a = _polls(SimulatedMarket(seed=11), 120)
    b = _polls(SimulatedMarket(seed=11), 120)
    c = _polls(SimulatedMarket(seed=12), 120)
    assert [u.bars for u in a] == [u.bars for u in b]
    assert [u.true_regimes for u in a] == [u.true_regimes for u in b]
    for ua, ub in zip(a, b, strict=True):
        for ca, cb in zip(ua.chains, ub.chains, strict=True):
            np.testing.assert_array_equal(ca.open_interest, cb.open_interest)
            np.testing.assert_array_equal(ca.iv, cb.iv)
    assert [u.bars for u in a] != [u.bars for u in c]


def test_poll_cadence_does_not_change_the_path():
    one = _polls(SimulatedMarket(seed=5), 50)
    five = _polls(SimulatedMarket(seed=5, minutes_per_poll=5), 10)
    assert [b for u in one for b in u.bars] == [b for u in five for b in u.bars]
    assert all(len(u.true_regimes) == 5 for u in five)
    # A chain is priced at the close of a poll's last bar, the same numbers at either cadence.
    np.testing.assert_array_equal(one[49].chains[0].open_interest, five[9].chains[0].open_interest)
    np.testing.assert_array_equal(one[49].chains[0].price, five[9].chains[0].price)
    sparse = _polls(SimulatedMarket(seed=5, chain_every=3), 9)
    assert [len(u.chains) for u in sparse] == [0, 0, 2, 0, 0, 2, 0, 0, 2]


@pytest.mark.parametrize(("stop", "per_poll"), [(1, 1), (2_999, 13), (6_007, 240)])
def test_resume_after_continues_exactly_like_an_uninterrupted_run(stop, per_poll):
    live = SimulatedMarket(seed=9, minutes_per_poll=per_poll)
    seen = []
    while not seen or seen[-1] < live.ts_of(stop):
        seen.extend(b.ts for b in live.poll().bars)
    last = max(seen)
    n_after = max(3, 120 // per_poll)  # a couple of hours of continuation
    expected = _polls(live, n_after)
    restarted = SimulatedMarket(seed=9, minutes_per_poll=live.minutes_per_poll)
    restarted.resume_after(last)
    got = _polls(restarted, n_after)
    assert [u.bars for u in got] == [u.bars for u in expected]
    assert [u.true_regimes for u in got] == [u.true_regimes for u in expected]
    assert got[0].bars[0].ts == last + timedelta(minutes=1)
    for ug, ue in zip(got, expected, strict=True):
        assert len(ug.chains) == len(ue.chains)
        for cg, ce in zip(ug.chains, ue.chains, strict=True):
            for f in ("strike", "expiry_days", "iv", "price", "delta", "open_interest", "volume"):
                np.testing.assert_array_equal(getattr(cg, f), getattr(ce, f), err_msg=f)


def test_resume_after_none_restarts_and_bad_timestamps_are_refused():
    m = SimulatedMarket()
    first = m.poll().bars
    _polls(m, 3)
    m.resume_after(None)
    assert m.poll().bars == first
    # SQLite hands timestamps back without a zone: naive means UTC.
    m.resume_after(datetime(2026, 1, 5, 14, 31))
    assert m.poll().bars[0].ts == datetime(2026, 1, 5, 14, 32, tzinfo=UTC)
    with pytest.raises(MarketDataError, match="not a bar of this simulation"):
        m.resume_after(datetime(2026, 1, 5, 14, 30, 30, tzinfo=UTC))
    with pytest.raises(MarketDataError, match="not a bar of this simulation"):
        m.resume_after(datetime(2025, 1, 1, tzinfo=UTC))


def test_history_matches_what_polling_produces():
    bars, regimes = SimulatedMarket(seed=4).history(30)
    polled = _polls(SimulatedMarket(seed=4), 30)
    flat = [b for u in polled for b in u.bars]
    assert list(bars.columns) == ["ts", "symbol", "open", "high", "low", "close", "volume"]
    assert bars["close"].tolist() == [b.close for b in flat]
    assert bars["symbol"].tolist() == [b.symbol for b in flat]
    assert regimes["trend"].tolist() == [r.trend for u in polled for r in u.true_regimes]


def test_regimes_persist_and_high_vol_is_clearly_more_volatile(history):
    _, regimes, wide = history
    vol = regimes["volatility"].to_numpy()
    trend = regimes["trend"].to_numpy()
    # Persistence: regimes last tens to hundreds of minutes on average.
    for codes in (vol, trend):
        mean_run = len(codes) / (1 + np.count_nonzero(codes[1:] != codes[:-1]))
        assert 30 < mean_run < 400
    assert set(vol) == {"low", "medium", "high"} and set(trend) == {"up", "down", "sideways"}
    ret = np.diff(np.log(wide["IDX"].to_numpy()))
    v, t = vol[1:], trend[1:]
    rv = {s: ret[v == s].std() * np.sqrt(252 * 390) for s in ("low", "medium", "high")}
    assert rv["high"] / rv["low"] > 2.0
    assert rv["low"] < rv["medium"] < rv["high"]
    assert 0.05 < rv["low"] < 0.12 and 0.3 < rv["high"] < 0.5
    # Drift: up segments rise, down segments fall, both far outside noise.
    up, down = ret[t == "up"], ret[t == "down"]
    assert up.mean() > 3 * up.std() / np.sqrt(up.size)
    assert down.mean() < -3 * down.std() / np.sqrt(down.size)
    assert abs(ret[t == "sideways"].mean()) < up.mean() / 3


def test_stocks_follow_the_index_and_volume_rises_with_volatility(history):
    bars, regimes, wide = history
    rets = np.diff(np.log(wide.to_numpy()), axis=0)
    corr = np.corrcoef(rets.T)
    idx = list(wide.columns).index("IDX")
    others = [i for i in range(len(wide.columns)) if i != idx]
    assert all(corr[idx, i] > 0.3 for i in others)
    idx_vol = bars.loc[bars.symbol == "IDX", "volume"].to_numpy()
    v = regimes["volatility"].to_numpy()
    assert idx_vol[v == "high"].mean() > 1.5 * idx_vol[v == "low"].mean()
    # Big moves trade more than quiet minutes within the same regime.
    med = v[1:] == "medium"
    moves = np.abs(rets[:, idx])[med]
    vol_med = idx_vol[1:][med]
    assert vol_med[moves > np.quantile(moves, 0.9)].mean() > 1.3 * vol_med[moves < np.quantile(moves, 0.1)].mean()


def _chain_in(vol_state: str, regimes: pd.DataFrame, seed: int = 7):
    """The IDX chain at a minute deep inside a long spell of the given volatility regime."""
    v = (regimes["volatility"] == vol_state).to_numpy()
    run = pd.Series(v).groupby((~pd.Series(v)).cumsum()).cumcount().to_numpy()  # minutes into the spell
    minute = int(np.flatnonzero(run >= 60)[0])
    m = SimulatedMarket(seed=seed)
    m.resume_after(m.ts_of(minute - 1))
    return m.poll().chains[0]


def _atm_iv(chain, days_rank: int) -> float:
    exp = np.unique(chain.expiry_days)[days_rank]
    sel = (chain.expiry_days == exp) & (chain.kind == "C")
    i = np.argmin(np.abs(chain.strike[sel] - chain.spot))
    return float(chain.iv[sel][i])


def test_chain_prices_obey_parity_and_greeks_are_sane():
    chain = SimulatedMarket().poll().chains[0]
    t = chain.expiry_days / 365.0
    calls, puts = chain.kind == "C", chain.kind == "P"
    np.testing.assert_array_equal(chain.strike[calls], chain.strike[puts])
    # The smile is a function of strike, so a call and a put at one strike share an IV and parity holds.
    np.testing.assert_array_equal(chain.iv[calls], chain.iv[puts])
    parity = chain.spot - chain.strike[calls] * np.exp(-0.04 * t[calls])
    np.testing.assert_allclose(chain.price[calls] - chain.price[puts], parity, rtol=0, atol=1e-8)
    c = bs_price(chain.spot, chain.strike[calls], t[calls], chain.iv[calls], "C", 0.04)
    np.testing.assert_allclose(chain.price[calls], c, rtol=1e-12)
    assert np.all((chain.delta[calls] > 0) & (chain.delta[calls] < 1))
    assert np.all((chain.delta[puts] < 0) & (chain.delta[puts] > -1))
    assert np.all(chain.gamma > 0) and np.all(chain.vega > 0) and np.all(chain.open_interest >= 0)
    assert sorted(np.unique(np.round(chain.expiry_days))) == sorted({round(d) for d in chain.expiry_days})
    assert len(np.unique(chain.expiry_days)) == 3
    step = np.diff(np.unique(chain.strike))
    assert np.allclose(step, step[0]) and 0.002 < step[0] / chain.spot < 0.01


def test_skew_is_negative_and_iv_level_and_term_structure_follow_the_regime(history):
    _, regimes, _ = history
    calm, wild = _chain_in("low", regimes), _chain_in("high", regimes)
    for chain in (calm, wild):
        front = chain.expiry_days == chain.expiry_days.min()
        puts = front & (chain.kind == "P")
        otm = puts & (chain.strike < chain.spot * 0.97)
        assert chain.iv[otm].min() > _atm_iv(chain, 0), "OTM puts must be richer than ATM"
    assert _atm_iv(wild, 0) > 1.8 * _atm_iv(calm, 0)
    assert _atm_iv(calm, 2) > _atm_iv(calm, 0)  # contango when calm
    assert _atm_iv(wild, 2) < _atm_iv(wild, 0)  # backwardation when wild

    def skew(c):
        """Front-expiry put IV over ATM IV at 1.5 standard deviations below the forward."""
        front = (c.expiry_days == c.expiry_days.min()) & (c.kind == "P")
        t = c.expiry_days[front][0] / 365.0
        atm = _atm_iv(c, 0)
        y = np.log(c.strike[front] / (c.spot * np.exp(0.04 * t))) / (atm * np.sqrt(t))
        return float(np.interp(-1.5, y, c.iv[front]) / atm)

    assert skew(wild) > skew(calm) > 1.05  # negative skew, steeper when volatility is high


def test_open_interest_builds_with_the_trend():
    """Rising prices build call OI relative to puts near the money; falling prices the reverse."""
    m = SimulatedMarket(seed=21, minutes_per_poll=10)
    prev, prev_spot = None, 0.0
    d_price, d_bias = [], []
    for _ in range(300):
        chain = m.poll().chains[0]
        expiry_abs = np.rint(chain.expiry_days * 1440).astype(np.int64) + (chain.ts - m.start).seconds // 60
        near = np.abs(chain.strike / chain.spot - 1) < 0.02
        key = (expiry_abs * 10_000_000 + np.rint(chain.strike).astype(np.int64) * 2 + (chain.kind == "C"))[near]
        bias = np.where(chain.kind == "C", 1.0, -1.0)[near]
        cur = (key, chain.open_interest[near], bias)
        if prev is not None:
            _, i, j = np.intersect1d(cur[0], prev[0], return_indices=True)
            if i.size:
                d_price.append(np.log(chain.spot / prev_spot))
                d_bias.append(float(np.sum((cur[1][i] - prev[1][j]) * cur[2][i])))
        prev, prev_spot = cur, chain.spot
    assert len(d_price) > 250
    assert np.std(d_bias) > 0, "open interest must evolve"
    assert np.corrcoef(d_price, d_bias)[0, 1] > 0.3
