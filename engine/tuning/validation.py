"""Walk-forward validation (ValidationFramework): configuration, the report, the folds and the test shared by
the two ways of scoring a version per fold.

- By BACKTEST (engine/tuning/backtest_validation.py): what the Parameters page shows for any version and
  what decides whether a tuning candidate is a proposal (beats the current version by target_improvement
  out of sample). Its docstring says how folds are capped, scored and tested.
- By regime REPLAY (`validate` here): each version's regime detection is replayed once over the history (a
  replay is causal: a bar only sees earlier bars), the out-of-sample part is cut into the same folds and
  each is scored with the scorecard objective (`objective_of`) and its regime-following return (position =
  the detected trend direction, +1 up / -1 down / 0 sideways, held over the next bar). Replays are cheap
  (no orders, no store), so the tuner's optuna TRIALS score an in-sample replay with `objective_of`; a
  replay never decides a proposal's acceptance (`validate` remains for a tuning run given no market frames,
  whose candidate is then never accepted).
The significance test of both is a one-sided paired t-test (scipy.stats.ttest_rel) at
1 - statistical_significance (why a t-test: see backtest_validation).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from engine.params.paramset import ParamSet
from engine.params.typed import Parameters
from engine.regime.replay import replay
from engine.tuning.history import from_replay
from engine.tuning.scorecard import scorecard

MIN_FOLD_BARS = 30
PROFIT = "profit"  # the secondary target PROFIT: the history's regime-following return (fold_return)
Objective = Callable[[ParamSet, pd.DataFrame], float]  # (params, scorecard rows of a fold) -> higher is better


@dataclass(frozen=True)
class ValidationConfig:
    folds: int
    alpha: float  # 1 − statistical_significance
    benchmark: bool
    hypothesis: bool
    out_of_sample: bool
    split: float  # share of the history held out (AdaptiveTuning validation_split)

    @classmethod
    def of(cls, ps: ParamSet) -> ValidationConfig:
        p = Parameters(ps)
        v = p.validation_framework
        return cls(v.cross_validation_folds, 1.0 - v.statistical_significance, v.performance_benchmarking,
                   v.hypothesis_testing, v.out_of_sample_testing, p.adaptive_tuning.validation_split)


@dataclass(frozen=True)
class Comparison:
    against: str
    measure: str
    mean_diff: float
    t: float | None
    p_value: float | None
    significant: bool


@dataclass
class ValidationReport:
    folds: pd.DataFrame  # fold, start, end, bars, current/candidate objective and return, buy_hold
    comparisons: list[Comparison] = field(default_factory=list)
    gain: float = math.nan  # the candidate's out-of-sample gain over the current version
    note: str = ""
    source: str = "regime replay"  # or "backtest"
    measure: str = "scorecard objective"  # what the current / candidate columns hold
    curves: dict[tuple[int, str], pd.Series] = field(default_factory=dict)  # (fold, who) -> backtest equity
    alpha: float = math.nan  # the significance level it was tested at (ValidationConfig.alpha); NaN: none given,
    # and then tuner.decide accepts nothing (it never assumes a level the workbook did not set)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the proposal row stores it); the equity curves are not kept."""
        f = self.folds.copy()
        for c in ("start", "end"):
            if c in f:
                f[c] = f[c].astype(str)
        return {"folds": f.to_dict("records"), "comparisons": [c.__dict__ for c in self.comparisons],
                "gain": None if not math.isfinite(self.gain) else self.gain, "note": self.note,
                "source": self.source, "measure": self.measure,
                "alpha": None if not math.isfinite(self.alpha) else self.alpha}


def objective_of(ps: ParamSet, only: Collection[str] | None = None) -> Objective:
    """AdaptiveTuning optimize_for, then secondary_target at a tenth of its weight (a tie-breaker). `only`: use
    just these metrics (`measured` names; the overall score weighted over them alone), so that two histories
    are scored on what both measured (`basis` says which those are)."""
    primary, secondary = _targets(ps)

    def use(metric: str) -> bool:
        return only is None or metric in only

    def value(params: ParamSet, h: pd.DataFrame) -> float:
        card = scorecard(params, h)
        first = card.value(primary) if use(primary) else None
        if first is None:  # no realised regime path: fall back to the overall score
            first = (card.overall if only is None else card.overall_over(only)) or 0.0
        if secondary == PROFIT:
            second = fold_return(h) if use(PROFIT) else None
        else:
            second = card.value(secondary) if secondary and use(secondary) else None
        return float(first + 0.1 * (second or 0.0))

    return value


def _targets(ps: ParamSet) -> tuple[str, str | None]:
    t = Parameters(ps).adaptive_tuning
    primary = {"ACCURACY": "regime_accuracy", "STABILITY": "regime_persistence",
               "RESPONSIVENESS": "transition_timing"}[t.optimize_for]
    return primary, {"NONE": None, "STABILITY": "regime_persistence", "PROFIT": PROFIT}[t.secondary_target]


