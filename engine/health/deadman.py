"""The dead-man's switch: when the engine's heartbeat or the market data is older than
REGIMEDESK_DEADMAN_SECONDS, say so in red on every page, tell people, and act once.

It runs outside the engine (in every web process: webapp/deadman.py), because a killed or frozen
(SIGSTOP) engine cannot watch itself. Each outage is one *incident*, named by what went stale and
when it was last fresh ("deadman:engine:<last beat>" or "deadman:market:<last bars>"). The first
watcher to insert that key into engine_kv acts; the primary key makes every other web worker's insert
fail, so several workers racing produce exactly one action (a DB-level guard, on SQLite and PostgreSQL).

Actions (REGIMEDESK_DEADMAN_ACTION):
- none: red banner, audit entry and notification only.
- reduce: REDUCING through control.perform("pause") as system:deadman (no new exposure; orders that would
  add exposure are cancelled); only from ACTIVE, since triggers only ever tighten.
- halt (the default): the kill switch through control.perform("halt") as system:deadman: HALTED, every
  open order cancelled at the broker by this process when the engine is down, except the positions' native
  protective stops (an automatic halt keeps them: engine/trading/control_protection.py), then the final
  broker sync.
  Default because a dead engine manages nothing: no stops, no risk checks, no reconciliation, while
  resting orders at a real broker can still fill. A false alarm costs an operator's resume; a missed
  one can cost money.
A deliberate stop (SHUTTING_DOWN/STOPPED) and a store no engine ever ran against are not incidents.
Trading already HALTED is: it is shown and audited once, but nothing more is done and nobody is paged
again (the halt that got it there already told them; halting again only repeats the page).

Market data is judged against the source's cadence: the received-at mark moves only when a poll brings
new bars, so with Alpaca's finished 1-minute bars polled every 10 s it ages 0-70 s on a healthy feed.
It is stale past threshold + one bar period + one poll period (`market_cadence_s`), never the threshold alone.
Its age is counted from the later of the last arrival and the current session's open (`session_open_at`):
at 09:30 the last arrival is the previous session's, hours old, and the first regular bar cannot arrive
before ~09:31:05, so the first allowance of a session must never trip (it halted a healthy engine at 09:30).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import audit, notify
from engine.health.liveness import LIVE, NEVER, EngineLiveness, age_text, engine_liveness
from engine.protocols import ControlContext
from engine.store.keyvalue import MARKET_DATA_KEY
from engine.store.models import KeyValue, TradingStateRow
from engine.store.write_gate import urgent_writes
from engine.trading import control

if TYPE_CHECKING:
    from engine.market.exchange import MarketCalendar
    from engine.store.db import Store

log = logging.getLogger(__name__)

DEADMAN_ACTOR = "system:deadman"
GUARD_PREFIX = "deadman:"
HANDOFF_S = 1.0  # a live engine (market data stale) gets this long to claim the command
QUIET_STATES = ("SHUTTING_DOWN", "STOPPED")  # stopped on purpose: not an incident
HALTED = "HALTED"  # already halted: an incident is recorded, but not acted on or paged again
ALPACA_BAR_SECONDS = 60.0  # Alpaca's bars are 1-minute bars, returned once finished (alpaca_source.py)


def market_cadence_s(settings: Any, source: Any = None) -> float:
    """Longest normal wait (s) between two arrivals of new bars: one bar period plus one poll period.

    Alpaca: 60 s bars polled every max(tick, alpaca_poll_seconds); the simulated and CSV sources bring a
    bar every tick. No settings (a bare control context): 0, the threshold alone."""
    if settings is None:
        return 0.0
    tick = float(settings.tick_seconds)
    name = str(getattr(settings.market_source, "value", settings.market_source))
    if name == "alpaca":
        return float(getattr(source, "bar_seconds", ALPACA_BAR_SECONDS)) + max(tick, float(settings.alpaca_poll_seconds))
    return 2 * tick


def session_open_at(calendar: MarketCalendar | None, now: datetime) -> datetime | None:
    """The open (UTC) of today's regular session in the exchange's timezone, even a few seconds ahead (a
    broker clock that says "open" early): market data age counts from no earlier than it. None without an
    exchange (simulated, CSV: no sessions) or on a day without a session."""
    if calendar is None or calendar.exchange is None:
        return None
    at = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    hours = calendar.regular_hours(at.astimezone(ZoneInfo(calendar.timezone)).date())
    return hours[0] if hours is not None else None


def market_data_since(market_at: datetime | None, session_open: datetime | None) -> datetime | None:
    """What market data age is counted from: the last arrival, or the session's open when that is later."""
    if market_at is None or session_open is None:
        return market_at
    return max(market_at, session_open)


