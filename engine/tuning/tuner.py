"""Adaptive tuning (AdaptiveTuning): a seeded optuna TPE search for a better parameter version.

The search space: numeric key/value parameters read by the rule-based detector's stability, transition
and noise stages (they change a replay from bars alone). A trial picks up to max_simultaneous_changes of
them and moves each within parameter_expansion_limit of its current value (relative), clipped to the
schema's bounds (integers rounded). Trials are scored on the in-sample part of the history (the first
1 - validation_split) by regime REPLAY with the scorecard objective (optimize_for, then secondary_target as a
tie-breaker: validation.objective_of): a backtest per trial would cost folds x minutes per trial. The best
trial's candidate is then validated out of sample by BACKTESTS of it and of the current version
(engine/tuning/backtest_validation.py) and is a proposal only when its backtest gain there reaches
target_improvement and its per-fold lead over the current version passes the paired t-test at
1 - statistical_significance on at least 2 folds (decide); without market frames for the backtests (`backtest=None`) nothing is accepted.
Nothing here stores parameters: engine/tuning/proposals.py does, through apply_version.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

import optuna
import pandas as pd

from engine.backtest.inputs import BacktestCancelled
from engine.params import load_schema
from engine.params.errors import ValidationError
from engine.params.paramset import ParamSet
from engine.params.typed import Parameters
from engine.tuning.backtest_validation import BacktestSetup, Progress, validate_by_backtest
from engine.tuning.edit import Key, edited, kv_number
from engine.tuning.validation import (
    ValidationConfig,
    ValidationReport,
    detected,
    objective_of,
    paired,
    validate,
)

log = logging.getLogger(__name__)
SPACE_CONSUMERS = ("engine.regime.stability", "engine.regime.transitions", "engine.regime.noise")
MIN_TEST_FOLDS = 2  # fewer folds give no paired t-test, and so no acceptance


@dataclass(frozen=True)
class Change:
    key: Key
    old: float
    new: float

    def text(self) -> str:
        return f"{'.'.join(self.key)}: {self.old:g} -> {self.new:g}"


@dataclass
class TuningResult:
    changes: list[Change]
    candidate: ParamSet
    trials: int
    seconds: float
    in_sample_current: float
    in_sample_candidate: float
    validation: ValidationReport
    beats: bool  # out-of-sample backtest gain >= target_improvement and significant (decide)
    reason: str
    validation_seconds: float = 0.0  # of which the out-of-sample validation (the backtests)


def search_space(ps: ParamSet, only: Collection[Key] | None = None) -> list[tuple[Key, float, float, bool]]:
    """(key, low, high, is_integer) of every tunable parameter (or of `only`): within the expansion limit
    and the bounds."""
    limit = Parameters(ps).adaptive_tuning.parameter_expansion_limit
    out = []
    for sheet, sec, f in load_schema().iter_fields():
        if sec.kind != "kv" or not f.used or f.type not in ("number", "integer") or f.min is None or f.max is None:
            continue
        if f.consumer not in SPACE_CONSUMERS:
            continue
        key = (sheet.name, sec.key, f.name)
        if only is not None and key not in only:
            continue
        cur = kv_number(ps, key)
        lo, hi = max(float(f.min), cur - abs(cur) * limit), min(float(f.max), cur + abs(cur) * limit)
        if f.type == "integer":
            lo, hi = float(math.ceil(lo)), float(math.floor(hi))
        if hi > lo:
            out.append((key, lo, hi, f.type == "integer"))
    return out


def _candidate(trial: optuna.Trial, ps: ParamSet, space: list[tuple[Key, float, float, bool]],
               max_changes: int) -> tuple[ParamSet, list[Change]]:
    names = [".".join(k) for k, *_ in space]
    picked: dict[str, float] = {}
    for slot in range(max_changes):
        name = trial.suggest_categorical(f"param_{slot}", names)
        key, lo, hi, integer = space[names.index(name)]
        v = trial.suggest_int(f"value_{slot}_{name}", int(lo), int(hi)) if integer else \
            trial.suggest_float(f"value_{slot}_{name}", lo, hi)
        picked[name] = float(v)
    changes = [Change(space[names.index(n)][0], kv_number(ps, space[names.index(n)][0]), v)
               for n, v in sorted(picked.items())]
    changes = [c for c in changes if c.new != c.old]
    values = {c.key: (int(c.new) if space[names.index(".".join(c.key))][3] else c.new) for c in changes}
    return edited(ps, values), changes


def significance(report: ValidationReport) -> tuple[bool, str]:
    """Is the candidate's fold-by-fold lead over the current version significant at the report's level? A gain of
    the mean over a few noisy folds passes target_improvement on noise alone, so acceptance also needs the
    one-sided paired t-test (validation.paired, the test the Parameters page shows) on at least MIN_TEST_FOLDS
    folds. Applied whatever hypothesis_testing says: that switch only chooses which tests are shown."""
    folds, alpha = report.folds, report.alpha
    n = len(folds) if {"candidate", "current"} <= set(folds.columns) else 0
    if n < MIN_TEST_FOLDS:
        return False, (f"not significant: {n} fold{'s' if n != 1 else ''}, a paired t-test needs at least "
                       f"{MIN_TEST_FOLDS}")
    if not math.isfinite(alpha):
        return False, "not significant: the validation gave no significance level to test at"
    c = paired("current version", report.measure, folds["candidate"].to_numpy(dtype=float),
               folds["current"].to_numpy(dtype=float), alpha)
    if c.p_value is None:
        return False, f"not significant: the {n} fold differences are all equal, so no paired t-test can be made"
    if not c.significant:
        return False, (f"not significant: p={c.p_value:.3g} ≥ {alpha:.3g} (paired t-test vs the current "
                       f"version over {n} folds)")
    return True, f"significant: p={c.p_value:.3g} < {alpha:.3g} (paired t-test vs the current version over {n} folds)"


def decide(report: ValidationReport, changed: bool, target: float) -> tuple[bool, str]:
    """A proposal or not, and why: only a backtest validation whose out-of-sample gain reaches `target`
    (AdaptiveTuning target_improvement) AND whose lead over the current version is significant at the
    workbook's level (ValidationFramework statistical_significance: `significance`) makes one."""
    if report.source != "backtest":
        return False, f"not accepted: validated by {report.source}, and only a backtest gain makes a proposal"
    ok = math.isfinite(report.gain)
    reason = (f"out-of-sample backtest gain {report.gain:+.1%} ({report.measure}) vs the required {target:.0%}"
              if ok else "no out-of-sample backtest gain measurable: " + (report.note or "a fold's score is not a "
                                                                           "finite number"))
    if not changed:
        return False, "no trial changed a parameter; " + reason
    if not ok:
        return False, reason
    significant, why = significance(report)
    return report.gain >= target and significant, f"{reason}; {why}"


