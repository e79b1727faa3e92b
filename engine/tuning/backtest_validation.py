"""Walk-forward validation by BACKTEST (ValidationFramework): the candidate and the current version each run
through the engine's own backtest (engine/backtest, run_backtest) on every out-of-sample fold, scored from
the fold's equity with the shared metrics code (engine/analytics.compute_metrics).

Folds: the held-out tail (the last validation_split of the index's bars when out_of_sample_testing, else
all of them) cut into cross_validation_folds consecutive folds (validation.fold_bounds, at least
MIN_FOLD_BARS bars each). Each backtest trades at most `max_fold_bars` bars: the fold's NEWEST bars, the
bars before them (up to WARMUP_BARS, earlier folds included) only warm the indicators up, as stored
history does live. With the regime ensemble on (in either version) the warm-up is the live refit's training
window (TRAIN_BARS, engine/regime/ensemble/job.py): the backtest runs the live refit job, and its first fit in a
fold then learns from the bars the live engine's model would have (a fit costs ~5 s per 20,000 bars, per fold
and version). Both versions get the same bars, the same planner preset (the active one: the built-in default
plus the store's regime -> preset table), the same starting cash and costs.

Cost bound (why the caps): today a backtest runs ~11-15 bars/s (daily bars, 9 symbols), so a fold of
MAX_FOLD_BARS = 120 bars costs ~10 s per version; MAX_VERSION_BARS = 1,200 traded bars per version
bounds a validation with many folds (cross_validation_folds may be up to 100) to ~2 x 100 s plus set-up,
whatever the history. 120 bars still give a fold's Sharpe ratio ~119 returns. Progress is reported in
bars over all backtests; `cancelled()` is asked before every bar (run_backtest raises BacktestCancelled).

Score of a fold: the AdaptiveTuning optimize_for target read as a trading metric of the backtest
(OBJECTIVE_METRIC: ACCURACY -> Sharpe ratio, STABILITY -> return over drawdown, RESPONSIVENESS -> Sortino ratio),
plus a tenth of the secondary_target's metric as a tie-breaker (PROFIT -> total return, STABILITY -> max
drawdown, NONE -> nothing), as validation.objective_of does for replays. An undefined metric (flat equity:
a version that never trades) scores 0, the value of cash.

STABILITY, return over drawdown: the fold's return divided by its maximum drawdown, max(|max drawdown|,
DRAWDOWN_FLOOR). The return is annualised (CAGR, making the score the Calmar ratio) only when the fold
holds at least a year of bars; a shorter fold uses its plain total return (at exactly a year both agree).
Why: the Calmar ratio of a fold of 60-120 minute bars raises its growth to the power ppy / bars (~800-1,600), so a
+0.5% fold scored ~1e16 and the ranking meant nothing (a version losing 18% "beat" one gaining 2.5%).
Why the floor: a fold without a dip (or with one of rounding residue) would divide by ~0; drawdowns under
0.1% of equity count as 0.1%, so such a fold scores its return in units of 0.1% and stays finite.

Significance: a one-sided paired t-test (scipy.stats.ttest_rel, alternative "greater") over the per-fold
score differences at 1 - statistical_significance: candidate vs current version, and with
performance_benchmarking candidate vs buy-and-hold of the index and vs cash (their scores from the same
folds). Why a t-test and not Wilcoxon: there are few folds (2-10 usually), and Wilcoxon's exact smallest
one-sided p-value with n folds is 2^-n, so with 4 folds it can never reach 0.05; each fold's score is an
average over ~100 returns, close enough to normal for the t-test.

Gain: (mean candidate score - mean current score) / max(|mean current score|, GAIN_FLOOR). A version that
cannot trade scores 0, and a gain relative to 0 would be infinite, so below one unit of the ratio (Sharpe,
Sortino, return over drawdown) the gain is counted in units of it.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from engine.analytics.metrics import compute_metrics
from engine.analytics.periods import infer_periods_per_year
from engine.backtest.inputs import BacktestSpec
from engine.backtest.runner import run_backtest
from engine.params.paramset import ParamSet
from engine.params.typed import Parameters
from engine.planner.api import PlannerPreset
from engine.regime.ensemble.config import EnsembleConfig
from engine.regime.ensemble.job import TRAIN_BARS
from engine.tuning.validation import MIN_FOLD_BARS, ValidationConfig, ValidationReport, fold_bounds, paired

MAX_FOLD_BARS = 120
MAX_VERSION_BARS = 1_200
WARMUP_BARS = 300  # bars before a fold's first traded bar loaded to warm the indicators up
CASH = 1_000_000.0
GAIN_FLOOR = 1.0
DRAWDOWN_FLOOR = 1e-3  # a drawdown under 0.1% of equity counts as 0.1% (see the docstring)
RETURN_OVER_DRAWDOWN = "return_over_drawdown"
OBJECTIVE_METRIC = {"ACCURACY": "sharpe", "STABILITY": RETURN_OVER_DRAWDOWN, "RESPONSIVENESS": "sortino"}
SECONDARY_METRIC = {"NONE": None, "STABILITY": "max_drawdown", "PROFIT": "total_return"}
Progress = Callable[[float, str], None]  # (fraction done 0..1, what is running)


@dataclass(frozen=True)
class BacktestSetup:
    """What every fold's backtest shares: the market frames (all symbols), the index, the planner preset(s)."""

    frames: dict[str, pd.DataFrame]
    index_symbol: str
    preset: PlannerPreset
    regime_presets: dict[str, PlannerPreset] = field(default_factory=dict)
    cash: float = CASH
    max_fold_bars: int = MAX_FOLD_BARS
    max_version_bars: int = MAX_VERSION_BARS
    warmup_bars: int = WARMUP_BARS