def recorded_cadence_s(session: Session) -> float:
    """The cadence the engine that writes the received-at mark recorded with it (it knows its source)."""
    mark = session.get(KeyValue, MARKET_DATA_KEY)
    try:
        return max(0.0, float((mark.value or {}).get("cadence_s") or 0.0)) if mark is not None else 0.0
    except (TypeError, ValueError):
        return 0.0


@dataclass(frozen=True)
class DeadmanView:
    tripped: bool
    kind: str | None  # engine | market
    age_s: float | None
    threshold_s: float
    incident: str | None
    reason: str
    liveness: EngineLiveness
    state: str | None
    record: dict[str, Any] | None  # what a watcher did for this incident (engine_kv), once one acted

    def banner_text(self) -> str:
        if not self.tripped:
            return self.liveness.summary()
        text = f"DEAD-MAN'S SWITCH: {self.reason}"
        if self.record:
            done = self.record.get("result") or "in progress"
            text += (f" — action {self.record.get('action')} by {self.record.get('by')} at "
                     f"{str(self.record.get('at', ''))[11:19]} UTC: {done}")
        return text


def evaluate(session: Session, now: datetime, threshold_s: float, market_open: bool = True,
             cadence_s: float = 0.0, session_open: datetime | None = None) -> DeadmanView:
    """Read the heartbeat, the market data mark and the trading state; decide whether the switch trips.
    `cadence_s`: the source's bar + poll period as this process knows it (the engine's record wins when longer).
    `session_open`: the current session's open (`session_open_at`); market data is never older than it."""
    live = engine_liveness(session, now)
    since = market_data_since(live.market_at, session_open)
    market_age = (now - since).total_seconds() if since is not None else None
    cadence = max(cadence_s, recorded_cadence_s(session))
    market_limit = threshold_s + cadence
    row = session.get(TradingStateRow, 1)
    state = row.state if row is not None else None
    kind = incident = None
    age: float | None = None
    reason = ""
    if threshold_s > 0 and state is not None and state not in QUIET_STATES and live.status != NEVER:
        if live.status != LIVE and live.beat_age_s is not None and live.beat_age_s > threshold_s:
            kind, age = "engine", live.beat_age_s
            incident = f"{GUARD_PREFIX}engine:{live.last_beat.isoformat() if live.last_beat else 'none'}"
            reason = (f"engine heartbeat stale for {age_text(age)} (threshold {threshold_s:.0f} s): "
                      f"{live.engine_id} (pid {live.pid} on {live.host}) is killed, frozen or unreachable")
        elif (live.status == LIVE and market_open and market_age is not None and since is not None
              and market_age > market_limit and live.market_at is not None
              and _beat_after_stale(live, since, market_limit)):
            kind, age = "market", market_age
            incident = f"{GUARD_PREFIX}market:{live.market_at.isoformat()}"
            allowed = f"threshold {threshold_s:.0f} s" + (f" + {cadence:.0f} s bar cadence" if cadence else "")
            opened = f" (the session opened {since:%H:%M:%S} UTC)" if since != live.market_at else ""
            reason = (f"market data stale for {age_text(age)} ({allowed}): no new bars since "
                      f"{live.market_at:%H:%M:%S} UTC{opened}")
    record = None
    if incident is not None:
        kv = session.get(KeyValue, incident[:64])
        record = dict(kv.value) if kv is not None else None
    return DeadmanView(tripped=kind is not None, kind=kind, age_s=age, threshold_s=threshold_s,
                       incident=incident[:64] if incident else None, reason=reason, liveness=live, state=state,
                       record=record)


