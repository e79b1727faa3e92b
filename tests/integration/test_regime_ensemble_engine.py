"""The ensemble in the running engine: the refit job (its own job) stores a model with the parameter
version and data range it came from; the live stage then adds the ensemble's verdict to every new
snapshot, always from a model whose data ended before the bar it classifies."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.health.recorder import update_cumulative_metrics
from engine.params.versions import active_params, apply_version
from engine.planner.job import run_planner_job
from engine.planner.portfolio import portfolio_state
from engine.regime.ensemble import store as model_store
from engine.regime.ensemble.job import refit_if_due
from engine.regime.ensemble.model_key import model_key
from engine.regime.testing import edited
from engine.store.current_regime import current_regime
from engine.store.models import EnsembleModelRow, PlannerPlan, RegimeSnapshot
from tests.engine_run import warmed_engine


def test_refit_job_stores_a_model_and_live_snapshots_carry_verdicts(any_db_url: str) -> None:
    ctx, cycle = warmed_engine(any_db_url, market_ticks=5)
    with ctx.store.read() as session:
        before = session.scalar(select(RegimeSnapshot.id).order_by(RegimeSnapshot.id.desc()).limit(1))
        params = active_params(session)
    model_id = refit_if_due(ctx)
    assert model_id is not None
    assert refit_if_due(ctx) is None  # not due again until update_frequency new bars arrived
    with ctx.store.read() as session:
        row = session.get(EnsembleModelRow, model_id)
        assert row is not None and row.params_hash == model_key(params) and row.param_version_id == params.version_id
        assert row.n_rows >= 200 and row.data_start < row.data_end and row.fit_seconds > 0
        model = model_store.load(session, model_id)
        assert set(row.metrics["train_agreement"]) == {"hmm", "gmm", "random_forest", "gradient_boost"}
    assert model.data_end == row.data_end
    for _ in range(30):
        ctx.clock.advance(1.0)
        cycle.market(ctx)
    with ctx.store.read() as session:
        snaps = list(session.scalars(select(RegimeSnapshot).where(RegimeSnapshot.id > before)
                                     .order_by(RegimeSnapshot.id)))
    assert len(snaps) >= 20
    with ctx.store.read() as session:
        earlier = list(session.scalars(select(RegimeSnapshot).where(RegimeSnapshot.id <= before)))
    assert earlier and all(s.modules.get("ensemble") is None for s in earlier)  # classified before any model
    with_model = [s for s in snaps if s.modules.get("ensemble")]
    assert len(with_model) >= 20
    for s in with_model:
        v = s.modules["ensemble"]
        assert v["model_id"] == model_id and s.ts > row.data_end  # fitted on bars before the one classified
        assert v["status"] in ("agree", "ensemble", "rules", "uncertain")
        assert 0.0 <= v["confidence"] <= 1.0 and 0.0 <= v["disagreement"] <= 1.0
        assert v["regime_id"] is None or isinstance(v["regime_id"], int)
    seen = {int(c) for c in model.rf.classes_}  # regimes the training window contained
    known = [s for s in with_model if s.regime_id in seen]
    for s in with_model:  # a regime the models never saw cannot be agreed with: never reported as agreement
        if s.regime_id not in seen:
            assert s.modules["ensemble"]["status"] in ("ensemble", "uncertain")
    if len(known) >= 10:  # trained on the rule-based labels, it mostly agrees with them on regimes it knows
        agree = sum(s.modules["ensemble"]["ensemble_regime_id"] == s.regime_id for s in known) / len(known)
        assert agree > 0.5
    # the regime the engine acts on (defaults: CONSERVATIVE handling, MOST_STABLE conflict resolution)
    for s in earlier:  # before the first refit the rule-based answer stands, and the snapshot says so
        assert (s.effective_regime_id, s.regime_status) == (s.regime_id, "no_model")
    for s in with_model:
        v = s.modules["ensemble"]
        assert s.regime_status == v["status"] and s.regime_reason
        if v["status"] in ("agree", "rules"):
            assert s.effective_regime_id == s.regime_id
        elif v["status"] == "uncertain":
            assert s.effective_regime_id is None and s.effective_regime_name is None
        else:  # a firm conflict: the answer that held longer, the rules' on a tie
            longer = v["ensemble_regime_id"] if v["ensemble_run"] > v["rule_run"] else s.regime_id
            assert s.effective_regime_id == longer
    with ctx.store.read() as session:  # the one reader gives the newest snapshot's effective regime
        cur = current_regime(session)
    assert cur is not None and (cur.regime_id, cur.status) == (snaps[-1].effective_regime_id, snaps[-1].regime_status)


@pytest.mark.slow
def test_a_stored_model_puts_the_ensembles_answer_in_force(any_db_url: str) -> None:
    """With bars every verdict clears (confidence 0, disagreement and uncertainty up to 1) the next snapshots
    carry the ensemble's answer as the regime the engine acts on - a conflict decided by HIGHEST_CONFIDENCE -
    and the planner reads exactly that regime."""
    ctx, cycle = warmed_engine(any_db_url, market_ticks=5)
    with ctx.store.read() as session:
        firm = edited(active_params(session), {("EnsembleMethods", "minimum_ensemble_confidence"): 0.0,
                                               ("EnsembleMethods", "disagreement_threshold"): 1.0,
                                               ("RiskControls", "max_uncertainty_threshold"): 1.0,
                                               ("RiskControls", "conflict_resolution"): "HIGHEST_CONFIDENCE"})
    apply_version(ctx.store, firm, "test", "ui", "every ensemble verdict firm", clock=ctx.clock)
    ctx.clock.advance(1.0)
    cycle.market(ctx)  # the stage reloads on the new version (its snapshots: no model for it yet)
    model_id = refit_if_due(ctx)
    assert model_id is not None
    with ctx.store.read() as session:
        first = session.scalar(select(RegimeSnapshot.id).order_by(RegimeSnapshot.id.desc()).limit(1))
    for _ in range(20):
        ctx.clock.advance(1.0)
        cycle.market(ctx)
    with ctx.store.read() as session:
        snaps = list(session.scalars(select(RegimeSnapshot).where(RegimeSnapshot.id > first).order_by(RegimeSnapshot.id)))
        state = portfolio_state(session, active_params(session))
    assert len(snaps) >= 15 and all(s.modules["ensemble"]["model_id"] == model_id for s in snaps)
    assert {s.regime_status for s in snaps} <= {"agree", "ensemble"}  # every verdict is firm
    for s in snaps:
        v = s.modules["ensemble"]
        ens = v["ensemble_regime_id"]
        if s.regime_status == "agree":
            assert s.effective_regime_id == ens == s.regime_id
        else:  # a firm conflict: the higher confidence, the rules' on a tie
            want = ens if v["calibrated_confidence"] > s.confidence else s.regime_id
            assert ens != s.regime_id and s.effective_regime_id == want and "HIGHEST_CONFIDENCE" in (s.regime_reason or "")
    assert state.regime == snaps[-1].effective_regime_name and state.regime_hold is None


def test_the_planner_job_under_an_uncertain_regime_proposes_no_buys(any_db_url: str) -> None:
    """CONSERVATIVE handling: with the newest snapshot uncertain the planner job buys nothing and says why
    (the same engine a moment before, with a regime in force, buys)."""
    ctx, cycle = warmed_engine(any_db_url, market_ticks=5)
    cycle.account(ctx)
    before = run_planner_job(ctx)
    assert before is not None and any(s.side == "buy" for s in before.steps)  # cash and no positions: it buys
    with ctx.store.write() as session:
        newest = session.scalars(select(RegimeSnapshot).order_by(RegimeSnapshot.id.desc()).limit(1)).one()
        session.add(RegimeSnapshot(**{c: getattr(newest, c) for c in COPIED}, effective_regime_id=None,
                                   effective_regime_name=None, regime_status="uncertain",
                                   regime_reason="constructed: ensemble says 3, rules say 5"))
    plan = run_planner_job(ctx)
    assert plan is not None and not any(s.side == "buy" for s in plan.steps)
    assert plan.notes[0].startswith("regime uncertain") and "constructed: ensemble says 3" in plan.notes[0]
    assert "CONSERVATIVE" in plan.notes[0] and "regime uncertain" in plan.preset_reason
    with ctx.store.read() as session:
        stored = session.scalars(select(PlannerPlan).order_by(PlannerPlan.id.desc()).limit(1)).one()
    assert stored.steps == [] or all(s["side"] == "sell" for s in stored.steps)
    assert stored.regime is None and "regime uncertain" in stored.preset_reason
    metrics = update_cumulative_metrics(ctx)["regime"]  # /metrics regimedesk_regime_id: -1, no regime
    assert (metrics["id"], metrics["name"], metrics["status"]) == (-1, "uncertain", "uncertain")
    assert metrics["rule_id"] == newest.regime_id


COPIED = ("ts", "symbol", "regime_id", "regime_name", "confidence", "raw_score", "volatility_value",
          "volatility_class", "trend_value", "trend_class", "time_in_regime_s", "is_transition", "transition_rule",
          "param_version_id", "modules")
