"""Integer tables of one parameter set for the compiled state machine (batch/kernel.py).

Everything that depends only on (current regime, candidate regime) - the route, the stepping stone,
the matching TransitionRules, the confidence floor, the "no rule" message - is computed here once
by calling the live TransitionPolicy / StabilityPolicy functions themselves, so the kernel only
looks numbers up. Also: the reasons the kernel reports as codes, turned back into the live texts.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from engine.regime import candidate
from engine.regime.formation import RegimeRow
from engine.regime.transitions import TransitionRule

if TYPE_CHECKING:
    from engine.regime.classifier import RegimeClassifier

UNRULED = TransitionRule("UNRULED", "*", "*", 0.0, 0.0, 0, 99, "no rule; RegimeConsistency check disabled")
CHECKS = ("initial", "rule_confidence", "min_duration", "cooldown", "confirmation", "rate_limit", "persistence",
          "margin", "signals")
(R_NONE, R_GAP, R_ROUTE, R_NORULE, R_CONF, R_SESSION, R_MINDUR, R_COOL, R_CONFIRM, R_HOUR, R_DAY, R_PERSIST,
 R_MARGIN, R_STRENGTH, R_SIGNALS, R_NOTE, R_PACE) = range(17)


@dataclass
class Tables:
    regs: tuple[RegimeRow, ...]
    pair: np.ndarray  # [trend, vol] -> regime index (-1: no such regime)
    reg_t: np.ndarray
    reg_v: np.ndarray
    tdir: np.ndarray
    target: np.ndarray  # [cur, cand] -> regime to move toward (-1: forbidden)
    note: np.ndarray  # [cur, cand] -> index into notes
    norule: np.ndarray  # [cur, cand] -> index into notes ("no TransitionRules row allows ...")
    n_rules: np.ndarray
    rule_thr: np.ndarray  # [cur, cand, j] -> max(rule min confidence, floor)
    rule_req: np.ndarray
    rule_id: np.ndarray  # [cur, cand, j] -> index into rule_names
    min_dur: np.ndarray
    max_dur: np.ndarray
    has_exit: np.ndarray
    exit_: np.ndarray
    demote: np.ndarray  # [trend, vol, slot] -> trend
    notes: list[str]
    rule_names: list[str]
    tags: dict[str, str]  # ValidationRules tags the reasons end with (built once: each is a few reads)


def build(clf: RegimeClassifier) -> Tables:
    f, tp, stab = clf.formation, clf.transitions, clf.stability
    regs = f.regimes
    nr, nt, nv = len(regs), len(f.trend), len(f.vol)
    pos = {r.regime_id: k for k, r in enumerate(regs)}
    pair = np.full((nt, nv), -1, np.int64)
    for r in regs:
        pair[f.trend_by_name[r.trend_class].code, f.vol_by_name[r.vol_class].code] = pos[r.regime_id]
    notes, rule_names = [""], []
    note_ix = {"": 0}

    def note_id(text: str) -> int:
        if text not in note_ix:
            note_ix[text] = len(notes)
            notes.append(text)
        return note_ix[text]

    def name_id(rule: TransitionRule) -> int:
        if rule.rule_id not in rule_names:
            rule_names.append(rule.rule_id)
        return rule_names.index(rule.rule_id)

    target = np.full((nr, nr), -1, np.int64)
    note, norule = np.zeros((nr, nr), np.int64), np.zeros((nr, nr), np.int64)
    per_pair: dict[tuple[int, int], list[tuple[float, int, int]]] = {}
    rules: list[TransitionRule]
    reject = stab.validation.enabled("reject_transition")
    for a, cur in enumerate(regs):
        for b, cand in enumerate(regs):
            tgt, text = (cand, "") if cand.regime_id == cur.regime_id else tp.route(cur, cand)
            rules = tp.matching(cur, tgt) if tgt is not None and tgt.regime_id != cur.regime_id else []
            if tgt is not None and tgt.regime_id != cur.regime_id and not rules:
                buffer = tp.stepping_stone(cur, tgt)
                if buffer is not None:
                    tgt, text = buffer, (text + "; " if text else "") + f"via {buffer.name} (no direct rule)"
                    rules = tp.matching(cur, tgt)
            target[a, b] = -1 if tgt is None else pos[tgt.regime_id]
            note[a, b] = note_id(text)
            if tgt is None or tgt.regime_id == cur.regime_id:
                continue
            if not rules and not reject:
                rules = [UNRULED]
            norule[a, b] = note_id(f"no TransitionRules row allows {cur.name} -> {tgt.name}"
                                   + stab.validation.tag("reject_transition") + (f" ({text})" if text else ""))
            rp = stab.regime_params.get(tgt.regime_id)
            floor = max(rp.entry if rp else 0.0, stab.confidence_threshold)
            if "neutral buffer" in text:
                floor = max(floor, tp.confidence_required)
            per_pair[a, b] = [(max(r.min_confidence, floor), r.required_signals, name_id(r)) for r in rules]
    width = max([len(v) for v in per_pair.values()] + [1])
    n_rules = np.zeros((nr, nr), np.int64)
    thr, req, rid = np.zeros((nr, nr, width)), np.zeros((nr, nr, width), np.int64), np.zeros((nr, nr, width), np.int64)
    for (a, b), found in per_pair.items():
        n_rules[a, b] = len(found)
        for j, (t, q, i) in enumerate(found):
            thr[a, b, j], req[a, b, j], rid[a, b, j] = t, q, i
    cps = [stab.regime_params.get(r.regime_id) for r in regs]
    slots = clf.clock.slots
    demote = np.zeros((nt, nv, max(len(slots), 1)), np.int64)
    for tband in f.trend:  # every (trend, vol) pair has a regime (batch.unsupported_reason checks it)
        for vband in f.vol:
            for s, slot in enumerate(slots):
                demote[tband.code, vband.code, s] = candidate.demote(f, tband, vband, slot.restricted).code \
                    if slot.restricted else tband.code
    return Tables(regs, pair, np.array([f.trend_by_name[r.trend_class].code for r in regs], np.int64),
                  np.array([f.vol_by_name[r.vol_class].code for r in regs], np.int64),
                  np.array([t.direction for t in f.trend], np.int64), target, note, norule, n_rules, thr, req, rid,
                  np.array([stab.min_duration_of(r) for r in regs]), np.array([stab.max_duration_of(r) for r in regs]),
                  np.array([cp is not None for cp in cps]), np.array([cp.exit if cp else 0.0 for cp in cps]),
                  demote, notes, rule_names,
                  {a: stab.validation.tag(a) for a in ("maintain_regime", "halt_transitions")})


def reasons(clf: RegimeClassifier, tb: Tables, code: int, a: list[float], b: list[float], i: list[int], cur: list[int],
            gap: list[float]) -> list[str]:
    """``reason`` for many rows of one reason code (``gap``: the data gap in minutes, shown by R_GAP).
    The pace text, most rows' reason, is formatted by the live StabilityPolicy.pace_text directly."""
    if code == R_PACE:
        regs = tb.regs
        return list(map(clf.stability.pace_text, a, b, [regs[k] for k in cur], i))
    if code == R_GAP:
        return [f"data gap of {g:.0f} min (MissingDataCheck): regime held" for g in gap]
    return [reason(clf, tb, code, *row, "") for row in zip(a, b, i, cur, strict=True)]


