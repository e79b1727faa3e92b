"""Detection quality on the simulated market: how often the detected trend and volatility classes
match the simulation's true regime path, and regime transitions per session against the workbook's
MasterConfiguration target_daily_transitions, each next to a trivial baseline.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.market.simulated import SimulatedMarket
from engine.params.paramset import ParamSet
from engine.params.typed import Parameters
from engine.regime.formation import Formation
from engine.regime.intraday import IntradayClock
from engine.regime.replay import replay


@dataclass(frozen=True, slots=True)
class QualityReport:
    bars: int
    trend_match: float
    vol_match: float
    trend_baseline: float  # best constant guess (majority true class)
    vol_baseline: float
    transitions_per_session: float
    true_changes_per_session: float
    target_daily_transitions: float

    def lines(self) -> list[str]:
        return [
            f"bars scored: {self.bars}",
            f"trend class match: {self.trend_match:.1%} (majority-class baseline {self.trend_baseline:.1%})",
            f"volatility class match: {self.vol_match:.1%} (majority-class baseline {self.vol_baseline:.1%})",
            f"transitions per session: {self.transitions_per_session:.2f} (target {self.target_daily_transitions:.2f}; "
            f"true regime changes per session {self.true_changes_per_session:.2f})",
        ]


def trend_labels(formation: Formation) -> dict[str, str]:
    """Trend class -> simulated trend label (direction of the class's slope band)."""
    return {t.name: ("up" if t.direction > 0 else "down" if t.direction < 0 else "sideways") for t in formation.trend}


def vol_labels(formation: Formation) -> dict[str, str]:
    names = ("low", "medium", "high")
    return {v.name: names[min(v.code, 2)] for v in formation.vol}


def score(records: pd.DataFrame, truth: pd.DataFrame, params: ParamSet, bar_minutes: float = 1.0) -> QualityReport:
    """records: replay output (timestamp, trend_class_name, volatility_class_name, regime_transition, warmup);
    truth: simulated regimes (ts, trend, volatility)."""
    f = Formation(params)
    session = _session_minutes(params)
    target = float(Parameters(params).master_configuration.target_daily_transitions)
    t = truth.rename(columns={"ts": "timestamp"})[["timestamp", "trend", "volatility"]]
    r = records[~records["warmup"].astype(bool)]
    m = r.merge(t, on="timestamp", how="inner")
    if m.empty:
        raise ValueError("quality: no replay rows line up with the true regime path (timestamps differ)")
    det_t = m["trend_class_name"].map(trend_labels(f))
    det_v = m["volatility_class_name"].map(vol_labels(f))
    sessions = len(m) * bar_minutes / session
    true_changes = int(((m["trend"] != m["trend"].shift()) | (m["volatility"] != m["volatility"].shift())).iloc[1:].sum())
    return QualityReport(
        bars=len(m),
        trend_match=float(np.mean(det_t.to_numpy() == m["trend"].to_numpy())),
        vol_match=float(np.mean(det_v.to_numpy() == m["volatility"].to_numpy())),
        trend_baseline=float(m["trend"].value_counts(normalize=True).iloc[0]),
        vol_baseline=float(m["volatility"].value_counts(normalize=True).iloc[0]),
        transitions_per_session=float(m["regime_transition"].sum()) / sessions,
        true_changes_per_session=true_changes / sessions,
        target_daily_transitions=target,
    )


def _session_minutes(params: ParamSet) -> float:
    return IntradayClock(params).session_minutes


def run_simulated(params: ParamSet, seed: int = 7, minutes: int = 10_000, with_chains: bool = False) -> QualityReport:
    """Replay the simulated index (optionally with its option chains) and score it against the truth."""
    market = SimulatedMarket(seed=seed)
    bars, truth = market.history(minutes)
    idx = bars[bars["symbol"] == market.index_symbol()].rename(columns={"ts": "timestamp"})
    chains = None
    if with_chains:
        chains = [c for _ in range(minutes) for c in market.poll().chains if c.underlying == market.index_symbol()]
    out = replay(idx, params, chains=chains, symbol=market.index_symbol())
    return score(out, truth, params)
