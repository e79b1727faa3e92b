"""Walk-forward validation by backtest on a real store (SQLite and PostgreSQL): on a constructed up-trend a
version that trades beats one whose every order is refused, fold by fold, significantly, and each fold's
score is recomputed here with numpy from that fold's backtest equity."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from engine.clock import ManualClock
from engine.context import EngineContext
from engine.params.paramset import default_params
from engine.params.versions import apply_version
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.models import BarRow, Instrument
from engine.tuning.tuner import decide
from engine.tuning.version_check import VersionCheckError, validate_version
from tests.tuning_fixtures import no_trade, trend_frames

N = 300  # validation_split 0.2 -> 60 held-out bars -> 2 folds of 30 (each at least MIN_FOLD_BARS)


def _store_history(ctx: EngineContext, frames: dict[str, pd.DataFrame]) -> None:
    with ctx.store.write() as s:
        for sym, f in frames.items():
            s.merge(Instrument(symbol=sym, kind="index" if sym == "IDX" else "stock", source="csv"))
            for r in f.to_dict("records"):
                s.add(BarRow(symbol=sym, ts=r["timestamp"].to_pydatetime(), open=r["open"], high=r["high"],
                             low=r["low"], close=r["close"], volume=r["volume"]))


def _sharpe_plus_tenth_drawdown(equity: pd.Series) -> float:
    """The default objective (optimize_for ACCURACY -> Sharpe, secondary STABILITY -> max drawdown), by hand."""
    e = equity.to_numpy(dtype=float)
    r = e[1:] / e[:-1] - 1.0
    sharpe = 0.0 if np.ptp(r) < 1e-12 else float(r.mean() / r.std(ddof=1) * np.sqrt(252))  # daily bars
    drawdown = float((e / np.maximum.accumulate(e) - 1.0).min())
    return sharpe + 0.1 * drawdown


@pytest.mark.slow  # four backtests of 30 bars (plus warm-up) per database: about 25 s each
def test_a_version_that_trades_the_trend_beats_one_that_cannot(any_db_url: str) -> None:
    ctx = build_context(load_settings(database_url=any_db_url), with_source=False, migrate=True, clock=ManualClock())
    frames = trend_frames(N)
    _store_history(ctx, frames)
    first = apply_version(ctx.store, no_trade(default_params()), "alice", "ui", clock=ctx.clock)
    second = apply_version(ctx.store, default_params(), "alice", "ui", clock=ctx.clock)
    seen: list[float] = []
    report = validate_version(ctx.store, int(second.version_id or 0), "IDX", progress=lambda f, _t: seen.append(f))
    folds = report.folds
    held_out = frames["IDX"]["timestamp"].iloc[int(N * 0.8):]
    assert report.source == "backtest" and report.measure == "backtest sharpe + 0.1 x max_drawdown"
    assert len(folds) == 2 and (folds["start"] >= held_out.iloc[0]).all() and folds["bars"].tolist() == [30, 30]
    assert seen and seen[-1] == pytest.approx(1.0) and seen == sorted(seen)
    for f in folds.to_dict("records"):
        cur, cand = report.curves[(f["fold"], "current")], report.curves[(f["fold"], "candidate")]
        assert cur.index[0] == f["start"] and cand.index[-1] == f["end"] and len(cand) == f["bars"]
        assert (cur == 1_000_000.0).all()  # every order refused: cash all along, score 0 (cash's)
        assert f["current"] == 0.0 and f["candidate"] == pytest.approx(_sharpe_plus_tenth_drawdown(cand), rel=1e-9)
        assert f["candidate"] > 1.0 and f["candidate_return"] == pytest.approx(cand.iloc[-1] / cand.iloc[0] - 1.0)
        close = frames["IDX"].set_index("timestamp")["close"].loc[cand.index]
        assert f["buy_hold"] == pytest.approx(close.iloc[-1] / close.iloc[0] - 1.0)
        assert f["buy_hold_score"] == pytest.approx(_sharpe_plus_tenth_drawdown(close), rel=1e-9)
    vs_current = next(c for c in report.comparisons if c.against == "current version")
    expected = stats.ttest_rel(folds["candidate"], folds["current"], alternative="greater")
    assert vs_current.p_value == pytest.approx(expected.pvalue) and vs_current.significant == (expected.pvalue < 0.05)
    assert {c.against for c in report.comparisons} == {"current version", "buy-and-hold", "cash"}
    assert report.gain == pytest.approx(folds["candidate"].mean() / 1.0)  # current scores 0: gain in Sharpe units
    # a proposal needs the gain AND the paired test against the current version (scipy's p above, alpha 0.05)
    accepted, why = decide(report, True, 0.05)
    assert accepted == (expected.pvalue < 0.05) and "required 5%" in why
    assert accepted or f"not significant: p={expected.pvalue:.3g}" in why
    assert not decide(report, True, report.gain + 0.01)[0]  # just below a higher target_improvement: refused
    d = report.to_dict()
    assert d["source"] == "backtest" and len(d["folds"]) == 2 and "curves" not in d
    from webapp.tuning_views import validation_table  # local import: the page's table of this very report

    shown = str(validation_table(d))
    assert "Walk-forward validation by backtest" in shown and "Buy & hold score" in shown
    assert f"{folds['candidate'].iloc[0]:.4g}" in shown and "significant" in shown
    with pytest.raises(VersionCheckError, match="first version"):
        validate_version(ctx.store, int(first.version_id or 0), "IDX")
    ctx.store.dispose()


def test_bad_requests_are_named(any_db_url: str) -> None:
    ctx = build_context(load_settings(database_url=any_db_url), with_source=False, migrate=True, clock=ManualClock())
    apply_version(ctx.store, default_params(), "alice", "ui", clock=ctx.clock)
    second = apply_version(ctx.store, no_trade(default_params()), "alice", "ui", clock=ctx.clock)
    with pytest.raises(VersionCheckError, match="version 99 does not exist"):
        validate_version(ctx.store, 99, "IDX")
    with pytest.raises(VersionCheckError, match="only 0 stored bars of IDX: at least 100"):
        validate_version(ctx.store, int(second.version_id or 0), "IDX")
    ctx.store.dispose()


def test_a_cancelled_validation_stops_with_the_backtests_message() -> None:
    from engine.backtest.inputs import BacktestCancelled, preset_by_name
    from engine.tuning.backtest_validation import BacktestSetup, validate_by_backtest
    from engine.tuning.validation import ValidationConfig

    frames = trend_frames(200)
    setup = BacktestSetup(frames, "IDX", preset_by_name("default"), warmup_bars=20)
    cur = no_trade(default_params())
    with pytest.raises(BacktestCancelled, match="cancelled after 0 of"):
        validate_by_backtest(cur, default_params(), setup, ValidationConfig.of(cur), cancelled=lambda: True)