def measured(params: ParamSet, h: pd.DataFrame) -> frozenset[str]:
    """What objective_of can score on `h`: the scorecard metrics with a value, and PROFIT when a bar's return is
    known (a history without closes has neither direction_accuracy nor a return)."""
    names = {m.metric for m in scorecard(params, h).metrics if m.value is not None}
    close = h["close"].to_numpy(dtype=float) if "close" in h and len(h) > 1 else np.array([])
    if len(close) and np.isfinite(np.diff(close) / close[:-1]).any():
        names.add(PROFIT)
    return frozenset(names)


def basis(ps: ParamSet, only: Collection[str]) -> list[str]:
    """The metrics objective_of(ps, only) scores: its primary target when in `only`, else the weighted
    PerformanceMetrics in `only`; then the secondary target when in `only`. Empty: nothing to compare on."""
    primary, secondary = _targets(ps)
    out = [primary] if primary in only else [r.metric for r in Parameters(ps).performance_metrics.rows
                                              if r.metric in only and r.weight > 0]
    return out + [secondary] if secondary is not None and secondary in only and secondary not in out else out


def fold_return(h: pd.DataFrame) -> float:
    """Compounded return of holding the detected trend direction over the next bar."""
    pos = h["trend"].map({"up": 1.0, "down": -1.0}).fillna(0.0).to_numpy()[:-1]
    r = np.diff(h["close"].to_numpy(dtype=float)) / h["close"].to_numpy(dtype=float)[:-1]
    ok = np.isfinite(r)
    return float(np.prod(1.0 + pos[ok] * r[ok]) - 1.0)


def detected(ps: ParamSet, bars: pd.DataFrame, truth: pd.DataFrame | None, symbol: str | None = None) -> pd.DataFrame:
    """Scorecard rows of `ps` replayed over `bars` (index symbol: timestamp, OHLCV)."""
    records = replay(bars, ps, symbol=symbol) if symbol is not None else replay(bars, ps)
    return from_replay(records, bars, ps, truth)


def fold_bounds(n: int, folds: int) -> list[tuple[int, int]]:
    """`folds` consecutive [start, end) slices of n rows, fewer when a fold would be under MIN_FOLD_BARS."""
    k = max(1, min(folds, n // MIN_FOLD_BARS))
    edges = np.linspace(0, n, k + 1).astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def paired(against: str, measure: str, a: np.ndarray, b: np.ndarray, alpha: float) -> Comparison:
    diff = a - b
    if len(a) < 2 or np.allclose(diff, diff[0]):
        return Comparison(against, measure, float(diff.mean()) if len(diff) else math.nan, None, None, False)
    res = stats.ttest_rel(a, b, alternative="greater")
    return Comparison(against, measure, float(diff.mean()), float(res.statistic), float(res.pvalue),
                      bool(res.pvalue < alpha))


def validate(current: ParamSet, candidate: ParamSet, cur_h: pd.DataFrame, cand_h: pd.DataFrame,
             cfg: ValidationConfig, objective: Objective) -> ValidationReport:
    """Fold-by-fold comparison by regime replay on the held-out tail of two detected histories (same bars)."""
    m = cur_h[["timestamp"]].merge(cand_h[["timestamp"]], on="timestamp")["timestamp"]
    cur_h, cand_h = cur_h[cur_h["timestamp"].isin(m)].reset_index(drop=True), \
        cand_h[cand_h["timestamp"].isin(m)].reset_index(drop=True)
    start = int(len(cur_h) * (1.0 - cfg.split)) if cfg.out_of_sample else 0
    rows: list[dict[str, object]] = []
    for a, b in fold_bounds(len(cur_h) - start, cfg.folds):
        c, d = cur_h.iloc[start + a:start + b], cand_h.iloc[start + a:start + b]
        close = c["close"].to_numpy(dtype=float)
        rows.append({"fold": len(rows) + 1, "start": c["timestamp"].iloc[0], "end": c["timestamp"].iloc[-1],
                     "bars": len(c), "current": objective(current, c), "candidate": objective(candidate, d),
                     "current_return": fold_return(c), "candidate_return": fold_return(d),
                     "buy_hold": float(close[-1] / close[0] - 1.0), "cash": 0.0})
    folds = pd.DataFrame(rows)
    report = ValidationReport(folds, alpha=cfg.alpha)
    if folds.empty:
        report.note = "not enough history for one fold"
        return report
    if len(folds) < cfg.folds:
        report.note = f"{len(folds)} folds of at least {MIN_FOLD_BARS} bars instead of {cfg.folds}: short history"
    cur_mean = float(folds["current"].mean())
    report.gain = float(folds["candidate"].mean()) / cur_mean - 1.0 if cur_mean > 0 else math.nan
    if cfg.hypothesis:
        cand = folds["candidate"].to_numpy()
        report.comparisons.append(paired("current version", "objective", cand, folds["current"].to_numpy(),
                                          cfg.alpha))
        if cfg.benchmark:
            cr = folds["candidate_return"].to_numpy()
            report.comparisons.append(paired("buy-and-hold", "return", cr, folds["buy_hold"].to_numpy(), cfg.alpha))
            report.comparisons.append(paired("cash", "return", cr, folds["cash"].to_numpy(), cfg.alpha))
    return report
