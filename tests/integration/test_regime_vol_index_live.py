"""The live engine feeds the simulated market's implied-volatility index (VIX) to the regime classifier: the
stored snapshots (SQLite and PostgreSQL) show the volatility module using the value the source published."""
from __future__ import annotations

from sqlalchemy import desc, select

from engine import jobs
from engine.clock import ManualClock
from engine.cycle import EngineCycle
from engine.market.simulated import SimulatedMarket
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.models import RegimeSnapshot


def test_snapshots_carry_the_sources_vix(any_db_url: str) -> None:
    settings = load_settings(database_url=any_db_url, warmup_polls=0)
    ctx = build_context(settings, with_source=True, migrate=True, clock=ManualClock())
    cycle = EngineCycle()
    jobs.heartbeat(ctx)
    jobs.ensure_instruments(ctx)
    jobs.resume_source(ctx, 0)
    cycle.startup(ctx)
    for _ in range(60):
        ctx.clock.advance(1.0)
        cycle.market(ctx)
    with ctx.store.read() as session:
        snap = session.scalars(select(RegimeSnapshot).order_by(desc(RegimeSnapshot.ts)).limit(1)).one()
    atr = next(m for m in snap.modules["modules"] if m["name"] == "ATRBasedIndicators")["diagnostics"]
    # the same simulation polled on its own up to the snapshot's bar: the index point published with it
    sim = SimulatedMarket(seed=settings.sim_seed, minutes_per_poll=settings.sim_minutes_per_tick)
    published = {}
    while not published or max(published) < snap.ts.replace(tzinfo=sim.start.tzinfo):
        published.update({p.ts: p.close for p in sim.poll().vol_index})
    assert atr["vix_used"] and atr["vix_note"] == "" and atr["vix_age_minutes"] == 0.0
    assert atr["vix"] == published[snap.ts.replace(tzinfo=sim.start.tzinfo)]