@dataclass(frozen=True)
class Measure:
    primary: str
    secondary: str | None

    @classmethod
    def of(cls, ps: ParamSet) -> Measure:
        t = Parameters(ps).adaptive_tuning
        return cls(OBJECTIVE_METRIC[t.optimize_for], SECONDARY_METRIC[t.secondary_target])

    def text(self) -> str:
        return f"backtest {self.primary}" + (f" + 0.1 x {self.secondary}" if self.secondary else "")

    def score(self, equity: pd.Series, ppy: float) -> tuple[float, float]:
        """(score, total return) of one fold's equity curve."""
        m = compute_metrics(equity, None, None, ppy)  # CAGR only over a year: nothing short is annualised
        value = _metric(self.primary, m) + (0.1 * _metric(self.secondary, m) if self.secondary else 0.0)
        return value, _metric("total_return", m)


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _metric(name: str, m: dict[str, object]) -> float:
    """One metric of a fold, 0.0 when undefined (cash's value); return over drawdown as the docstring says."""
    if name != RETURN_OVER_DRAWDOWN:
        return _number(m.get(name)) or 0.0
    ret = _number(m.get("cagr"))  # set only when the fold holds a year of bars
    ret = _number(m.get("total_return")) if ret is None else ret
    drawdown = abs(_number(m.get("max_drawdown")) or 0.0)
    return (ret or 0.0) / max(drawdown, DRAWDOWN_FLOOR)


@dataclass(frozen=True)
class Window:
    fold: int
    warm_from: pd.Timestamp
    start: pd.Timestamp
    end: pd.Timestamp
    bars: int