def _beat_after_stale(live: EngineLiveness, since: datetime, threshold_s: float) -> bool:
    """The engine beat after its market data had been stale for the limit (threshold_s, with the cadence
    added by the caller; stale counted from `since`, market_data_since): it is alive and the data is
    the problem. A killed or frozen engine stops both at once; its data goes stale first (it ticks more often
    than it beats) while its last beat still looks live, and that is one outage, the engine's (the next
    incident): without this the watchers acted twice for it, once for the data and once for the engine."""
    if live.last_beat is None:
        return False
    return (live.last_beat - since).total_seconds() > threshold_s


def read_view(store: Store, now: datetime, threshold_s: float, market_open: bool = True,
              cadence_s: float = 0.0, session_open: datetime | None = None) -> DeadmanView:
    with store.read() as s:
        return evaluate(s, now, threshold_s, market_open, cadence_s, session_open)


@urgent_writes()
def claim_incident(ctx: ControlContext, view: DeadmanView, action: str, by: str) -> bool:
    """Insert the incident's guard row; True for the one watcher that succeeds (the primary key decides)."""
    assert view.incident is not None
    now = ctx.clock.now()
    try:
        with ctx.store.write() as s:
            if s.get(KeyValue, view.incident) is not None:
                return False
            s.add(KeyValue(key=view.incident, updated_at=now, value={
                "kind": view.kind, "reason": view.reason, "action": action, "by": by, "at": now.isoformat(),
                "age_s": round(view.age_s or 0.0, 1), "threshold_s": view.threshold_s, "result": None}))
            audit.record(s, now, DEADMAN_ACTOR, "deadman.trigger", target=view.kind or "",
                         details={"incident": view.incident, "reason": view.reason, "action": action, "by": by,
                                  "trading_state": view.state})
    except IntegrityError:  # another web worker inserted it first: it acts, we do not
        return False
    return True


def _record_result(ctx: ControlContext, incident: str, result: str) -> None:
    with ctx.store.write() as s:
        row = s.get(KeyValue, incident)
        if row is not None:
            row.value = {**row.value, "result": result}
            row.updated_at = ctx.clock.now()


def act(ctx: ControlContext, view: DeadmanView, action: str, by: str) -> str | None:
    """Run the configured action once per incident; returns what was done, or None when another
    watcher had the incident already (or nothing tripped)."""
    if not view.tripped or view.incident is None or not claim_incident(ctx, view, action, by):
        return None

    if view.state == HALTED:  # the kill switch already ran: no second halt, no second page
        log.warning("dead-man's switch: %s; trading is already HALTED, nothing done", view.reason)
        outcome = f"{action}: nothing to do, trading is already HALTED (not notified again)"
        _record_result(ctx, view.incident, outcome)
        return outcome
    log.error("dead-man's switch: %s; action %s", view.reason, action)
    reason = f"dead-man's switch: {view.reason}"
    try:
        if action == "halt":
            result = control.perform(ctx, DEADMAN_ACTOR, "halt", reason=reason, handoff_s=HANDOFF_S, wait_s=10.0)
            outcome = f"halt #{result.command_id}: {result.status} (state {result.state}); {result.message}"
        elif action == "reduce" and view.state == "ACTIVE":
            result = control.perform(ctx, DEADMAN_ACTOR, "pause", reason=reason, handoff_s=HANDOFF_S, wait_s=10.0)
            outcome = f"reduce #{result.command_id}: {result.status} (state {result.state}); {result.message}"
        elif action == "reduce":
            outcome = f"reduce: nothing to do, trading is already {view.state}"
        else:
            outcome = "none: shown and notified only (REGIMEDESK_DEADMAN_ACTION=none)"
    except Exception as exc:  # noqa: BLE001 - recorded and told; the banner stays red
        log.exception("dead-man's switch action %s failed", action)
        outcome = f"{action} failed: {type(exc).__name__}: {exc}"
    _record_result(ctx, view.incident, outcome[:1000])
    notify.notify("RegimeDesk: dead-man's switch tripped", f"{view.reason}. Action: {outcome}", "failure")
    return outcome
