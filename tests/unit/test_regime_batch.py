"""Batch regime replay (engine/regime/batch) = the incremental classifier, field for field.

The incremental classifier (the live path) is the oracle: every test replays the same bars both
ways and compares whole DataFrames (every column: regime, confidence, module scores and weights,
transition flags and rules, blocked reasons, checks, classes, extras), dtypes and column order
included. Parameter variants switch the branches the batch path mirrors (smoothing, persistence
windows the trimmed history cuts, hysteresis, gaps, reversals, modules switched off).
"""
from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from engine.market.simulated import SimulatedMarket
from engine.params import default_params
from engine.regime import batch
from engine.regime.batch.inputs import persistence
from engine.regime.classifier import RegimeClassifier
from engine.regime.replay import replay, replay_engine
from engine.regime.testing import edited

PS = default_params()


def _minutes(n: int, seed: int = 7) -> pd.DataFrame:
    bars, _ = SimulatedMarket(seed=seed).history(n)
    return bars[bars["symbol"] == "IDX"].rename(columns={"ts": "timestamp"}).reset_index(drop=True)


def _with_chains(n: int, seed: int = 5) -> tuple[pd.DataFrame, list]:
    m = SimulatedMarket(seed=seed, start=datetime(2026, 1, 5, 3, 45, tzinfo=UTC))
    bars, chains = [], []
    for _ in range(n):
        u = m.poll()
        bars += [b for b in u.bars if b.symbol == m.index_symbol()]
        chains += [c for c in u.chains if c.underlying == m.index_symbol()]
    df = pd.DataFrame([{"timestamp": b.ts, "open": b.open, "high": b.high, "low": b.low, "close": b.close,
                        "volume": b.volume} for b in bars])
    return df, chains


def _same(df: pd.DataFrame, ps, **kw) -> pd.DataFrame:
    assert replay_engine(ps, len(df)) == "batch"
    inc = replay(df, ps, engine="incremental", **kw)
    out = replay(df, ps, engine="batch", **kw)
    pd.testing.assert_frame_equal(out, inc)
    return out


def test_minute_bars_default_workbook() -> None:
    out = _same(_minutes(3000), PS)
    live = out[~out["warmup"]]
    assert len(live) > 2900 and live["regime_transition"].sum() > 5
    assert (live["blocked_by"] != "").any() and (live["stability_checks_passed"] != "").any()


