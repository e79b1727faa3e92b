"""Whole tuning runs on constructed history: the proposal stays inside the workbook's limits, is accepted
only by its backtest gain out of sample when significant (not by the replay objective of the trials), and the same seed gives
the same proposal."""
from __future__ import annotations

import pytest
from scipy import stats

from engine.backtest.inputs import preset_by_name
from engine.params import load_schema
from engine.params.paramset import ParamSet
from engine.params.typed import Parameters
from engine.tuning.backtest_validation import BacktestSetup
from engine.tuning.edit import edited, kv_value
from engine.tuning.tuner import TuningResult, tune
from tests.tuning_fixtures import FOLDS, SPACE, frames, history, no_trade, poor_version

TRIALS = 6


def _run(cur: ParamSet) -> TuningResult:
    bars, truth, symbol = history()
    setup = BacktestSetup(frames(), symbol, preset_by_name("default"), warmup_bars=200)
    return tune(cur, bars, truth, trials=TRIALS, seed=11, symbol=symbol, only=SPACE, backtest=setup)


def _current() -> ParamSet:
    return edited(poor_version(), {FOLDS: 2})  # 2 folds of 50 held-out bars: 4 backtests a run


@pytest.fixture(scope="module")
def run() -> TuningResult:
    return _run(_current())


@pytest.mark.slow  # a tuning run: 6 replays and 4 backtests, ~30 s
def test_the_proposal_stays_inside_the_limits_and_is_judged_by_backtests(run: TuningResult) -> None:
    cur = _current()
    t = Parameters(cur).adaptive_tuning
    bounds = {(s.name, sec.key, f.name): (f.min, f.max) for s, sec, f in load_schema().iter_fields()}
    assert 1 <= len(run.changes) <= t.max_simultaneous_changes == 3
    for c in run.changes:
        lo, hi = bounds[c.key]
        assert lo <= c.new <= hi, c.text()
        assert abs(c.new - c.old) <= abs(c.old) * t.parameter_expansion_limit + 1e-9, c.text()
        assert float(kv_value(run.candidate, c.key)) == pytest.approx(c.new)  # type: ignore[arg-type]
    assert run.trials == TRIALS
    bars, _truth, _ = history()
    cut = bars["timestamp"].iloc[int(len(bars) * (1 - 0.2))]  # AdaptiveTuning validation_split 0.2
    folds, v = run.validation.folds, run.validation
    assert v.source == "backtest" and len(folds) == 2 and (folds["start"] >= cut).all()
    assert {c.against for c in v.comparisons} == {"current version", "buy-and-hold", "cash"}
    expected = (folds["candidate"].mean() - folds["current"].mean()) / max(abs(folds["current"].mean()), 1.0)
    assert v.gain == pytest.approx(expected)
    alpha = 1.0 - Parameters(cur).validation_framework.statistical_significance
    p = stats.ttest_rel(folds["candidate"], folds["current"], alternative="greater").pvalue  # the oracle
    assert run.beats == (v.gain >= 0.05 and bool(p < alpha)) and "out-of-sample backtest gain" in run.reason
    assert 0 < run.validation_seconds < run.seconds


@pytest.mark.slow  # a second tuning run with the same seed, ~30 s
def test_same_seed_same_proposal(run: TuningResult) -> None:
    again = _run(_current())
    assert [c.text() for c in again.changes] == [c.text() for c in run.changes]
    assert again.candidate.content_hash == run.candidate.content_hash
    assert again.beats == run.beats and again.validation.gain == pytest.approx(run.validation.gain)


@pytest.mark.slow  # a tuning run on a version that cannot trade, ~30 s
def test_a_better_replay_is_refused_without_a_backtest_gain() -> None:
    """Neither the current version nor any candidate can trade (every order refused): the trials' replay
    objective improves, the backtests do not differ, so the gain is 0 < target_improvement: refused."""
    result = _run(no_trade(_current()))
    assert result.changes and result.in_sample_candidate > result.in_sample_current
    assert (result.validation.folds["current"] == 0.0).all() and (result.validation.folds["candidate"] == 0.0).all()
    assert result.validation.gain == 0.0 and not result.beats
    assert result.reason.startswith("out-of-sample backtest gain +0.0%") and "required 5%" in result.reason


def test_without_market_frames_nothing_is_accepted() -> None:
    bars, truth, symbol = history()
    result = tune(_current(), bars, truth, trials=2, seed=11, symbol=symbol, only=SPACE)
    assert not result.beats and "only a backtest gain out of sample can make a proposal" in result.reason


@pytest.mark.slow  # a tuning run with out_of_sample_testing FALSE, ~30 s
def test_folds_never_trade_the_search_bars_even_without_out_of_sample_testing() -> None:
    """The trials search on the first 80% of the bars whatever the workbook says; with out_of_sample_testing FALSE
    the validation's folds used to be cut from all bars, so the candidate was judged on the bars it was tuned on
    (and applied automatically, require_human_approval being FALSE by default)."""
    cur = edited(_current(), {("ValidationFramework", "main", "out_of_sample_testing"): False})
    result = _run(cur)
    bars, _truth, _ = history()
    cut = bars["timestamp"].iloc[int(len(bars) * (1 - 0.2))]  # the first bar the trials did not see
    folds = result.validation.folds
    assert len(folds) >= 1 and (folds["start"] >= cut).all(), folds[["start", "end"]]
