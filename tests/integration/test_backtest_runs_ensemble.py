"""A backtest runs the regime ensemble the live engine acts on (audit 4, defect 2): the live refit job fits models
on the bars stored up to each bar, at the live cadence in market time, and the regime the backtest acts on is the
ensemble's effective regime. The expectation is computed here by hand from the live parts (the refit's
`fit_model`, the live stage's stepper and `of_config`) on the same bars; nothing of the run is mocked.

The backtest's store is its own private in-memory SQLite store (engine/backtest/private.py), never the shared
store, so these tests need no database URL."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from engine.backtest.inputs import BacktestSpec
from engine.backtest.outputs import compute, write_outputs
from engine.backtest.runner import BacktestResult, RefitSchedule, run_backtest
from engine.backtest.sample import simulated_frames
from engine.job_specs import REGIME_MODELS_SECONDS
from engine.params import default_params
from engine.params.paramset import ParamSet
from engine.planner.api import load_preset
from engine.regime.dynamics import DynamicsConfig
from engine.regime.ensemble.config import CalibrationConfig, EnsembleConfig
from engine.regime.ensemble.effective import of_config
from engine.regime.ensemble.features import frame_from_records
from engine.regime.ensemble.job import REFIT_CHECK_SECONDS, TRAIN_BARS, fit_model
from engine.regime.ensemble.models import MIN_FIT_ROWS
from engine.regime.ensemble.stepper import EnsembleStepper
from engine.regime.replay import replay
from engine.tuning.backtest_validation import WARMUP_BARS, BacktestSetup, ensemble_history
from engine.tuning.edit import edited

BARS = 420  # daily bars: the first model after 300 stored bars, the second 100 bars after its data end
FIRST_FIT = MIN_FIT_ROWS + 100  # stored bars before the live job fits its first model


def _frames() -> dict[str, pd.DataFrame]:
    return {"IDX": simulated_frames(BARS)["IDX"]}  # one symbol: the classifier has no cross-asset peers


def _expected_names(frame: pd.DataFrame, params: ParamSet) -> tuple[list[str], list[int]]:
    """By hand: the live refit job run after every bar but the first (a day of market time is more than its
    300 s period), fitting once FIRST_FIT bars are stored, then once update_frequency newer bars are; a fit
    leaves the newest stored bar out; the model is in force from the next bar. Returns the effective regime name
    of every bar ("uncertain" for none) and the bars after which a model was fitted."""
    cfg = EnsembleConfig.of(params)
    rows = frame_from_records(replay(frame, params, symbol="IDX"))
    by_ts = {pd.Timestamp(r["ts"]): {str(k): v for k, v in r.items()} for r in rows.to_dict("records")}
    names = dict(cfg.regime_names)
    stepper = EnsembleStepper(cfg, CalibrationConfig.of(params), DynamicsConfig.of(params))
    out: list[str] = []
    fitted_after: list[int] = []
    data_end: pd.Timestamp | None = None
    for i, ts in enumerate(pd.to_datetime(frame["timestamp"], utc=True)):
        row = by_ts.get(ts)
        if row is None:  # the classifier's warm-up: no snapshot, no equity regime
            out.append("")
        else:
            label = int(row["label"])
            eff = of_config(cfg, label, names[label], 0.5, stepper.step(row))
            out.append(eff.regime_name or "uncertain")
        stored = frame["timestamp"].iloc[: i + 1]
        new = int((pd.to_datetime(stored, utc=True) > data_end).sum()) if data_end is not None else i + 1
        if i > 0 and new >= (cfg.refit_every_bars if data_end is not None else FIRST_FIT):
            model = fit_model(frame.iloc[:i].reset_index(drop=True), params, "IDX")
            stepper.set_model(model, len(fitted_after) + 1)
            data_end = pd.Timestamp(model.data_end)
            fitted_after.append(i)
    return out, fitted_after


def _names(result: BacktestResult) -> list[str]:
    return [n if isinstance(n, str) else "" for n in result.equity["regime_name"]]


@pytest.fixture(scope="module")
def enabled_run() -> BacktestResult:
    return run_backtest(BacktestSpec(frames=_frames(), index_symbol="IDX", params=default_params(),
                                     preset=load_preset("default")))


@pytest.mark.slow  # one backtest and a replay with two fits, over 420 daily bars: 10-40 s
def test_backtest_acts_on_the_ensemble_the_live_refit_fits(enabled_run: BacktestResult) -> None:
    params = default_params()
    assert EnsembleConfig.of(params).enabled and EnsembleConfig.of(params).uncertainty_handling == "CONSERVATIVE"
    expected, fitted_after = _expected_names(_frames()["IDX"], params)
    assert len(fitted_after) == 2, fitted_after
    assert expected.count("uncertain") > 0, "the hand-run ensemble must leave some bars without a regime"
    got = _names(enabled_run)
    assert got.count("uncertain") == expected.count("uncertain")  # the old backtest: 0 (rule-based on every bar)
    assert got == expected


@pytest.mark.slow  # two backtests over 420 daily bars: 20-80 s
def test_with_the_ensemble_a_cut_run_matches_the_full_run_and_files_repeat(enabled_run: BacktestResult,
                                                                            tmp_path: Path) -> None:
    """A run cut at T trades as the full run before T (a refit at a bar uses only bars up to it); the same
    inputs write the same files."""
    full = enabled_run
    cut_at = full.equity["timestamp"].iloc[380]  # after the first model, before the second
    cut = run_backtest(BacktestSpec(frames=_frames(), index_symbol="IDX", params=default_params(),
                                    preset=load_preset("default"), end=cut_at.to_pydatetime()))
    assert "uncertain" in set(cut.equity["regime_name"])
    pd.testing.assert_frame_equal(cut.equity, full.equity[full.equity["timestamp"] <= cut_at])
    pd.testing.assert_frame_equal(cut.fills, full.fills[full.fills["ts"] <= cut_at].reset_index(drop=True))
    again = run_backtest(BacktestSpec(frames=_frames(), index_symbol="IDX", params=default_params(),
                                      preset=load_preset("default")))
    for a, b in zip(write_outputs(full, compute(full), tmp_path / "a"),
                    write_outputs(again, compute(again), tmp_path / "b"), strict=True):
        assert a.name == b.name and a.read_bytes() == b.read_bytes(), a.name


@pytest.mark.slow  # one backtest over 420 daily bars: 10-40 s
def test_ensemble_disabled_acts_on_the_rules_on_every_bar() -> None:
    off = edited(default_params(), {("EnsembleMethods", "main", "ensemble_enabled"): False})
    frames = _frames()
    rules = frame_from_records(replay(frames["IDX"], off, symbol="IDX"))
    names = dict(EnsembleConfig.of(off).regime_names)
    result = run_backtest(BacktestSpec(frames=frames, index_symbol="IDX", params=off, preset=load_preset("default")))
    got = [n for n in _names(result) if n]
    assert got == [names[int(x)] for x in rules["label"]]


def test_refit_schedule_is_the_live_interval_on_the_simulated_clock() -> None:
    """The scheduler's interval job: first run one period after the start, missed runs coalesced into one."""
    assert REFIT_CHECK_SECONDS == REGIME_MODELS_SECONDS == 300.0  # the backtest's period is the scheduler's
    s = RefitSchedule()
    t0 = datetime(2026, 1, 5, 14, 31, tzinfo=UTC)
    minutes = [t0 + pd.Timedelta(minutes=m) for m in range(12)]
    assert [m for m, now in enumerate(minutes) if s.due(now)] == [5, 10]
    days = RefitSchedule(300.0)
    assert [days.due(t0 + pd.Timedelta(days=d)) for d in range(4)] == [False, True, True, True]


def test_validation_folds_warm_up_on_the_live_refit_window_when_the_ensemble_is_on() -> None:
    """Validation's fold backtests then fit their first model on the bars the live refit learns from."""
    frames = _frames()
    setup = BacktestSetup(frames, "IDX", load_preset("default"))
    off = edited(default_params(), {("EnsembleMethods", "main", "ensemble_enabled"): False})
    assert ensemble_history(setup, off, off).warmup_bars == WARMUP_BARS == 300
    assert ensemble_history(setup, off, default_params()).warmup_bars == TRAIN_BARS == 20_000
