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

Market data is judged against the source's cadence: stale past threshold + one bar period + one poll period
(`market_cadence_s`), never the threshold alone. A wall-clock feed (Alpaca: the market job records "bar_s" with
its mark) is aged like everywhere else in the product, by its newest bar's end within the exchange's sessions
(engine/market/data_age.py): a feed arriving on time with bars 25 minutes old is 25 minutes old, and a closed
market (nights, weekends, holidays) never trips. The simulated and CSV sources are aged by the received-at mark,
counted from no earlier than the session's open (`session_open_at`): the first allowance of a session must never
trip (it halted a healthy engine at 09:30). A market incident is named by the data it went stale on (the newest
bar's end, or the mark), and lasts until fresh data newer than that comes: a lagging feed's next stale bar is the
same incident (paged once), and the recovery is audited and told once (`recover`, the same DB guard).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import audit, notify
from engine.health.deadman_market import ALPACA_BAR_SECONDS as ALPACA_BAR_SECONDS
from engine.health.deadman_market import GUARD_PREFIX as GUARD_PREFIX
from engine.health.deadman_market import MARKET_PREFIX as MARKET_PREFIX
from engine.health.deadman_market import MarketAge as MarketAge
from engine.health.deadman_market import market_age as market_age
from engine.health.deadman_market import market_cadence_s as market_cadence_s
from engine.health.deadman_market import market_data_since as market_data_since
from engine.health.deadman_market import open_market_incident, recovery_key
from engine.health.deadman_market import recorded_cadence_s as recorded_cadence_s
from engine.health.deadman_market import session_open_at as session_open_at
from engine.health.liveness import LIVE, NEVER, EngineLiveness, age_text, engine_liveness
from engine.protocols import ControlContext
from engine.store.models import KeyValue, TradingStateRow
from engine.store.write_gate import urgent_writes
from engine.trading import control

if TYPE_CHECKING:
    from engine.market.exchange import MarketCalendar
    from engine.store.db import Store

log = logging.getLogger(__name__)

DEADMAN_ACTOR = "system:deadman"
HANDOFF_S = 1.0  # a live engine (market data stale) gets this long to claim the command
QUIET_STATES = ("SHUTTING_DOWN", "STOPPED")  # stopped on purpose: not an incident
HALTED = "HALTED"  # already halted: an incident is recorded, but not acted on or paged again


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
    market: MarketAge | None = None
    recovered: str | None = None  # the open market incident whose data is fresh again (`recover` reports it)

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
             cadence_s: float = 0.0, session_open: datetime | None = None,
             calendar: MarketCalendar | None = None) -> DeadmanView:
    """Read the heartbeat, the market data and the trading state; decide whether the switch trips.
    `cadence_s`: the source's bar + poll period as this process knows it (the engine's record wins when longer).
    `session_open` (`session_open_at`) and `calendar`: the sessions market data is aged in (`market_age`)."""
    live = engine_liveness(session, now)
    market = market_age(session, live, now, calendar, session_open)
    cadence = max(cadence_s, recorded_cadence_s(session))
    market_limit = threshold_s + cadence
    row = session.get(TradingStateRow, 1)
    state = row.state if row is not None else None
    opened = open_market_incident(session)
    kind = incident = None
    age: float | None = None
    reason = ""
    if threshold_s > 0 and state is not None and state not in QUIET_STATES and live.status != NEVER:
        if live.status != LIVE and live.beat_age_s is not None and live.beat_age_s > threshold_s:
            kind, age = "engine", live.beat_age_s
            incident = f"{GUARD_PREFIX}engine:{live.last_beat.isoformat() if live.last_beat else 'none'}"
            reason = (f"engine heartbeat stale for {age_text(age)} (threshold {threshold_s:.0f} s): "
                      f"{live.engine_id} (pid {live.pid} on {live.host}) is killed, frozen or unreachable")
        elif (live.status == LIVE and market_open and market is not None and market.due
              and market.age_s > market_limit and _beat_after_stale(live, market.since, market_limit)):
            kind, age = "market", market.age_s
            # still stale since the open incident (a lagging feed's next old bar): the same incident
            incident = opened[0] if opened is not None else f"{MARKET_PREFIX}{market.data_at.isoformat()}"
            allowed = f"threshold {threshold_s:.0f} s" + (f" + {cadence:.0f} s bar cadence" if cadence else "")
            reason = f"market data stale for {age_text(age)} ({allowed}): {market.words}"
    recovered = None
    if (kind is None and opened is not None and live.status == LIVE and market is not None
            and market.fresh(market_limit) and market.data_at > opened[1]):
        recovered = opened[0]  # data newer than the incident's, and fresh
    record = None
    if incident is not None:
        kv = session.get(KeyValue, incident[:64])
        record = dict(kv.value) if kv is not None else None
    return DeadmanView(tripped=kind is not None, kind=kind, age_s=age, threshold_s=threshold_s,
                       incident=incident[:64] if incident else None, reason=reason, liveness=live, state=state,
                       record=record, market=market, recovered=recovered)


