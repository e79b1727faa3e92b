"""Stability (StabilityConfiguration + RegimeClassification/RegimeParameters durations + ValidationRules):
the incremental state that decides whether a proposed regime is adopted this bar.

Time is counted in market minutes (bars x bar minutes; a daily bar is one session), so durations,
cooldown and per-hour/per-day limits mean the same on 1-minute and daily data. "Per day" is a
rolling window of one session's minutes. MasterConfiguration regime_confirmation_bars counts the
live engine's bars (LIVE_BAR_MINUTES: one minute, trading_mode INTRADAY being the mode built), so on
daily bars 3 confirmation bars are 3 minutes, i.e. one bar, not three sessions.

Pace (MasterConfiguration target_daily_transitions): the circuit breaker is the hard cap on transitions a
session; the target is the rate the engine aims at. After n transitions in the last session a regime is
held at least (session / target) x (n / target) minutes (capped at its maximum duration): no wait while the
engine is at or under its pace, spacing that grows with every transition above it, so a run of whipsaws
slows itself down long before the breaker stops all changes. Emergencies pass it, like the other timing rules.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from engine.params.paramset import ParamSet
from engine.params.typed import Parameters
from engine.regime.config import Validation
from engine.regime.formation import RegimeRow
from engine.regime.transitions import TransitionPolicy, TransitionRule
from engine.regime.types import RegimeError

LIVE_BAR_MINUTES = 1.0  # the live engine's bar (trading_mode INTRADAY): what regime_confirmation_bars counts


@dataclass(frozen=True, slots=True)
class RegimeParams:
    """One RegimeParameters row: entry/exit confidence and durations in minutes."""

    entry: float
    exit: float
    min_duration: float
    typical_duration: float
    max_duration: float


@dataclass(slots=True)
class Proposal:
    """What formation proposes this bar, with the evidence the checks need."""

    candidate: RegimeRow
    confidence: float  # confidence of the candidate
    stay_confidence: float  # confidence of keeping the current regime
    signals: int  # supporting signals counted for the candidate
    available_signals: int
    signal_strength: float  # |raw score| in the candidate's direction (0 for non-directional)
    directional: bool
    spike: bool  # a noise bar: it does not count toward confirmation...
    bar_minutes: float
    sensitivity: float
    session_minutes: float
    session_gap: bool = False  # first bar of a new session (gap_transition_handling applies)
    outsize: bool = False  # ...unless it is an outsize move (spike/outlier z) toward a more volatile regime


@dataclass(slots=True)
class Decision:
    regime: RegimeRow
    transition: bool
    rule_id: str | None
    blocked_by: str
    checks: tuple[str, ...]
    pending_progress: float


@dataclass(slots=True)
class StabilityState:
    regime: RegimeRow | None = None
    clock: float = 0.0
    entered: float = 0.0
    last_transition: float = -math.inf
    pending: RegimeRow | None = None
    pending_count: int = 0
    recent: deque = field(default_factory=lambda: deque(maxlen=3))
    transitions: deque = field(default_factory=lambda: deque(maxlen=64))
    emergencies: deque = field(default_factory=lambda: deque(maxlen=16))

    @property
    def time_in_regime(self) -> float:
        return self.clock - self.entered


def shown_confidence(dec: Decision, candidate: RegimeRow, conf_c: float, conf_s: float) -> float:
    """The bar's confidence: the candidate's when it is the regime shown or a transition was adopted, else the
    current regime's (staying). A routed adoption (neutral buffer, stepping stone, middle volatility class)
    moves to a regime other than the candidate on the strength of the candidate's confidence, which cleared
    max(rule minimum, confidence_threshold): that is the number the move was decided on, not the confidence
    of staying in the regime just left (batch/kernel.py mirrors this)."""
    return conf_c if dec.regime.regime_id == candidate.regime_id or dec.transition else conf_s


class StabilityPolicy:
    def __init__(self, ps: ParamSet, transitions: TransitionPolicy) -> None:
        s = Parameters(ps).stability_configuration
        self.min_duration = float(s.minimum_regime_duration)
        self.max_duration = float(s.maximum_regime_duration)
        self.cooldown = float(s.transition_cooldown)
        self.confirmation_window = float(s.confirmation_window)
        self.confidence_threshold = float(s.confidence_threshold)
        self.high_confidence = float(s.high_confidence_threshold)
        self.hysteresis = float(s.hysteresis_buffer)
        self.adaptive_hysteresis = bool(s.adaptive_hysteresis)
        self.margin = float(s.transition_margin)
        self.signal_strength = float(s.signal_strength_threshold)
        self.noise_threshold = float(s.noise_threshold)
        self.persistence_window = int(s.persistence_window)
        self.persistence_ratio = float(s.persistence_ratio)
        self.max_per_hour = int(s.max_transitions_per_hour)
        self.max_per_day = int(s.max_transitions_per_day)
        self.accuracy_w = float(s.accuracy_score_weight)
        self.stability_w = float(s.stability_score_weight)
        self.confirm_bars = int(math.ceil(float(Parameters(ps).master_configuration.regime_confirmation_bars)))
        self.min_per_day = float(s.min_transitions_per_day)
        self.target_per_session = float(Parameters(ps).master_configuration.target_daily_transitions)
        self.regime_params: dict[int, RegimeParams] = {}  # RegimeParameters rows by regime id
        for r in Parameters(ps).regime_parameters.rows:
            rid = int(r.regime_id)
            known = transitions.f.by_id.get(rid)
            if known is not None and known.name != str(r.regime_name):
                raise RegimeError(f"RegimeParameters row {rid} is named {r.regime_name} but RegimeClassification "
                                  f"calls regime {rid} {known.name}; make the names agree in the workbook")
            self.regime_params[rid] = RegimeParams(float(r.entry_threshold), float(r.exit_threshold), float(r.min_duration),
                                            float(r.typical_duration), float(r.max_duration))
        self.validation = Validation(ps)
        self.enforce_min_duration = self.validation.enabled("maintain_regime")
        self.circuit_breaker = self.validation.enabled("halt_transitions")
        self.flag_low_confidence = self.validation.enabled("flag_low_confidence")
        self.tp = transitions

    def new_state(self) -> StabilityState:
        st = StabilityState()
        st.recent = deque(maxlen=max(1, self.persistence_window))
        return st

    def confidence(self, evidence: float, persistence: float) -> float:
        tot = self.accuracy_w + self.stability_w
        return (self.accuracy_w * evidence + self.stability_w * persistence) / tot if tot > 0 else evidence

    def level(self, confidence: float) -> str:
        return "HIGH" if confidence >= self.high_confidence else "MEDIUM" if confidence >= self.confidence_threshold else "LOW"

    def required_bars(self, p: Proposal) -> int:
        if p.session_gap and self.tp.gap_handling == "RELAXED":
            return 1
        bar = max(p.bar_minutes, 1e-9)
        base = max(math.ceil(self.confirm_bars * LIVE_BAR_MINUTES / bar), math.ceil(self.confirmation_window / bar))
        return max(1, math.ceil(base / max(p.sensitivity, 1e-9)))

    def raises_volatility(self, current: RegimeRow, target: RegimeRow, p: Proposal) -> bool:
        """On bars of a session or longer an outsize move (spike or outlier z) is noise against a calmer
        regime but evidence for a more volatile one: it counts toward confirming a target of a higher
        volatility class (otherwise a sell-off's outsize days would never confirm the High class they
        announce). On intraday bars the spike filter keeps its purpose (an outsize minute is as likely a
        bad print as news: counting them cost 18 points of volatility-class match on the simulated
        minute market with option chains), and small-move noise bars never count."""
        f = self.tp.f
        return (p.bar_minutes >= p.session_minutes
                and f.vol_by_name[target.vol_class].code > f.vol_by_name[current.vol_class].code)

    def min_duration_of(self, regime: RegimeRow) -> float:
        rp = self.regime_params.get(regime.regime_id)
        return max(self.min_duration, regime.min_duration, rp.min_duration if rp else 0.0)

    def max_duration_of(self, regime: RegimeRow) -> float:
        rp = self.regime_params.get(regime.regime_id)
        return min(self.max_duration, rp.max_duration) if rp else self.max_duration

    def pace_minutes(self, regime: RegimeRow, recent: int, session_minutes: float) -> float:
        """Minutes ``regime`` must be held after ``recent`` transitions in the last session (see module doc)."""
        tau = self.target_per_session
        if tau <= 0:
            return 0.0
        return min(session_minutes / tau * recent / tau, self.max_duration_of(regime))

    def normalised_persistence(self, regime: RegimeRow, minutes: float) -> float:
        """Time in regime over the regime's TypicalDuration, capped at 1."""
        rp = self.regime_params.get(regime.regime_id)
        return min(1.0, minutes / rp.typical_duration) if rp and rp.typical_duration > 0 else 0.0

    def decide(self, st: StabilityState, p: Proposal) -> Decision:
        st.clock += p.bar_minutes
        cur = st.regime
        if cur is None:
            self._adopt(st, p.candidate, emergency=False)
            st.recent.append(p.candidate.regime_id)
            return Decision(p.candidate, False, "INITIAL", "", ("initial",), 1.0)
        target, note = (p.candidate, "") if p.candidate.regime_id == cur.regime_id else self.tp.route(cur, p.candidate)
        rules = self.tp.matching(cur, target) if target is not None and target.regime_id != cur.regime_id else []
        if target is not None and target.regime_id != cur.regime_id and not rules:
            buffer = self.tp.stepping_stone(cur, target)
            if buffer is not None:
                target, note = buffer, (note + "; " if note else "") + f"via {buffer.name} (no direct rule)"
                rules = self.tp.matching(cur, target)
        st.recent.append(target.regime_id if target is not None else cur.regime_id)
        if target is None or target.regime_id == cur.regime_id:
            st.pending, st.pending_count = None, 0
            return Decision(cur, False, None, note if target is None else "", (), 0.0)
        if st.pending is None or st.pending.regime_id != target.regime_id:
            st.pending, st.pending_count = target, 0
        if not p.spike or (p.outsize and self.raises_volatility(cur, target, p)):
            st.pending_count += 1
        need = self.required_bars(p)
        progress = min(1.0, st.pending_count / need)
        checks: list[str] = []
        t = st.clock
        if not rules and not self.validation.enabled("reject_transition"):
            rules = [TransitionRule("UNRULED", "*", "*", 0.0, 0.0, 0, 99, "no rule; RegimeConsistency check disabled")]
        if not rules:
            why = f"no TransitionRules row allows {cur.name} -> {target.name}" + self.validation.tag("reject_transition")
            return Decision(cur, False, None, why + (f" ({note})" if note else ""), tuple(checks), progress)
        rp = self.regime_params.get(target.regime_id)
        entry = rp.entry if rp else 0.0
        floor = max(entry, self.confidence_threshold)
        if "neutral buffer" in note:  # a reversal under way must clear the general transition bar
            floor = max(floor, self.tp.confidence_required)
        rule = next((r for r in rules if p.confidence >= max(r.min_confidence, floor)), None)
        if rule is None:
            r0 = rules[0]
            return Decision(cur, False, None, f"confidence {p.confidence:.2f} below rule {r0.rule_id} "
                            f"minimum {max(r0.min_confidence, floor):.2f}", tuple(checks), progress)
        checks.append("rule_confidence")
        day_window = p.session_minutes
        emergency = (self.tp.circuit_breaker and p.confidence >= self.tp.emergency_threshold
                     and sum(1 for e in st.emergencies if e > t - day_window) < self.tp.max_emergency)
        blocked = ""
        time_in = st.time_in_regime
        min_dur = self.min_duration_of(cur)
        if not emergency:
            n_recent = self.recent_transitions(st, t, day_window)
            pace = self.pace_minutes(cur, n_recent, day_window)
            if p.session_gap and self.tp.gap_handling == "STRICT":
                blocked = "session gap: regime held on the first bar (gap_transition_handling=STRICT)"
            elif self.enforce_min_duration and time_in < min_dur:
                blocked = f"minimum duration: {time_in:.0f} of {min_dur:.0f} min in {cur.name}" + self.validation.tag("maintain_regime")
            elif time_in < pace:
                blocked = self.pace_text(time_in, pace, cur, n_recent)
            elif t - st.last_transition < self.cooldown:
                blocked = f"cooldown: {t - st.last_transition:.0f} of {self.cooldown:.0f} min since last transition"
            elif st.pending_count < need:
                blocked = f"confirming: {st.pending_count} of {need} bars"
            else:
                checks += ["min_duration", "cooldown", "confirmation"]
        if not blocked and self.circuit_breaker:
            if sum(1 for x in st.transitions if x > t - 60.0) >= self.max_per_hour:
                blocked = f"circuit breaker: {self.max_per_hour} transitions in the last hour" + self.validation.tag("halt_transitions")
            elif sum(1 for x in st.transitions if x > t - day_window) >= self.max_per_day:
                blocked = f"circuit breaker: {self.max_per_day} transitions in the last session" + self.validation.tag("halt_transitions")
            else:
                checks.append("rate_limit")
        simple = self.tp.method == "SIMPLE"  # SIMPLE: rule confidence + stability timing only
        if not blocked and not simple and not emergency:
            share = sum(1 for x in st.recent if x == target.regime_id) / max(len(st.recent), 1)
            if share < self.persistence_ratio:
                blocked = f"persistence {share:.2f} < {self.persistence_ratio:.2f}"
            else:
                checks.append("persistence")
        if not blocked and not simple:
            cp = self.regime_params.get(cur.regime_id)
            recent_day = sum(1 for x in st.transitions if x > t - day_window)
            locked = time_in > day_window and recent_day < self.min_per_day
            waived = (cp is not None and p.stay_confidence < cp.exit) or time_in > self.max_duration_of(cur) or locked
            if not waived and p.confidence - p.stay_confidence < self.margin:
                blocked = f"margin {p.confidence - p.stay_confidence:.2f} < transition_margin {self.margin:.2f}"
            elif p.directional and p.signal_strength < self.signal_strength:
                blocked = f"signal strength {p.signal_strength:.2f} < {self.signal_strength:.2f}"
            elif p.signals < min(rule.required_signals, p.available_signals):
                blocked = f"signals {p.signals} < {min(rule.required_signals, p.available_signals)} required by rule {rule.rule_id}"
            else:
                checks += ["margin", "signals"]
        if blocked:
            return Decision(cur, False, None, blocked, tuple(checks), progress)
        self._adopt(st, target, emergency)
        return Decision(target, True, ("EMERGENCY:" if emergency else "") + rule.rule_id, note, tuple(checks), 1.0)

    @staticmethod
    def recent_transitions(st: StabilityState, t: float, window: float) -> int:
        return sum(1 for x in st.transitions if x > t - window)

    def pace_text(self, time_in: float, pace: float, cur: RegimeRow, recent: int) -> str:
        return (f"pace: {time_in:.0f} of {pace:.0f} min in {cur.name} ({recent} transitions in the last session, "
                f"target {self.target_per_session:g})")

    def _adopt(self, st: StabilityState, regime: RegimeRow, emergency: bool) -> None:
        if st.regime is not None:
            st.transitions.append(st.clock)
            st.last_transition = st.clock
            if emergency:
                st.emergencies.append(st.clock)
        st.regime = regime
        st.entered = st.clock
        st.pending, st.pending_count = None, 0