def reason(clf: RegimeClassifier, tb: Tables, code: int, a: float, b: float, i: int, cur: int, extra: str) -> str:
    """The live StabilityPolicy.decide text for a reason code (same numbers, same formatting)."""
    stab = clf.stability
    tag = tb.tags.__getitem__
    if code == R_NONE:
        return ""
    if code in (R_GAP,):
        return extra
    if code in (R_ROUTE, R_NORULE, R_NOTE):
        return tb.notes[i]
    if code == R_CONF:
        return f"confidence {a:.2f} below rule {tb.rule_names[i]} minimum {b:.2f}"
    if code == R_SESSION:
        return "session gap: regime held on the first bar (gap_transition_handling=STRICT)"
    if code == R_MINDUR:
        return f"minimum duration: {a:.0f} of {b:.0f} min in {tb.regs[cur].name}" + tag("maintain_regime")
    if code == R_PACE:
        return stab.pace_text(a, b, tb.regs[cur], i)
    if code == R_COOL:
        return f"cooldown: {a:.0f} of {stab.cooldown:.0f} min since last transition"
    if code == R_CONFIRM:
        return f"confirming: {int(a)} of {int(b)} bars"
    if code == R_HOUR:
        return f"circuit breaker: {stab.max_per_hour} transitions in the last hour" + tag("halt_transitions")
    if code == R_DAY:
        return f"circuit breaker: {stab.max_per_day} transitions in the last session" + tag("halt_transitions")
    if code == R_PERSIST:
        return f"persistence {a:.2f} < {stab.persistence_ratio:.2f}"
    if code == R_MARGIN:
        return f"margin {a:.2f} < transition_margin {stab.margin:.2f}"
    if code == R_STRENGTH:
        return f"signal strength {a:.2f} < {stab.signal_strength:.2f}"
    return f"signals {int(a)} < {int(b)} required by rule {tb.rule_names[i]}"
