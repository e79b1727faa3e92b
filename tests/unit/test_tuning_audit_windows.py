"""The tuner's validation folds start after its search bars (engine/tuning/backtest_validation.windows)."""
from __future__ import annotations

import pandas as pd

from engine.params import default_params
from engine.tuning.backtest_validation import BacktestSetup, windows
from engine.tuning.edit import edited
from engine.tuning.validation import ValidationConfig

N = 1000
TS = pd.Series(pd.date_range("2026-01-05 14:30", periods=N, freq="D", tz="UTC"))
SETUP = BacktestSetup({}, "IDX", None)


def _config(out_of_sample: bool) -> ValidationConfig:
    return ValidationConfig.of(edited(default_params(),
                                      {("ValidationFramework", "main", "out_of_sample_testing"): out_of_sample}))


def test_without_out_of_sample_testing_folds_start_at_the_first_unseen_bar() -> None:
    unseen = TS[800]  # a search on bars 0..799 (validation_split 0.2)
    wins = windows(TS, _config(False), SETUP, unseen_from=unseen)
    assert wins and all(w.start >= unseen for w in wins)
    assert wins[-1].end == TS[N - 1]
    assert len(windows(TS, _config(False), SETUP)) and windows(TS, _config(False), SETUP)[0].start < unseen


def test_with_out_of_sample_testing_the_held_out_tail_is_kept() -> None:
    plain = windows(TS, _config(True), SETUP)
    assert windows(TS, _config(True), SETUP, unseen_from=TS[800]) == plain
    assert all(w.start >= TS[800] for w in plain)