def windows(index_ts: pd.Series, cfg: ValidationConfig, setup: BacktestSetup,
            unseen_from: pd.Timestamp | None = None) -> list[Window]:
    """The out-of-sample folds of the index's timestamps, each cut to its newest traded bars (see the docstring).
    `unseen_from`: the first bar a search did not see; no fold trades a bar before it, whatever
    out_of_sample_testing says (a tuner's candidate scored on its own search bars would look better than it is)."""
    ts = pd.Series(pd.to_datetime(index_ts, utc=True)).sort_values().reset_index(drop=True)
    first = int(len(ts) * (1.0 - cfg.split)) if cfg.out_of_sample else 0
    if unseen_from is not None:
        first = max(first, int(ts.searchsorted(pd.Timestamp(unseen_from))))
    bounds = fold_bounds(len(ts) - first, cfg.folds)
    cap = min(setup.max_fold_bars, max(MIN_FOLD_BARS, setup.max_version_bars // max(1, len(bounds))))
    out = []
    for i, (a, b) in enumerate(bounds, start=1):
        lo, hi = first + a, first + b
        traded = max(lo, hi - cap)
        out.append(Window(i, ts[max(0, traded - setup.warmup_bars)], ts[traded], ts[hi - 1], hi - traded))
    return out


def _frames(setup: BacktestSetup, w: Window) -> dict[str, pd.DataFrame]:
    out = {}
    for sym, f in setup.frames.items():
        t = pd.to_datetime(f["timestamp"], utc=True)
        part = f.loc[(t >= w.warm_from) & (t <= w.end)].reset_index(drop=True)
        if len(part):
            out[sym] = part.assign(timestamp=pd.to_datetime(part["timestamp"], utc=True))
    return out


def _equity(ps: ParamSet, label: str, setup: BacktestSetup, w: Window, frames: dict[str, pd.DataFrame],
            progress: Callable[[int, int], None], cancelled: Callable[[], bool] | None) -> pd.Series:
    spec = BacktestSpec(frames=frames, index_symbol=setup.index_symbol, params=ps, preset=setup.preset,
                        cash=setup.cash, start=w.start.to_pydatetime(), end=w.end.to_pydatetime(),
                        data_label=f"validation fold {w.fold}", params_label=label,
                        regime_presets=dict(setup.regime_presets))
    result = run_backtest(spec, progress=progress, cancelled=cancelled)
    eq = result.equity
    return pd.Series(eq["equity"].to_numpy(dtype=float), index=pd.DatetimeIndex(eq["timestamp"]), name=label)


def validate_by_backtest(current: ParamSet, candidate: ParamSet, setup: BacktestSetup, cfg: ValidationConfig,
                         *, progress: Progress | None = None, cancelled: Callable[[], bool] | None = None,
                         unseen_from: pd.Timestamp | None = None) -> ValidationReport:
    """Fold-by-fold backtests of both versions on the held-out tail (from `unseen_from` on, when a search chose
    the candidate: see windows); raises BacktestCancelled when cancelled."""
    measure = Measure.of(current)
    setup = ensemble_history(setup, current, candidate)
    index = setup.frames[setup.index_symbol]
    wins = windows(index["timestamp"], cfg, setup, unseen_from)
    total = sum(2 * w.bars for w in wins) or 1
    done = [0]
    rows: list[dict[str, object]] = []
    curves: dict[tuple[int, str], pd.Series] = {}
    for w in wins:
        frames = _frames(setup, w)
        for who, ps in (("current", current), ("candidate", candidate)):
            base = done[0]

            def step(n: int, _of: int, base: int = base, who: str = who, fold: int = w.fold) -> None:
                if progress is not None:
                    progress(min(1.0, (base + n) / total), f"fold {fold}/{len(wins)}: {who} version backtest")

            curves[(w.fold, who)] = _equity(ps, f"{who} version", setup, w, frames, step, cancelled)
            done[0] = base + w.bars
        cur, cand = curves[(w.fold, "current")], curves[(w.fold, "candidate")]
        ppy = infer_periods_per_year(pd.DatetimeIndex(cur.index))
        close = frames[setup.index_symbol].set_index("timestamp")["close"].astype(float)
        hold = setup.cash * close.loc[cur.index] / float(close.loc[cur.index[0]])
        (c_s, c_r), (d_s, d_r), (h_s, h_r) = (measure.score(s, ppy) for s in (cur, cand, hold))
        rows.append({"fold": w.fold, "start": w.start, "end": w.end, "bars": len(cur), "current": c_s,
                     "candidate": d_s, "buy_hold_score": h_s, "cash_score": 0.0, "current_return": c_r,
                     "candidate_return": d_r, "buy_hold": h_r, "cash": 0.0})
    return _report(pd.DataFrame(rows), cfg, measure, curves)


def ensemble_history(setup: BacktestSetup, *versions: ParamSet) -> BacktestSetup:
    """With the regime ensemble on, a fold warms up on the bars the live refit learns from, so the model its
    backtest fits at the fold's start is the one live trading would have (not one fitted on WARMUP_BARS)."""
    if any(EnsembleConfig.of(ps).enabled for ps in versions):
        return replace(setup, warmup_bars=max(setup.warmup_bars, TRAIN_BARS))
    return setup


def _report(folds: pd.DataFrame, cfg: ValidationConfig, measure: Measure,
            curves: dict[tuple[int, str], pd.Series]) -> ValidationReport:
    report = ValidationReport(folds, source="backtest", measure=measure.text(), curves=curves, alpha=cfg.alpha)
    if folds.empty:
        report.note = "not enough history for one fold"
        return report
    if len(folds) < cfg.folds:
        report.note = f"{len(folds)} folds of at least {MIN_FOLD_BARS} bars instead of {cfg.folds}: short history"
    report.gain = gain(folds["candidate"].to_numpy(dtype=float), folds["current"].to_numpy(dtype=float))
    if cfg.hypothesis:
        cand = folds["candidate"].to_numpy(dtype=float)
        report.comparisons.append(paired("current version", measure.text(), cand,
                                         folds["current"].to_numpy(dtype=float), cfg.alpha))
        if cfg.benchmark:
            report.comparisons.append(paired("buy-and-hold", measure.text(), cand,
                                             folds["buy_hold_score"].to_numpy(dtype=float), cfg.alpha))
            report.comparisons.append(paired("cash", measure.text(), cand,
                                             folds["cash_score"].to_numpy(dtype=float), cfg.alpha))
    return report


def gain(candidate: np.ndarray, current: np.ndarray) -> float:
    """The out-of-sample gain of the mean fold score (see the module docstring for the floor)."""
    if not len(candidate):
        return math.nan
    cur = float(np.mean(current))
    return float((np.mean(candidate) - cur) / max(abs(cur), GAIN_FLOOR))