def _beat_after_stale(live: EngineLiveness, since: datetime, threshold_s: float) -> bool:
    """The engine beat after its market data had been stale for the limit (threshold_s, with the cadence
    added by the caller; stale counted from `since`, market_age): it is alive and the data is
    the problem. A killed or frozen engine stops both at once; its data goes stale first (it ticks more often
    than it beats) while its last beat still looks live, and that is one outage, the engine's (the next
    incident): without this the watchers acted twice for it, once for the data and once for the engine."""
    if live.last_beat is None:
        return False
    return (live.last_beat - since).total_seconds() > threshold_s


def read_view(store: Store, now: datetime, threshold_s: float, market_open: bool = True,
              cadence_s: float = 0.0, session_open: datetime | None = None,
              calendar: MarketCalendar | None = None) -> DeadmanView:
    with store.read() as s:
        return evaluate(s, now, threshold_s, market_open, cadence_s, session_open, calendar)


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
                "age_s": round(view.age_s or 0.0, 1), "threshold_s": view.threshold_s, "result": None,
                **({"data_at": view.market.data_at.isoformat()} if view.kind == "market" and view.market else {})}))
            audit.record(s, now, DEADMAN_ACTOR, "deadman.trigger", target=view.kind or "",
                         details={"incident": view.incident, "reason": view.reason, "action": action, "by": by,
                                  "trading_state": view.state})
    except IntegrityError:  # another web worker inserted it first: it acts, we do not
        return False
    return True


def _record_result(ctx: ControlContext, incident: str, result: str, notified: bool = True) -> None:
    with ctx.store.write() as s:
        row = s.get(KeyValue, incident)
        if row is not None:
            row.value = {**row.value, "result": result, "notified": notified}
            row.updated_at = ctx.clock.now()


def act(ctx: ControlContext, view: DeadmanView, action: str, by: str) -> str | None:
    """Run the configured action once per incident; returns what was done, or None when another
    watcher had the incident already (or nothing tripped)."""
    if not view.tripped or view.incident is None or not claim_incident(ctx, view, action, by):
        return None

    if view.state == HALTED:  # the kill switch already ran: no second halt, no second page
        log.warning("dead-man's switch: %s; trading is already HALTED, nothing done", view.reason)
        outcome = f"{action}: nothing to do, trading is already HALTED (not notified again)"
        _record_result(ctx, view.incident, outcome, notified=False)
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


@urgent_writes()
def recover(ctx: ControlContext, view: DeadmanView, by: str) -> str | None:
    """Audit and tell, once per incident (its guard row's primary key decides among the watchers), that the
    market data of the open incident `view.recovered` is fresh again; None for every other watcher. Trading
    stays as the incident left it: resuming is an operator's decision. Nobody is told of the recovery of an
    incident nobody was told of (trading was already HALTED)."""
    if view.recovered is None or view.market is None:
        return None
    now = ctx.clock.now()
    try:
        with ctx.store.write() as s:
            key = recovery_key(view.recovered)
            incident = s.get(KeyValue, view.recovered)
            if s.get(KeyValue, key) is not None or incident is None:
                return None
            record = dict(incident.value or {})
            if record.get("result") is None:  # its action still runs: the recovery is told after its page
                return None
            text = (f"market data fresh again: {view.market.words}, {age_text(view.market.age_s)} old; "
                    f"the incident of {str(record.get('at', ''))[:19].replace('T', ' ')} UTC is over "
                    f"(trading is {view.state}: resuming is an operator's decision)")
            s.add(KeyValue(key=key, updated_at=now, value={"incident": view.recovered, "at": now.isoformat(),
                                                           "by": by, "text": text}))
            audit.record(s, now, DEADMAN_ACTOR, "deadman.recovered", target="market",
                         details={"incident": view.recovered, "text": text, "by": by, "trading_state": view.state})
    except IntegrityError:  # another web worker recorded it first: it tells, we do not
        return None
    log.warning("dead-man's switch: %s", text)
    if record.get("notified", True):
        notify.notify("RegimeDesk: market data fresh again", text, "success")
    return text
