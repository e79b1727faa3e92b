"""The regime classifier end to end: batch = incremental, no look-ahead, degradation, real daily data, CLI."""
from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from engine.market.simulated import SimulatedMarket
from engine.params import default_params
from engine.regime.classifier import RegimeClassifier
from engine.regime.cli import main as cli_main
from engine.regime.replay import records, replay

PS = default_params()


def _sim(n: int, seed: int = 3, with_chains: bool = False):
    m = SimulatedMarket(seed=seed, start=datetime(2026, 1, 5, 3, 45, tzinfo=UTC))
    bars, chains = [], []
    for _ in range(n):
        u = m.poll()
        bars += [b for b in u.bars if b.symbol == m.index_symbol()]
        chains += [c for c in u.chains if c.underlying == m.index_symbol()]
    return bars, (chains if with_chains else None)


def _sp500() -> pd.DataFrame:
    import arch.data.sp500

    raw = arch.data.sp500.load().reset_index()
    ts = pd.to_datetime(raw["Date"]).dt.tz_localize("UTC") + pd.Timedelta(hours=21)  # the daily close
    return pd.DataFrame({"timestamp": ts, "open": raw["Open"], "high": raw["High"], "low": raw["Low"],
                         "close": raw["Close"], "volume": raw["Volume"].astype(float)})


def test_batch_equals_incremental_price_only_3000_bars() -> None:
    bars, _ = _sim(3000)
    batch = records(RegimeClassifier(PS, "IDX").update_many(bars), PS)
    clf = RegimeClassifier(PS, "IDX")
    inc = records([clf.update(b) for b in bars], PS)
    pd.testing.assert_frame_equal(batch, inc)
    assert batch["regime_transition"].sum() > 0


def test_batch_equals_incremental_with_option_chains() -> None:
    bars, chains = _sim(700, seed=5, with_chains=True)
    batch = RegimeClassifier(PS, "IDX").update_many(bars, chains)
    clf = RegimeClassifier(PS, "IDX")
    inc = [clf.update(b, c) for b, c in zip(bars, chains, strict=True)]
    pd.testing.assert_frame_equal(records(batch, PS), records(inc, PS))
    assert [o.module_details() for o in batch[-50:]] == [o.module_details() for o in inc[-50:]]
    last = inc[-1]
    assert len(last.active_modules) == 7  # all but CorrelationMatrix (a single asset)
    assert sum(m.weight for m in last.modules) == pytest.approx(1.0)


def test_windows_of_history_give_the_same_answers() -> None:
    """The live path may pass a trailing window each cycle; bars already seen are ignored."""
    bars, _ = _sim(400)
    df = pd.DataFrame([{"timestamp": b.ts, "open": b.open, "high": b.high, "low": b.low, "close": b.close,
                        "volume": b.volume} for b in bars])
    clf = RegimeClassifier(PS, "IDX")
    outs = [clf.update(df.iloc[max(0, k - 100):k + 1]) for k in range(len(df))]
    pd.testing.assert_frame_equal(records(outs, PS), replay(df, PS, symbol="IDX"))


def test_no_look_ahead() -> None:
    bars, _ = _sim(900, seed=11)
    full = records(RegimeClassifier(PS, "IDX").update_many(bars), PS)
    part = records(RegimeClassifier(PS, "IDX").update_many(bars[:600]), PS)
    pd.testing.assert_frame_equal(full.iloc[:600].reset_index(drop=True), part)


def test_degradation_price_only_and_zero_volume() -> None:
    bars, _ = _sim(300)
    out = RegimeClassifier(PS, "IDX").update_many(bars)[-1]
    assert set(out.active_modules) == {"ATRBasedIndicators", "MultiTimeframeAnalysis", "VolumeProfileAnalysis"}
    inactive = {m.name: m.reason_if_inactive for m in out.modules if not m.active}
    assert "no option chain" in inactive["GreekSentimentAnalysis"]
    assert "single asset" in inactive["CorrelationMatrix"]
    assert sum(m.weight for m in out.modules) == pytest.approx(1.0)
    assert all(m.weight == 0.0 for m in out.modules if not m.active)
    no_vol = [type(b)(b.symbol, b.ts, b.open, b.high, b.low, b.close, 0.0) for b in bars]
    out2 = RegimeClassifier(PS, "IDX").update_many(no_vol)[-1]
    assert "VolumeProfileAnalysis" not in out2.active_modules
    assert out2.regime_id >= 0 and sum(m.weight for m in out2.modules) == pytest.approx(1.0)


def test_stale_chain_drops_option_modules() -> None:
    bars, chains = _sim(120, with_chains=True)
    out = RegimeClassifier(PS, "IDX").update_many(bars, chains[:60])  # chains stop at minute 60
    assert "GreekSentimentAnalysis" in out[61].active_modules
    late = {m.name: m.reason_if_inactive for m in out[-1].modules}
    assert "stale" in late["GreekSentimentAnalysis"] and "StaleDataCheck" in late["GreekSentimentAnalysis"]


def test_peers_activate_correlation() -> None:
    m = SimulatedMarket(seed=2)
    bars, _ = m.history(400)
    idx = bars[bars.symbol == "IDX"].rename(columns={"ts": "timestamp"})
    peer = bars[bars.symbol == "ALFA"].rename(columns={"ts": "timestamp"})
    out = replay(idx, PS, peers={"ALFA": peer})
    assert out["correlation"].notna().iloc[-1] and "CorrelationMatrix" in out["active_modules"].iloc[-1]


