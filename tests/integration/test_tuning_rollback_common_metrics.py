"""Auto-rollback compares the tuned version and its parent on the same metrics: each side's snapshots get the
closes of their own bars (not only the newest bars'), only metrics measured under both versions are scored,
and with no objective metric in common nothing is judged (and the log says why). No true regime path here
(a real broker feed): the objective is the overall score over the metrics both sides measured."""
from __future__ import annotations

import logging
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from engine.clock import ManualClock
from engine.params import default_params
from engine.params.paramset import ParamSet
from engine.params.versions import active_params, apply_version
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.models import BarRow, Instrument, ParamVersion, RegimeSnapshot
from engine.tuning import proposals
from engine.tuning.edit import edited
from engine.tuning.history import from_store
from engine.tuning.rollback import check_rollback
from engine.tuning.tuner import Change, TuningResult
from engine.tuning.validation import ValidationReport

N = 450  # snapshots per version, more than the default 390-bar rollback window
PER_DAY = ("StabilityConfiguration", "main", "max_transitions_per_day")
RETS = np.random.default_rng(1).normal(0, 0.001, N)  # the SAME bar moves under both versions
FWD = np.array([RETS[k + 1:k + 16].sum() for k in range(N)])
WRONG = np.where(FWD < 0, "Bullish", "Bearish")  # the SAME regime path, mostly wrong about the next 15 bars
RIGHT = np.where(FWD > 0, "Bullish", "Bearish")  # one right about them


def _live(ctx, version_id: int, bars: bool, classes: np.ndarray) -> list[float]:  # type: ignore[no-untyped-def]
    """N snapshots of the same behaviour under `version_id`, with their bars when `bars`; the closes written."""
    sym, close = ctx.source.index_symbol(), [100.0]
    change = np.r_[False, classes[1:] != classes[:-1]]
    with ctx.store.write() as s:
        s.merge(Instrument(symbol=sym, kind="index", source="csv"))
        for k in range(N):
            ts = ctx.clock.advance(timedelta(minutes=1))
            close.append(close[-1] * (1 + RETS[k]))
            if bars:
                s.add(BarRow(symbol=sym, ts=ts, open=close[-2], high=max(close[-2:]), low=min(close[-2:]),
                             close=close[-1], volume=1000))
            s.add(RegimeSnapshot(ts=ts, symbol=sym, regime_id=4 if classes[k] == "Bullish" else 10,
                                 regime_name=str(classes[k]), confidence=0.7, raw_score=0.1, volatility_value=0.2,
                                 trend_value=0.0, volatility_class="Medium", trend_class=str(classes[k]),
                                 time_in_regime_s=60.0, is_transition=bool(change[k]),
                                 param_version_id=version_id, modules={}))
    return close[1:]


def _two_versions(url: str, base: ParamSet, parent_bars: bool, tuned_bars: bool,  # type: ignore[no-untyped-def]
                  classes: np.ndarray = WRONG):
    """A parent applied by a person, then a tuned version auto-applied from a proposal, each with N snapshots."""
    ctx = build_context(load_settings(database_url=url), with_source=True, migrate=True, clock=ManualClock())
    parent = apply_version(ctx.store, base, "alice", "ui", clock=ctx.clock)
    parent_close = _live(ctx, parent.version_id or 0, parent_bars, classes)
    rep = ValidationReport(pd.DataFrame(), source="backtest")
    proposals.record(ctx.store, parent, TuningResult([Change(PER_DAY, 6, 7)], edited(parent, {PER_DAY: 7}), 1, 0.0,
                                                     0.0, 0.0, rep, True, "forced"), seed=1, clock=ctx.clock)
    with ctx.store.read() as s:
        tuned = active_params(s)
    assert tuned.version_id != parent.version_id
    _live(ctx, tuned.version_id or 0, tuned_bars, classes)
    return ctx, parent, tuned, parent_close


def _sources(ctx) -> list[str]:  # type: ignore[no-untyped-def]
    with ctx.store.read() as s:
        return [v.source for v in s.scalars(select(ParamVersion).order_by(ParamVersion.id))]


def test_the_parents_snapshots_get_their_own_closes_and_identical_behaviour_is_not_rolled_back(
        any_db_url: str) -> None:
    ctx, parent, tuned, parent_close = _two_versions(any_db_url, default_params(), True, True)
    window = ctx.settings.rollback_window_bars
    with ctx.store.read() as s:
        before_h = from_store(s, ctx.source.index_symbol(), parent, window, version_id=parent.version_id)
    assert len(before_h) == window == 390
    assert before_h["close"].to_numpy() == pytest.approx(parent_close[-window:])  # the bars written with them
    assert check_rollback(ctx) is None
    assert _sources(ctx) == ["ui", "tuning"]


def test_a_metric_only_one_side_measured_is_left_out(any_db_url: str) -> None:
    """Bars stored only under the tuned version: direction_accuracy (0.005 here) is measured for it alone, so
    it is not compared; the rest is identical, so the objectives are equal and nothing is rolled back."""
    ctx, *_ = _two_versions(any_db_url, default_params(), False, True)
    assert check_rollback(ctx) is None
    assert _sources(ctx) == ["ui", "tuning"]


def test_no_objective_metric_in_common_judges_nothing_and_says_why(
        any_db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """Only direction_accuracy weighted (primary regime_accuracy needs the true path, secondary NONE): with
    bars under the parent alone (its direction calls right: accuracy ~1) the tuned version has no price metric,
    so nothing can be compared (scored as 0 against the parent's 1 it was rolled back)."""
    base = default_params()
    canon = base.to_canonical()
    for row in canon["sheets"]["PerformanceMetrics"]["main"]:
        row["weight"] = 1.0 if row["metric"] == "direction_accuracy" else 0.0
    canon["sheets"]["AdaptiveTuning"]["main"]["secondary_target"] = "NONE"
    ctx, parent, tuned, _ = _two_versions(any_db_url, ParamSet.from_canonical(canon, schema=base.schema), True,
                                          False, RIGHT)
    with caplog.at_level(logging.WARNING, logger="engine.tuning.rollback"):
        assert check_rollback(ctx) is None
    assert _sources(ctx) == ["ui", "tuning"]
    assert (f"auto-rollback of version {tuned.version_id} not judged: no objective metric was measured both under "
            f"it and under version {parent.version_id}") in caplog.text
