"""The live regime step of the engine cycle: classify new index bars with the ACTIVE parameter version.

Hot reload: the active version is read every cycle; when it changed, a new classifier is built
with it and warmed on the stored history, so the next snapshot already uses the new version. The ensemble's
learned state (calibrator, adaptive weights, HMM filter) is kept across a version with the same model and
ensemble settings, starts fresh (logged) on one that changes them, and is rebuilt from the stored verdicts
at start-up (engine/regime/ensemble/resume.py), so a restart does not change what the same model answers.
Every stored snapshot carries the version id that produced it, the rule-based regime (regime_id) and the
regime the engine acts on (effective_regime_id, regime_status, regime_reason: engine/regime/ensemble/effective.py).
Each cycle also applies ValidationRules trigger_gc and reduce_computation (engine/runtime_guards.py): a cycle over
the latency limit makes the next ones skip the ensemble's verdicts (the rule-based regime stands, said in
regime_reason), and an RSS over the memory limit triggers a garbage collection.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import desc, select

from engine.context import EngineContext
from engine.lease import FencedOut, check_fence
from engine.market.exchange import MarketCalendar, regular_session_bars
from engine.market.types import Bar, MarketUpdate
from engine.params import ParamSet
from engine.params.versions import active_params
from engine.regime.classifier import RegimeClassifier
from engine.regime.config import RuntimeLimits
from engine.regime.ensemble.config import EnsembleConfig
from engine.regime.ensemble.effective import EffectiveRegime, of_config, resolve
from engine.regime.ensemble.live import EnsembleLive
from engine.regime.inputs import to_buffer
from engine.regime.types import RegimeOutput
from engine.runtime_guards import GUARDS, RuntimeGuards
from engine.store import queries
from engine.store.models import OptionChainSnapshot, RegimeSnapshot
from engine.store.writes import unpack_chain

log = logging.getLogger(__name__)

WARMUP_BARS = 1_500  # about four sessions of 1-minute bars: enough for every module's windows
WARMUP_CHAINS = 30


def snapshot_row(out: RegimeOutput, version_id: int | None, ensemble: dict[str, Any] | None = None,
                 effective: EffectiveRegime | None = None) -> RegimeSnapshot:
    """The stored row; ``ensemble`` is the ensemble's verdict beside the rule-based answer (None: no model yet),
    ``effective`` the regime the engine acts on (effective.of_config; None: the rule-based one, no model)."""
    if effective is None:
        effective = resolve(enabled=True, handling="MODERATE", conflict_resolution="MOST_STABLE",
                            rule_regime=out.regime_id, rule_name=out.regime_name,
                            rule_confidence=float(out.confidence), verdict=None, names={})
    return RegimeSnapshot(
        ts=out.ts, symbol=out.symbol, regime_id=out.regime_id, regime_name=out.regime_name,
        effective_regime_id=effective.regime_id, effective_regime_name=effective.regime_name,
        regime_status=effective.status, regime_reason=effective.reason[:2000],
        confidence=float(out.confidence), raw_score=float(out.raw_score),
        # the classes decided on these very numbers (the adopted regime's own classes are in the catalogue)
        volatility_value=float(out.volatility_component), volatility_class=out.bar_volatility_class,
        trend_value=float(out.trend_component), trend_class=out.bar_trend_class,
        time_in_regime_s=float(out.time_in_regime_minutes) * 60.0, is_transition=bool(out.transition),
        transition_rule=out.transition_rule, param_version_id=version_id,
        modules={"modules": out.module_details(), "classes": out.classes, "ensemble": ensemble, "record": {k: _json_number(v) for k, v in out.to_record().items()
                                                              if isinstance(v, int | float | str | bool | None)}},
    )


def _json_number(value: object) -> object:
    """NaN and infinities become null: PostgreSQL's JSON refuses them (SQLite stored them silently)."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