def tune(current: ParamSet, bars: pd.DataFrame, truth: pd.DataFrame | None, *, trials: int, seed: int,
         symbol: str | None = None, only: Collection[Key] | None = None, backtest: BacktestSetup | None = None,
         progress: Progress | None = None, cancelled: Callable[[], bool] | None = None) -> TuningResult:
    """Search on the in-sample index bars by replay, validate the best candidate out of sample by backtests on
    `backtest`'s frames (which must cover `bars`' time range); same seed -> same proposal.
    `only`: restrict the search to these parameters (a person's choice, or a quick run). `cancelled()` is asked
    before each trial and each backtest bar: BacktestCancelled once it says so."""
    t0 = time.perf_counter()
    tcfg, vcfg = Parameters(current).adaptive_tuning, ValidationConfig.of(current)
    objective = objective_of(current)
    cut = int(len(bars) * (1.0 - vcfg.split))
    in_bars = bars.iloc[:cut].reset_index(drop=True)
    in_cur = objective(current, detected(current, in_bars, truth, symbol))
    space = search_space(current, only)
    if not space:
        raise ValueError("tuning: no tunable parameter in the search space")
    found: dict[int, tuple[ParamSet, list[Change]]] = {}

    def run(trial: optuna.Trial) -> float:
        if cancelled is not None and cancelled():
            raise BacktestCancelled(f"tuning cancelled after {trial.number} of {trials} trials")
        try:
            cand, changes = _candidate(trial, current, space, tcfg.max_simultaneous_changes)
        except ValidationError:
            raise optuna.TrialPruned() from None  # a combination the workbook's rules refuse
        found[trial.number] = (cand, changes)
        return objective(cand, detected(cand, in_bars, truth, symbol)) if changes else in_cur

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(run, n_trials=trials)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        raise ValueError("tuning: every trial was refused by the parameter rules")
    best = max(done, key=lambda t: (t.value, -t.number))
    cand, changes = found[best.number]
    t1 = time.perf_counter()
    target = tcfg.target_improvement
    if backtest is None:
        report = validate(current, cand, detected(current, bars, truth, symbol), detected(cand, bars, truth, symbol),
                          vcfg, objective)
        beats, reason = False, ("not accepted: no market frames for the backtest validation, and only a backtest "
                                "gain out of sample can make a proposal")
    else:
        unseen = pd.Timestamp(bars["timestamp"].iloc[cut]) if cut < len(bars) else pd.Timestamp.max.tz_localize("UTC")
        report = validate_by_backtest(current, cand, backtest, vcfg, progress=progress, cancelled=cancelled,
                                      unseen_from=unseen)
        beats, reason = decide(report, bool(changes), target)
    now = time.perf_counter()
    return TuningResult(changes, cand, len(study.trials), now - t0, in_cur, float(best.value or 0.0),
                        report, beats, reason, now - t1)
