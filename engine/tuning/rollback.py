"""Auto-rollback (AdaptiveTuning auto_rollback_enabled, revert_threshold).

Window: the live scorecard objective (engine/tuning/validation.objective_of) over the newest
REGIMEDESK_ROLLBACK_WINDOW_BARS snapshots (default 390, one US session of minute bars) made by the active
version, against the newest as many made by the version before it; each side needs at least MIN_BARS. Both
sides are scored on the same metrics: only those measured under both (a metric one side lacks, e.g. prices
or the true regime path over only one window, would weight the two overall scores differently, and identical
behaviour could then "fall" by a quarter); with no objective metric in common nothing is judged (logged). When
the active version's objective is below the earlier one's by revert_threshold (relative), the engine rolls
back to the earlier version (source "rollback", audited, notified), but only while the version it judged is
still active: a version another worker applied meanwhile is never undone on the judged version's score (the
refusal is audited as tuning.rollback, outcome "refused"). Only a version that came from a tuning proposal is
rolled back; a version a person applied by hand is left alone unless REGIMEDESK_ROLLBACK_MANUAL_VERSIONS=true.
"""
from __future__ import annotations

import logging

from sqlalchemy import select

from engine import audit, notify
from engine.context import EngineContext
from engine.params.errors import StaleVersionError
from engine.params.typed import Parameters
from engine.params.versions import active_params, apply_version, get_version
from engine.store.models import ParamVersion
from engine.tuning.history import from_store
from engine.tuning.proposals import SYSTEM_ACTOR, tuned_version_ids
from engine.tuning.validation import basis, measured, objective_of

log = logging.getLogger(__name__)
MIN_BARS = 60  # live bars each side needs before a comparison means anything (the window setting is at least this)


def check_rollback(ctx: EngineContext) -> int | None:
    """Roll back a tuned version whose live performance fell by revert_threshold; the new version id or None."""
    if ctx.source is None:
        return None
    window, include_manual = ctx.settings.rollback_window_bars, ctx.settings.rollback_manual_versions
    symbol = ctx.source.index_symbol()
    with ctx.store.read() as s:
        ps = active_params(s)
        tcfg = Parameters(ps).adaptive_tuning
        enabled, threshold = tcfg.auto_rollback_enabled, tcfg.revert_threshold
        if not enabled or ps.version_id is None:
            return None
        parent_id = s.scalar(select(ParamVersion.parent_id).where(ParamVersion.id == ps.version_id))
        if parent_id is None:
            return None
        previous = get_version(s, parent_id)
        now_h = from_store(s, symbol, ps, window, version_id=ps.version_id)
        before_h = from_store(s, symbol, previous, window, version_id=parent_id)
    if ps.version_id not in tuned_version_ids(ctx.store) and not include_manual:
        return None
    if len(now_h) < MIN_BARS or len(before_h) < MIN_BARS:
        return None
    common = measured(ps, now_h) & measured(previous, before_h)
    on = basis(ps, common)
    if not on:
        log.warning("auto-rollback of version %s not judged: no objective metric was measured both under it and "
                    "under version %s (measured under both: %s)", ps.version_id, parent_id,
                    ", ".join(sorted(common)) or "none")
        return None
    objective = objective_of(ps, common)
    now_v, before_v = objective(ps, now_h), objective(previous, before_h)
    if before_v <= 0 or now_v >= before_v * (1.0 - threshold):
        return None
    drop = 1.0 - now_v / before_v
    why = (f"live objective {now_v:.3f} over {len(now_h)} bars vs {before_v:.3f} under version {parent_id} "
           f"({drop:.0%} lower; revert threshold {threshold:.0%}; on {', '.join(on)}, measured under both)")
    try:  # only if the version judged is still the active one: another worker may have applied one meanwhile
        back = apply_version(ctx.store, previous, SYSTEM_ACTOR, "rollback", f"rollback to version {parent_id}: {why}",
                             clock=ctx.clock, action="params.rollback", expected_parent=ps.version_id)
    except StaleVersionError as e:
        _refused(ctx, ps.version_id, parent_id, e.active, why)
        return None
    with ctx.store.write() as s:
        audit.record(s, ctx.clock.now(), SYSTEM_ACTOR, "tuning.rollback", f"param_version:{ps.version_id}",
                     {"to": parent_id, "new_version": back.version_id, "why": why})
        notify.after_commit(s, "RegimeDesk: tuned parameters rolled back",
                            f"Version {ps.version_id} rolled back to {parent_id}: {why}")
    log.warning("auto-rollback of version %s: %s", ps.version_id, why)
    return back.version_id


def _refused(ctx: EngineContext, judged: int | None, to: int, active: int | None, why: str) -> None:
    """Audit a rollback refused as stale: the score was the judged version's, so it says nothing of `active`."""
    with ctx.store.write() as s:
        audit.record(s, ctx.clock.now(), SYSTEM_ACTOR, "tuning.rollback", f"param_version:{judged}",
                     {"to": to, "active": active, "why": why, "stale": True}, outcome="refused")
    log.warning("auto-rollback of version %s refused: version %s became active meanwhile (%s)", judged, active, why)