@dataclass
class RegimeStage:
    classifier: RegimeClassifier | None = None
    version_id: int | None = None
    symbol: str | None = None
    reloads: int = field(default=0)
    ensemble: EnsembleLive | None = None  # the workbook's ensemble beside the classifier (models from the refit job)
    guards: RuntimeGuards = field(default_factory=lambda: GUARDS)  # VAL010 / VAL011 (engine/runtime_guards.py)

    @staticmethod
    def _peers(ctx: EngineContext, symbol: str) -> list[str]:
        """The other symbols of the market: the CorrelationMatrix module's cross-asset inputs."""
        return [s for s in ctx.source.symbols() if s != symbol] if ctx.source is not None else []

    def _build(self, ctx: EngineContext, params: ParamSet, symbol: str, before: datetime | None) -> None:
        """A fresh classifier on `params`, warmed on stored bars older than `before` (warm-up is not stored)."""
        classifier = RegimeClassifier(params, symbol=symbol)
        with ctx.store.read() as session:
            history = queries.bars(session, symbol, WARMUP_BARS)
            peers = {peer: queries.bars(session, peer, WARMUP_BARS) for peer in self._peers(ctx, symbol)}
            chains = [unpack_chain(c.underlying, c.ts, c.spot, c.data) for c in session.scalars(
                select(OptionChainSnapshot).where(OptionChainSnapshot.underlying == symbol)
                .order_by(desc(OptionChainSnapshot.id)).limit(WARMUP_CHAINS))]
        calendar = _calendar(ctx)  # regular-session bars only, as run() feeds them
        history = regular_session_bars(history, calendar)
        peers = {name: regular_session_bars(frame, calendar) for name, frame in peers.items()}
        if before is not None:
            history = history[history["timestamp"] < before] if len(history) else history
            peers = {name: frame[frame["timestamp"] < before] for name, frame in peers.items() if len(frame)}
        warm = classifier.update_many(history, chains[::-1] or None, peers=peers or None) if len(history) else []
        previous = self.ensemble if symbol == self.symbol else None
        ensemble = EnsembleLive(params, symbol)
        if previous is not None and previous.state_key == ensemble.state_key:
            ensemble.stepper = previous.stepper  # same model and settings: the running state goes on unchanged
        else:
            ensemble.warm(warm)
            if previous is not None:
                log.info("regime ensemble: parameter version %s changes the ensemble's model or settings; its "
                         "calibration, adaptive weights and runs start fresh", params.version_id)
            else:  # start-up (or a rebuild after a lost lease): the state the stored verdicts imply
                with ctx.store.read() as session:
                    used = ensemble.resume(session, before)
                log.info("regime ensemble: state rebuilt from %d stored verdicts of %s", used, symbol)
        self.classifier, self.version_id, self.symbol, self.ensemble = classifier, params.version_id, symbol, ensemble
        self.guards.limits = RuntimeLimits.of(params)
        self.reloads += 1
        log.info("regime classifier built for %s on parameter version %s", symbol, params.version_id)

    def run(self, ctx: EngineContext, update: MarketUpdate) -> list[RegimeOutput]:
        source = ctx.source
        if source is None:
            return []
        symbol = source.index_symbol()
        in_session = _in_session(_calendar(ctx))
        session_bars = [b for b in update.bars if in_session(b)]
        new_bars: list[Bar] = [b for b in session_bars if b.symbol == symbol]
        with ctx.store.read() as session:
            params = active_params(session)
        if self.classifier is None or params.version_id != self.version_id or symbol != self.symbol:
            self._build(ctx, params, symbol, before=min((b.ts for b in new_bars), default=None))
        assert self.classifier is not None
        t0 = time.perf_counter()  # the cycle's latency (VAL011), without a rebuild's warm-up
        last = self.classifier.last_ts()
        new_bars = [b for b in new_bars if last is None or b.ts > last]
        if not new_bars:
            return []
        chain = next((c for c in update.chains if c.underlying == symbol), None)
        peers = {peer: to_buffer([b for b in session_bars if b.symbol == peer]) for peer in self._peers(ctx, symbol)}
        outputs = self.classifier.update_many(to_buffer(new_bars), [chain] if chain is not None else None,
                                              peers={k: v for k, v in peers.items() if len(v)} or None,
                                              vol_index=update.vol_index or None)  # the source's VIX, if any
        verdicts: list[dict[str, Any] | None] = [None] * len(outputs)
        reduced = self.guards.reduced and self.ensemble is not None and self.ensemble.cfg.enabled
        if reduced and self.ensemble is not None:  # VAL011: rows remembered, no model verdicts
            self.ensemble.warm(outputs)
        elif self.ensemble is not None and self.ensemble.cfg.enabled:
            with ctx.store.read() as session:
                self.ensemble.refresh(session)
            verdicts = self.ensemble.verdicts(outputs)
        stored = [(o, v) for o, v in zip(outputs, verdicts, strict=True) if not o.warmup]
        if stored:
            cfg = self.ensemble.cfg if self.ensemble is not None else EnsembleConfig.of(params)
            why = f"{self.guards.reason}: the rule-based regime stands" if reduced else ""
            try:
                with ctx.store.write() as session:  # the regime the engine acts on: effective.py's rule, not inline
                    # fenced, in the same transaction: an old leader frozen past its lease and resumed stored late
                    # snapshots with higher ids than the new leader's, and current_regime (newest id) went back
                    check_fence(session, ctx)
                    session.add_all(snapshot_row(o, self.version_id, v, _effective(cfg, o, v, why)) for o, v in stored)
            except FencedOut:
                # it moved past bars it did not store: rebuilt from the store (classifier and ensemble state)
                self.classifier = self.ensemble = None  # if it leads again
                raise
        # milliseconds per update (PerformanceMetrics computation_time): a catch-up cycle of many bars is not slow
        self.guards.observe_latency((time.perf_counter() - t0) * 1000.0 / max(1, len(outputs)))
        self.guards.check_memory()
        return [o for o, _ in stored]


def _effective(cfg: EnsembleConfig, o: RegimeOutput, verdict: dict[str, Any] | None, reduced: str) -> EffectiveRegime:
    """effective.py's answer; with the ensemble skipped (VAL011) the rule-based regime, saying why."""
    eff = of_config(cfg, o.regime_id, o.regime_name, float(o.confidence), verdict)
    return dataclasses.replace(eff, reason=reduced) if reduced else eff


def _calendar(ctx: EngineContext) -> MarketCalendar | None:
    """The source's exchange calendar (Alpaca: XNYS); None for a source that trades around the clock."""
    return getattr(ctx.source, "calendar", None)


def _in_session(calendar: MarketCalendar | None) -> Callable[[Bar], bool]:
    """Whether a new bar is one the regime classifies: every bar without an exchange, else regular-session bars
    (Alpaca's feed brings pre-market and after-hours minutes; see MarketCalendar.regular_session_mask)."""
    if calendar is None or calendar.exchange is None:
        return lambda _bar: True
    return lambda bar: calendar.is_regular_open(bar.ts)