VARIANTS = {
    "smoothing off": {("TransitionManagement", "transition_smoothing_enabled"): False},
    "long smoothing window": {("TransitionManagement", "smoothing_window"): 10},
    "longest persistence window": {("NoiseFiltering", "persistence_lookback"): 10},
    "no mean-reversion check": {("NoiseFiltering", "mean_reversion_check"): False},
    "fixed hysteresis": {("StabilityConfiguration", "adaptive_hysteresis"): False,
                         ("StabilityConfiguration", "hysteresis_buffer"): 0.15},
    "small hysteresis, relaxed gaps": {("StabilityConfiguration", "hysteresis_buffer"): 0.02,
                                       ("TransitionManagement", "gap_transition_handling"): "RELAXED"},
    "direct reversals": {("TransitionManagement", "allow_direct_reversals"): True},
    "no volume analysis": {("MasterConfiguration", "enable_volume_analysis"): False},
    "simple detection, strict gaps": {("TransitionManagement", "transition_detection_method"): "SIMPLE",
                                      ("TransitionManagement", "gap_transition_handling"): "STRICT"},
    "quick transitions": {("StabilityConfiguration", "minimum_regime_duration"): 15.0,
                          ("StabilityConfiguration", "confirmation_window"): 3.0,
                          ("StabilityConfiguration", "transition_cooldown"): 5.0},
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_parameter_variants(name: str) -> None:
    _same(_minutes(1500, seed=11), edited(PS, VARIANTS[name]))


@pytest.mark.parametrize("lookback", [3, 10, 32, 40])
def test_direction_persistence_matches_the_live_filter(lookback: int) -> None:
    """inputs.persistence (vectorised, carried across chunks) = NoiseFilter.persistent on the trimmed history."""
    nf = RegimeClassifier(PS).noise
    nf.persist_lookback = lookback  # beyond the workbook's range too: the history trimming then matters
    rng = np.random.default_rng(lookback)
    d = np.round(rng.normal(size=400), 1) * (rng.random(400) < 0.8)  # zeros and repeated signs included
    live_hist: list[float] = []
    expected = []
    for x in d.tolist():
        expected.append(nf.persistent(live_hist, x))
        live_hist.append(x)
        if len(live_hist) > 64:
            del live_hist[:-32]
    hist: list[float] = []
    got = np.concatenate([persistence(nf, hist, part) for part in np.array_split(d, 7)])
    assert got.tolist() == expected and hist == live_hist
    assert 0 < sum(expected) < len(expected)


def test_option_chains_and_their_modules() -> None:
    df, chains = _with_chains(400)
    out = _same(df, PS, chains=chains)
    assert "GreekSentimentAnalysis" in out["active_modules"].iloc[-1]
    assert out["atm_straddle"].notna().iloc[-1]


def test_stale_chains() -> None:
    df, chains = _with_chains(200, seed=3)
    out = _same(df, PS, chains=chains[:80])  # the chains stop: option modules drop out as stale
    assert "GreekSentimentAnalysis" not in out["active_modules"].iloc[-1]


def test_peers() -> None:
    bars, _ = SimulatedMarket(seed=2).history(1200)
    idx = bars[bars.symbol == "IDX"].rename(columns={"ts": "timestamp"})
    peer = bars[bars.symbol == "ALFA"].rename(columns={"ts": "timestamp"})
    out = _same(idx, PS, peers={"ALFA": peer})
    assert "CorrelationMatrix" in out["active_modules"].iloc[-1]


def test_data_gap_inside_a_session_holds_the_regime() -> None:
    df = _minutes(1500, seed=4)
    df = df.drop(index=range(900, 912)).reset_index(drop=True)  # 12 minutes missing mid-session
    out = _same(df, PS)
    assert out["blocked_by"].str.startswith("data gap").any()


def test_progress_chunks_give_the_same_answers() -> None:
    df = _minutes(3000, seed=9)
    seen: list[tuple[int, int]] = []
    out = _same(df, PS, progress=lambda d, t: seen.append((d, t)), chunk=700)
    pd.testing.assert_frame_equal(out, replay(df, PS, engine="incremental"))  # pieces of 700 = one call here
    assert seen == [(700, 3000), (1400, 3000), (2100, 3000), (2800, 3000), (3000, 3000)] * 2  # both paths


def test_unsupported_configuration_falls_back_to_incremental(monkeypatch: pytest.MonkeyPatch) -> None:
    row = next(k for k, r in enumerate(PS.to_canonical()["sheets"]["IndicatorConfiguration"]["main"])
               if r["indicator_name"] == "ATRBasedIndicators")
    ps = edited(PS, cells={("IndicatorConfiguration", "main", row, "requires_data"): ["price_data", "options_chain"]})
    assert "ATRBasedIndicators" in (batch.unsupported_reason(ps, 500) or "")
    assert replay_engine(ps, 500) == "incremental"
    df = _minutes(500)
    expected = replay(df, ps, engine="incremental")

    def refuse(*a, **k):  # the batch path must not even start
        raise AssertionError("batch path used for an unsupported configuration")

    monkeypatch.setattr(batch, "replay", refuse)
    pd.testing.assert_frame_equal(replay(df, ps), expected)
    regimes = PS.to_canonical()["sheets"]["RegimeClassification"]["main"]
    other = next(r["volatility_class"] for r in regimes if r["volatility_class"] != regimes[0]["volatility_class"])
    holed = edited(PS, cells={("RegimeClassification", "main", 0, "volatility_class"): other})  # a pair without regime
    assert "no regime for trend" in (batch.unsupported_reason(holed, 500) or "")
    assert replay_engine(holed, 500) == "incremental"
    assert replay_engine(PS, 15) == "incremental"  # too few bars to measure the interval
    pd.testing.assert_frame_equal(replay(df.iloc[:15], PS), replay(df.iloc[:15], PS, engine="incremental"))


def test_whatif_replays_through_the_batch_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Regime page's what-if runs the batch path and shows what the classifier fed the same pieces shows."""
    from webapp import regime_whatif as wi

    df, chains = _with_chains(420, seed=8)
    calls: list[int] = []
    real = batch.replay

    def counted(*a, **k):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(batch, "replay", counted)
    start = df["timestamp"].iloc[150].to_pydatetime()
    out = wi.run_whatif(df, chains, start, PS, PS, "IDX")
    assert len(calls) == 2
    clf = RegimeClassifier(PS, "IDX")
    size = -(-len(df) // wi.CHUNKS)
    outs = clf.update_many(df.iloc[:size], chains)
    for i in range(size, len(df), size):
        outs += clf.update_many(df.iloc[i:i + size])
    expected = [(o.ts, o.regime_id, o.regime_name, o.color, o.confidence, o.transition)
                for o in outs if not o.warmup and o.ts >= start]
    got = list(out["current"].itertuples(index=False, name=None))
    assert got == expected and len(got) == len(df) - 150


def test_compiled_rank_percentile_counts_like_the_window_definition() -> None:
    """batch/rank.py (used by series.rolling_rank_pct for long row sets) = the definition, row by row."""
    from engine.regime.batch.rank import rank_pct

    rng = np.random.default_rng(5)
    x = np.round(rng.normal(size=1500), 1)  # many ties
    x[rng.random(1500) < 0.05] = np.nan
    x[::97] = np.inf
    x[::89] = -0.0
    for lookback, rows in ((252, np.arange(300, 1500)), (7, np.arange(0, 600)), (40, np.array([3, 4, 5, 90, 91, 700]))):
        expected = []
        for t in rows.tolist():
            win = x[max(0, t - lookback + 1):t + 1]
            fin = win[np.isfinite(win)]
            ok = np.isfinite(x[t]) and len(fin) > 1
            expected.append(100.0 * int((fin <= x[t]).sum()) / len(fin) if ok else np.nan)
        np.testing.assert_array_equal(rank_pct(x, lookback, rows), np.array(expected))


def test_compiled_weighted_quantiles_pick_the_same_values() -> None:
    """batch/quantiles.py = a stable sort of each window and the first cumulative weight reaching q x total."""
    from engine.regime.batch.quantiles import weighted_quantiles

    rng = np.random.default_rng(6)
    vals = np.round(rng.normal(100.0, 1.0, (400, 20)), 0)  # ties: the stable order decides the cumulative sums
    wts = np.round(rng.exponential(1.0, (400, 20)), 1) * (rng.random((400, 20)) < 0.7)
    wts[:20] = 0.0
    qs = (0.16, 0.5, 0.84)
    got = weighted_quantiles(vals, wts, np.array(qs))
    for r in range(len(vals)):
        order = sorted(range(20), key=lambda j: (vals[r, j], j))
        cw = np.cumsum(wts[r, order])
        for c, q in enumerate(qs):
            want = np.nan if cw[-1] <= 0 else vals[r, order[int(np.flatnonzero(cw >= q * cw[-1])[0])]]
            assert got[r, c] == want or (np.isnan(want) and np.isnan(got[r, c])), (r, c)


def test_compiled_noise_threshold_recurrence() -> None:
    from engine.regime.batch.recur import held_ema

    rng = np.random.default_rng(7)
    x = rng.random(3000)
    x[rng.random(3000) < 0.1] = np.nan
    thr, expected = 0.4, []
    for v in x.tolist():
        if v == v:
            thr += 0.05 * (v - thr)
        expected.append(thr)
    assert held_ema(x, 0.4, 0.05).tolist() == expected


def test_reason_numbers_grouped_by_their_printed_text() -> None:
    """machine._ids: rows with one id print alike (ties, negative zero, huge and non-finite values included)."""
    from engine.regime.batch.machine import _ids

    x = np.array([0.125, 0.135, 0.005, 0.015, -0.004, -0.0, 0.0, 0.004, 2.675, 1e12, 1e12 + 0.5, np.nan, np.inf,
                  -np.inf, 0.994999999, 0.995, 0.3 - 0.1 * 3, 7.0, 6.5, 5.5, -0.5, 0.5, 1.5])
    x = np.concatenate([x, np.random.default_rng(8).normal(size=500)])
    for d in (0, 2):
        ids = _ids(x, d)
        texts: dict[int, str] = {}
        for i, v in zip(ids.tolist(), x.tolist(), strict=True):
            assert texts.setdefault(i, f"{v:.{d}f}") == f"{v:.{d}f}", (d, v)
        assert len(texts) < len(x)  # grouped, not one per row


def test_compiled_volume_profile_windows_equal_the_numpy_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    """VolumeProfileModule.profile over many rows (compiled windows, numpy's pairwise sums) = its numpy path."""
    from engine.regime.modules import volume_profile as vp

    clf = RegimeClassifier(PS)
    clf.update_many(_minutes(3000, seed=12))
    m = next(x for x in clf.modules if isinstance(x, vp.VolumeProfileModule))
    fr = clf._frame(np.arange(25, len(clf.buf)))
    fr.buf.volume[::7] = 0.0  # zero-volume bars and windows
    fr.buf.volume[100:140] = 0.0
    got = m.profile(fr)
    monkeypatch.setattr(vp, "LONG_ROWS", 10**9)  # the numpy path
    want = m.profile(fr)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
