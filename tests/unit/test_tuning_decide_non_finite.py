"""tuner.decide on fold scores that are not finite numbers: no proposal, and the reason says why (it ended in
"measurable: " with nothing after it when the report had no note)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.tuning.backtest_validation import Measure, _report
from engine.tuning.tuner import decide
from engine.tuning.validation import ValidationConfig


@pytest.mark.parametrize("candidate", [[np.nan, 1.0, 2.0], [np.inf, 1.0, 2.0], [1.0, -np.inf, 2.0]])
def test_a_non_finite_fold_score_makes_no_proposal_and_says_why(candidate: list[float]) -> None:
    folds = pd.DataFrame({"fold": [1, 2, 3], "start": pd.Timestamp("2026-01-05", tz="UTC"),
                          "end": pd.Timestamp("2026-01-06", tz="UTC"), "bars": 40, "current": [0.1, 0.2, 0.1],
                          "candidate": candidate, "buy_hold_score": 0.0, "cash_score": 0.0, "current_return": 0.0,
                          "candidate_return": 0.0, "buy_hold": 0.0, "cash": 0.0})
    report = _report(folds, ValidationConfig(3, 0.05, True, True, True, 0.2), Measure("sharpe", None), {})
    beats, why = decide(report, True, 0.05)
    assert beats is False
    assert why == "no out-of-sample backtest gain measurable: a fold's score is not a finite number"
