"""A tuned candidate becomes a proposal (and, with the workbook's default require_human_approval False, the live
version) only when its out-of-sample gain reaches target_improvement AND its per-fold lead over the current
version passes the paired t-test at 1 - statistical_significance on at least 2 folds; a refusal keeps the
active version and stores the reason. Oracle for the p-values: scipy.stats.ttest_rel (alternative "greater")."""
from __future__ import annotations

import pandas as pd
import pytest
from scipy import stats
from sqlalchemy import select

from engine.clock import ManualClock
from engine.params import default_params
from engine.params.paramset import ParamSet
from engine.params.versions import active_params, apply_version
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.models import ParamVersion
from engine.tuning import proposals
from engine.tuning.backtest_validation import Measure, _report
from engine.tuning.edit import edited
from engine.tuning.tuner import Change, TuningResult, decide
from engine.tuning.validation import ValidationConfig, ValidationReport

PER_DAY = ("StabilityConfiguration", "main", "max_transitions_per_day")
VF = "ValidationFramework"
NOISY_CAND, NOISY_CUR = [3.1, -2.4, 1.9, -1.2], [0.4, -0.9, 0.8, -0.6]  # audit 4, defect 1: mean gain 0.425
STEADY_CAND, STEADY_CUR = [1.3, 1.1, 1.5, 1.2], [0.2, 0.1, 0.3, 0.25]  # lead 1.1, 1.0, 1.2, 0.95 every fold


def _folds(cand: list[float], cur: list[float]) -> pd.DataFrame:
    n = len(cand)
    ts = pd.date_range("2026-01-05", periods=n, freq="D", tz="UTC")
    return pd.DataFrame({"fold": range(1, n + 1), "start": ts, "end": ts, "bars": 120, "current": cur,
                         "candidate": cand, "buy_hold_score": 0.0, "cash_score": 0.0, "current_return": 0.0,
                         "candidate_return": 0.0, "buy_hold": 0.0, "cash": 0.0})


def _report_of(ps: ParamSet, cand: list[float], cur: list[float]) -> ValidationReport:
    """The report validate_by_backtest builds from these fold scores (its backtests are not the point here)."""
    return _report(_folds(cand, cur), ValidationConfig.of(ps), Measure.of(ps), {})


def _oracle_p(cand: list[float], cur: list[float]) -> float:
    return float(stats.ttest_rel(cand, cur, alternative="greater").pvalue)


def _record(url: str, ps: ParamSet, report: ValidationReport) -> tuple[str, str, list[ParamVersion], ParamSet]:
    """Decide with the real tuner.decide, record with the real proposals.record on a real store."""
    ctx = build_context(load_settings(database_url=url), with_source=False, migrate=True, clock=ManualClock())
    cur = apply_version(ctx.store, ps, "alice", "ui", clock=ctx.clock)
    cand = edited(cur, {PER_DAY: 7})
    beats, why = decide(report, True, 0.05)
    proposals.record(ctx.store, cur, TuningResult([Change(PER_DAY, 6, 7)], cand, 20, 1.0, 0.5, 0.6, report, beats,
                                                  why), seed=1, clock=ctx.clock)
    view = proposals.list_proposals(ctx.store)[0]
    with ctx.store.read() as s:
        rows = list(s.scalars(select(ParamVersion).order_by(ParamVersion.id)))
        active = active_params(s)
    return view.status, view.reason, rows, active


def test_a_gain_that_fails_the_significance_test_is_not_applied(any_db_url: str) -> None:
    ps = default_params()  # require_human_approval False, statistical_significance 0.95, hypothesis_testing on
    report = _report_of(ps, NOISY_CAND, NOISY_CUR)
    p = _oracle_p(NOISY_CAND, NOISY_CUR)
    assert round(p, 3) == 0.339 and report.gain == pytest.approx(0.425)  # (0.35 + 0.075) / max(0.075, 1)
    status, reason, rows, active = _record(any_db_url, ps, report)
    assert status == "not_better"
    assert reason == ("out-of-sample backtest gain +42.5% (backtest sharpe + 0.1 x max_drawdown) vs the required 5%; "
                      "not significant: p=0.339 ≥ 0.05 (paired t-test vs the current version over 4 folds)")
    assert [r.source for r in rows] == ["ui"] and active.version_id == rows[0].id  # nothing applied


def test_a_significant_gain_is_applied_by_the_system(any_db_url: str) -> None:
    ps = default_params()
    report = _report_of(ps, STEADY_CAND, STEADY_CUR)
    p = _oracle_p(STEADY_CAND, STEADY_CUR)
    assert p < 0.05 and report.gain == pytest.approx(1.0625)  # 1.275 - 0.2125 over the floor 1
    status, reason, rows, active = _record(any_db_url, ps, report)
    assert status == "applied" and reason.endswith(
        f"significant: p={p:.3g} < 0.05 (paired t-test vs the current version over 4 folds)")
    assert [(r.source, r.author) for r in rows] == [("ui", "alice"), ("tuning", "system:tuning")]
    assert active.version_id == rows[1].id


def test_one_fold_is_never_enough(any_db_url: str) -> None:
    ps = default_params()
    report = _report_of(ps, [9.0], [0.0])  # a gain of +900% on one fold: no test possible
    status, reason, rows, _ = _record(any_db_url, ps, report)
    assert status == "not_better" and reason.endswith("not significant: 1 fold, a paired t-test needs at least 2")
    assert len(rows) == 1


def test_the_level_is_the_workbooks_statistical_significance(any_db_url: str) -> None:
    """At statistical_significance 0.6 the level is 1 - 0.6 = 0.4 > p 0.339: the noisy gain passes there."""
    ps = edited(default_params(), {(VF, "main", "statistical_significance"): 0.6})
    status, reason, rows, _ = _record(any_db_url, ps, _report_of(ps, NOISY_CAND, NOISY_CUR))
    assert status == "applied" and reason.endswith(
        "significant: p=0.339 < 0.4 (paired t-test vs the current version over 4 folds)")
    assert len(rows) == 2


def test_the_gate_holds_with_hypothesis_testing_off(any_db_url: str) -> None:
    """hypothesis_testing only chooses which tests the page shows; acceptance is always tested."""
    ps = edited(default_params(), {(VF, "main", "hypothesis_testing"): False})
    report = _report_of(ps, NOISY_CAND, NOISY_CUR)
    assert report.comparisons == []
    status, reason, rows, _ = _record(any_db_url, ps, report)
    assert status == "not_better" and "not significant: p=0.339 ≥ 0.05" in reason and len(rows) == 1