def test_real_sp500_daily_history_is_classified_sensibly() -> None:
    out = replay(_sp500(), PS, symbol="SPX")
    live = out[~out["warmup"]]
    assert len(live) > 4900 and set(live["active_modules"].iloc[-1].split(",")) == {
        "ATRBasedIndicators", "MultiTimeframeAnalysis", "VolumeProfileAnalysis"}
    year = live["timestamp"].dt.year
    crash = live[(live["timestamp"] >= "2008-09-29") & (live["timestamp"] <= "2008-12-31")]
    assert (crash["volatility_class_name"] == "High").mean() > 0.8
    # the fall to the 20 Nov 2008 low (-36 %) reads bearish; December's rebound and chop (+20 % from
    # the low, daily swings of 3-5 %) may read Sideways or Bullish
    fall = live[(live["timestamp"] >= "2008-09-29") & (live["timestamp"] <= "2008-11-21")]
    assert fall["trend_class_name"].isin(["Bearish", "Strong_Bearish", "Neutral"]).mean() > 0.8
    calm = live[year == 2017]
    assert (calm["volatility_class_name"] == "Low").mean() > 0.8
    per_year = live["regime_transition"].sum() / (len(live) / 252)
    assert 2 < per_year < 60


def test_cli_replay_daily_csv(tmp_path, capsys) -> None:
    src = _sp500().iloc[:400].copy()
    src["timestamp"] = src["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    csv, out = tmp_path / "spx.csv", tmp_path / "out.csv"
    src.to_csv(csv, index=False)
    assert cli_main(["replay", "--csv", str(csv), "--out", str(out)]) == 0
    res = pd.read_csv(out)
    for col in ("timestamp", "regime_id", "regime_name", "confidence_score", "volatility_value",
                "volatility_class_name", "trend_class_name", "trend_class", "atr_indicators", "multi_timeframe"):
        assert col in res.columns
    assert len(res) == 400 and res["timestamp"].iloc[-1].startswith("2000-08")
    assert "400 bars classified" in capsys.readouterr().out
    raw = pd.read_csv(out, dtype=str)
    assert all(len(x.split(".")[-1]) == 4 for x in raw["confidence_score"].head(30))  # OutputFormat %.4f


def test_cli_reports_bad_input(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,open,high,low,close,volume\n2024-01-01T00:00:00Z,1,0.5,2,1,10\n")
    assert cli_main(["replay", "--csv", str(bad), "--out", str(tmp_path / "o.csv")]) == 2
    assert "bad.csv" in capsys.readouterr().err


def test_outputs_are_self_describing() -> None:
    bars, chains = _sim(200, with_chains=True)
    o = RegimeClassifier(PS, "IDX").update_many(bars, chains)[-1]
    rec = o.to_record()
    assert rec["regime_color"].startswith("#") and rec["param_version"].startswith("unsaved:")
    assert math.isfinite(rec["volatility_value"]) and rec["volatility_class_name"] in ("Low", "Medium", "High")
    assert {"support1_classic", "resistance1_classic", "atm_straddle", "vanna", "charm", "volga"} <= set(rec)
    details = o.module_details()
    assert len(details) == 8 and all({"name", "score", "weight", "active", "reason", "diagnostics"} <= set(d)
                                     for d in details)
    import json
    json.dumps(details)  # the JSON column of the snapshot table
    snap = o.to_snapshot()
    assert snap["regime_name"] == o.regime_name and snap["modules"] == details
    json.dumps(snap, default=str)
    assert np.isclose(sum(d["contribution"] for d in details if d["active"]), o.raw_score, atol=0.5)


def test_chunked_replay_with_progress_is_identical() -> None:
    m = SimulatedMarket(seed=4)
    bars, _ = m.history(1000)
    idx = bars[bars.symbol == "IDX"].rename(columns={"ts": "timestamp"}).reset_index(drop=True)
    seen: list[tuple[int, int]] = []
    chunked = replay(idx, PS, progress=lambda d, t: seen.append((d, t)), chunk=300)
    pd.testing.assert_frame_equal(chunked, replay(idx, PS))
    assert seen == [(300, 1000), (600, 1000), (900, 1000), (1000, 1000)]


def test_history_longer_than_the_buffer() -> None:
    """Past max_buffer bars the oldest are dropped; answers stay (almost always) the same."""
    bars, _ = _sim(3000, seed=8)
    full = records(RegimeClassifier(PS, "IDX").update_many(bars), PS)
    small = RegimeClassifier(PS, "IDX", max_buffer=1000)
    capped = records(small.update_many(bars), PS)
    assert len(capped) == 3000 and len(small.buf) <= 1000
    pd.testing.assert_frame_equal(capped.iloc[:500], full.iloc[:500])
    assert (capped["regime_id"] == full["regime_id"]).mean() > 0.97
    live = RegimeClassifier(PS, "IDX", max_buffer=1000)
    inc = records([live.update(b) for b in bars[:1500]], PS)
    assert (inc["regime_id"] == full["regime_id"].iloc[:1500]).mean() > 0.97


def test_bars_with_missing_prices_are_dropped_not_propagated(caplog) -> None:
    bars, _ = _sim(300, seed=12)
    bad = list(bars)
    b = bad[150]
    bad[150] = type(b)(b.symbol, b.ts, b.open, b.high, b.low, float("nan"), b.volume)
    with caplog.at_level("WARNING"):
        out = RegimeClassifier(PS, "IDX").update_many(bad)
    assert len(out) == 299 and "dropped 1 bar" in caplog.text
    assert all(math.isfinite(o.volatility_component) for o in out[-100:])
