"""Protective exits in the live engine: attach a stop to a position, and check every stop on each market tick.

A triggered stop sends one market order to flat through the order gateway (origin "stop", actor
system:stops): it passes in REDUCING (it only shrinks a position) and is refused while HALTED, where
only an operator's flatten may trade. Such a refusal is audited (stop.blocked) and the stop waits, then
fires again as soon as trading is not HALTED. Each send has its own idempotency key (stop id, attempt),
so a retried tick never sends the same exit twice.

With an exchange calendar (Alpaca: XNYS) only regular-session bars move or trigger a stop, and an exit the
closed session refuses does not count as an attempt: the stop stays active, waiting for the open, and is
checked again on the next regular-session bar against the price then (stop_session.py).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit
from engine.context import EngineContext
from engine.execution.native_cover import checked_by, covered, is_live, native_orders
from engine.execution.session_atr import atr_of_recent
from engine.execution.stop_clearance import STOP_ACTOR, clear_the_way
from engine.execution.stop_position import average_entry
from engine.execution.stop_rest import filled_but_held
from engine.execution.stop_session import (
    WAITING,
    StopEvent,
    StopSession,
    exit_key,
    session_refusal,
    source_calendar,
)
from engine.execution.stops import (
    PriceBar,
    StopError,
    StopSpec,
    StopState,
    Trigger,
    evaluate_bar,
    protective_level,
    take_profit_level,
)
from engine.lease import check_fence
from engine.market.market_clock import market_clock_of
from engine.market.types import Bar
from engine.store.models import OrderRow, PositionRow, ProtectiveStop
from engine.trading import state as trading_state
from engine.trading.brokers.base import OrderSide, OrderStatus, OrderType
from engine.trading.gateway import OrderIntent, submit
from engine.trading.marks import latest_closes, to_decimal
from engine.trading.state import TradingState

log = logging.getLogger(__name__)
STOP_ORIGIN = "stop"
LIVE = ("active", "blocked", "triggered")
MAX_ATTEMPTS = 5  # refusals other than HALTED and the closed session (e.g. the broker's) before a stop gives up
ATR_PERIOD = 14


def spec_of(row: ProtectiveStop) -> StopSpec:
    return StopSpec(row.stop_loss_pct, row.trail_pct, row.trail_atr_mult, row.take_profit_pct, row.max_hold_seconds)


def state_of(row: ProtectiveStop, entry: Decimal | None = None) -> StopState:
    """The stop's rule state; `entry`: the position's average entry when known (stop_position.average_entry)."""
    return StopState(row.direction, row.entry_price if entry is None else entry, row.extreme_price, row.opened_at,
                     row.atr)


def attach_stop(ctx: EngineContext, symbol: str, spec: StopSpec, actor: str, source: str = "manual") -> ProtectiveStop:
    """Protect the current position in `symbol` (replacing its live stop). StopError says why not."""
    if spec.empty:
        raise StopError(f"{symbol}: choose at least one exit (stop-loss, trailing stop, take-profit or holding time)")
    at, now = market_clock_of(ctx).now(), ctx.clock.now()
    with ctx.store.write() as s:
        check_fence(s, ctx)
        pos = s.get(PositionRow, symbol)
        if pos is None or pos.qty == 0:
            raise StopError(f"{symbol}: no open position to protect; a stop is attached to a position")
        last = latest_closes(s, [symbol]).get(symbol)
        if last is None:
            raise StopError(f"{symbol}: no price yet; wait for market data")
        direction = 1 if pos.qty > 0 else -1
        value = (atr_of_recent(s, symbol, ATR_PERIOD, ATR_PERIOD * 4, source_calendar(ctx))
                 if spec.trail_atr_mult is not None else None)  # regular-session bars with an exchange
        atr = to_decimal(value) if value is not None else None
        if spec.trail_atr_mult is not None and atr is None:
            raise StopError(f"{symbol}: an ATR trailing stop needs {ATR_PERIOD + 1} bars of history; use a percent trail")
        marks = [pos.avg_entry_price or last[0], last[0]]  # + a replaced stop's best price: an edit never loosens a trail
        clocks = [at]  # + a replaced stop's: an edit never restarts the holding clock (a first stop counts from now)
        for old in s.scalars(select(ProtectiveStop).where(ProtectiveStop.symbol == symbol,
                                                          ProtectiveStop.status.in_(LIVE))):
            old.status, old.updated_at = "canceled", at
            marks += [old.extreme_price] if old.direction == direction else []
            clocks += [old.opened_at] if old.direction == direction else []
        entry, extreme = marks[0], max(marks) if direction > 0 else min(marks)
        opened = min(clocks)
        row = ProtectiveStop(symbol=symbol, status="active", direction=direction, stop_loss_pct=spec.stop_loss_pct,
                             trail_pct=spec.trail_pct, trail_atr_mult=spec.trail_atr_mult, atr=atr,
                             take_profit_pct=spec.take_profit_pct, max_hold_seconds=spec.max_hold_seconds,
                             entry_price=entry, extreme_price=extreme, opened_at=opened, source=source, actor=actor,
                             created_at=at, updated_at=at, attempts=0)
        s.add(row)
        audit.record(s, now, actor, "stop.set", target=symbol, details={
            "source": source, "direction": direction, "entry": str(entry), "extreme": str(extreme),
            **{f: (None if (v := getattr(spec, f)) is None else str(v)) for f in StopSpec.__slots__}})
        s.flush()
        return row


def cancel_stop(ctx: EngineContext, symbol: str, actor: str) -> int:
    """Remove the live stop of `symbol` (audited); returns how many were removed."""
    at, now = market_clock_of(ctx).now(), ctx.clock.now()
    with ctx.store.write() as s:
        check_fence(s, ctx)
        rows = list(s.scalars(select(ProtectiveStop).where(ProtectiveStop.symbol == symbol,
                                                           ProtectiveStop.status.in_(LIVE))))
        for row in rows:
            row.status, row.updated_at = "canceled", at
        if rows:
            audit.record(s, now, actor, "stop.cancel", target=symbol, details={"stops": [r.id for r in rows]})
        return len(rows)


def attach_defaults(ctx: EngineContext, spec: StopSpec | None) -> int:
    """Give each position without a stop the preset's default exits (a trader's cancel is respected)."""
    if spec is None or spec.empty:
        return 0
    with ctx.store.read() as s:
        held = {p.symbol for p in s.scalars(select(PositionRow).where(PositionRow.qty != 0))}
        covered = set(s.scalars(select(ProtectiveStop.symbol).where(ProtectiveStop.status.in_(LIVE))))
        newest: dict[str, str] = {}  # a symbol whose newest stop a trader removed stays without one
        for symbol, status in s.execute(select(ProtectiveStop.symbol, ProtectiveStop.status)
                                        .order_by(ProtectiveStop.id)):
            newest[symbol] = status
        refused = {sym for sym, status in newest.items() if status == "canceled"}
    attached = 0
    for symbol in sorted(held - covered - refused):
        try:
            attach_stop(ctx, symbol, spec, STOP_ACTOR, source="preset")
            attached += 1
        except StopError as exc:
            log.info("no default stop for %s: %s", symbol, exc)
    return attached


_LIVE_STOPS = select(ProtectiveStop).where(ProtectiveStop.status.in_(LIVE))  # built once: read every tick


def check_stops(ctx: EngineContext, bars: Sequence[Bar], defaults: StopSpec | None = None) -> list[StopEvent]:
    """One tick: move trailing marks, find triggers, send exits through the gateway. Returns what happened."""
    attach_defaults(ctx, defaults)
    at, market = market_clock_of(ctx).now(), StopSession(source_calendar(ctx))
    new_bars, is_open = market.price_bars(bars), market.is_open(at)  # regular-session bars with an exchange
    with ctx.store.read() as s:
        rows = list(s.scalars(_LIVE_STOPS))
        if not rows:
            return []
        held = {p.symbol: (p.qty, p.avg_entry_price) for p in s.scalars(select(PositionRow))}
        state = trading_state.current(s).state
        exits = {o.client_order_id: OrderStatus(o.status) for o in s.scalars(select(OrderRow).where(
            OrderRow.client_order_id.in_([r.exit_client_order_id for r in rows if r.exit_client_order_id])))}
        closes = latest_closes(s, [r.symbol for r in rows if r.symbol not in new_bars])
        natives = native_orders(s, [r.native_order_id for r in rows])  # broker-side stops (native_stops.py)
        rest = filled_but_held(s, rows)  # filled exits that left shares (stop_rest.py): sent again
    updates: dict[int, dict[str, object]] = {}
    sends: list[tuple[ProtectiveStop, Trigger, Decimal]] = []
    waits: list[tuple[ProtectiveStop, str]] = []  # not sent into a closed session: checked again at the open
    for row in rows:
        qty, avg = held.get(row.symbol, (Decimal(0), None))
        if qty == 0 or (qty > 0) != (row.direction > 0):
            updates[row.id] = {"status": "done"}  # closed (by this stop or otherwise): nothing left to protect
            continue
        if row.status == "triggered":
            exit_status = exits.get(row.exit_client_order_id or "")
            if exit_status is None or exit_status.is_open or (exit_status is OrderStatus.FILLED and row.id not in rest):
                continue  # working, or filled and no sync since shows what it left: never a second exit
        if row.status in ("triggered", "blocked"):  # canceled, expired or refused without closing: send again
            if row.status == "blocked" and state is TradingState.HALTED:
                continue
            if not is_open:
                waits.append((row, f"{row.trigger_kind or 'stop_loss'} exit not sent again"))
            else:
                sends.append((row, Trigger(row.trigger_kind or "stop_loss", None, row.trigger_price or Decimal(0)),
                              abs(qty)))
            continue
        native = natives.get(row.native_order_id or "")
        if native is not None and (native.status == OrderStatus.FILLED.value or (is_live(native) and native.filled_qty)):
            continue  # the broker's own stop is closing the position: never a second exit
        cover = covered(native)  # the exit a live native order carries is the broker's; the engine checks the rest
        spec = spec_of(row) if cover is None else replace(spec_of(row), **{cover: None})
        path = new_bars.get(row.symbol)
        if not path:
            last = closes.get(row.symbol)
            if last is None or not (is_open and market.is_open(last[1])):
                continue  # no price, or the session is closed or its last price is not a regular-session one
            path = [PriceBar(max(at, last[1]), last[0], last[0], last[0], last[0])]
        entry = average_entry(row, qty, avg)  # scaled in at another price: measured from the average entry
        st, fired = state_of(row, entry), cast(Trigger | None, None)
        for bar in path:
            st, fired = evaluate_bar(spec, st, bar)
            if fired is not None:
                break
        changed: dict[str, object] = {"extreme_price": st.extreme} if st.extreme != row.extreme_price else {}
        if entry != row.entry_price:
            changed["entry_price"] = entry
        if changed:
            updates[row.id] = changed
        if fired is not None and not is_open:  # e.g. the session's last bar, read after the close
            waits.append((row, f"{fired.kind} level reached ({fired.price:.4f})"))
        elif fired is not None:
            sends.append((row, fired, abs(qty)))
    sends = clear_the_way(ctx, sends, updates)
    events = [StopEvent(r.symbol, r.id, "done", "position closed") for r in rows if updates.get(r.id, {}).get("status")]
    outcomes = [_send_exit(ctx, row, trigger, qty, market.closed_note(at)) for row, trigger, qty in sends]
    outcomes += [({"status": "active"}, StopEvent(r.symbol, r.id, WAITING, f"{why}: {market.closed_note(at)}"), r)
                 for r, why in waits]
    _write(ctx, updates, outcomes, at)
    return events + [o[1] for o in outcomes]


def _send_exit(ctx: EngineContext, row: ProtectiveStop, trigger: Trigger, qty: Decimal, closed_note: str,
               ) -> tuple[dict[str, object], StopEvent, ProtectiveStop]:
    attempt, side = row.attempts + 1, OrderSide.SELL if row.direction > 0 else OrderSide.BUY
    level = f" at {trigger.level:.4f}" if trigger.level is not None else ""
    why = f"{trigger.kind} stop{level}" + (" (gapped through: expect the open)" if trigger.gap else "")
    intent = OrderIntent(row.symbol, side, qty, OrderType.MARKET, None, reason=why,
                         idempotency_key=exit_key(row.id, attempt, row.status, row.exit_client_order_id))
    result = submit(ctx, intent, actor=STOP_ACTOR, origin=STOP_ORIGIN)
    if session_refusal(result):  # nothing sent: no attempt; the price is checked again on the open's bars
        return ({"status": "active", "exit_client_order_id": result.client_order_id},
                StopEvent(row.symbol, row.id, WAITING, f"{why}: {closed_note} (refused: {result.reason})"), row)
    fields: dict[str, object] = {"attempts": attempt, "trigger_kind": trigger.kind,
                                 "exit_client_order_id": result.client_order_id}
    if row.triggered_at is None:
        fields["trigger_price"] = trigger.price
    if result.accepted:
        fields["status"] = "triggered"
        return fields, StopEvent(row.symbol, row.id, "triggered", f"{why}: {side.value} {qty.normalize():f}"), row
    what = "failed" if attempt >= MAX_ATTEMPTS and result.check != "trading_state" else "blocked"
    fields["status"] = what
    return fields, StopEvent(row.symbol, row.id, what, f"{why}: refused ({result.check}: {result.reason})"), row


def _write(ctx: EngineContext, updates: dict[int, dict[str, object]],
           outcomes: list[tuple[dict[str, object], StopEvent, ProtectiveStop]], at: datetime) -> None:
    if not updates and not outcomes:
        return
    now = ctx.clock.now()
    with ctx.store.write() as s:
        check_fence(s, ctx)
        ids = set(updates) | {event.stop_id for _f, event, _o in outcomes}
        loaded = {r.id: r for r in s.scalars(select(ProtectiveStop).where(ProtectiveStop.id.in_(ids)))}  # one read
        for stop_id, fields in updates.items():
            row = loaded.get(stop_id)
            if row is not None and row.status in LIVE:
                for key, value in fields.items():
                    setattr(row, key, value)
                row.updated_at = at
        for fields, event, _old in outcomes:
            row = loaded.get(event.stop_id)
            if row is None or row.status not in LIVE:
                continue
            for key, value in fields.items():
                setattr(row, key, value)
            if row.triggered_at is None and event.what != WAITING:
                row.triggered_at = at
            row.updated_at = at
            audit.record(s, now, STOP_ACTOR, f"stop.{event.what}", target=event.symbol,
                         details={"stop_id": row.id, "detail": event.detail, "attempt": row.attempts,
                                  "client_order_id": row.exit_client_order_id},
                         outcome="ok" if event.what == "triggered" else event.what)


def live_stops(session: Session) -> list[dict[str, object]]:
    """The Trading page's view: every live stop with its current levels."""
    out = []
    rows = list(session.scalars(select(ProtectiveStop).where(ProtectiveStop.status.in_(LIVE))
                                .order_by(ProtectiveStop.symbol)))
    natives = native_orders(session, [r.native_order_id for r in rows])
    held = {p.symbol: (p.qty, p.avg_entry_price) for p in session.scalars(select(PositionRow).where(
        PositionRow.symbol.in_({r.symbol for r in rows})))}  # the levels the next check uses: the average entry
    for row in rows:
        spec, st = spec_of(row), state_of(row, average_entry(row, *held.get(row.symbol, (Decimal(0), None))))
        native = natives.get(row.native_order_id or "")
        level = protective_level(spec, st)
        out.append({"id": row.id, "symbol": row.symbol, "status": row.status, "direction": row.direction,
                    "entry": st.entry, "extreme": row.extreme_price,
                    "stop": level[0] if level else None, "stop_kind": level[1] if level else None,
                    "take_profit": take_profit_level(spec, st), "max_hold_seconds": row.max_hold_seconds,
                    "trail_pct": row.trail_pct, "trail_atr_mult": row.trail_atr_mult,
                    "stop_loss_pct": row.stop_loss_pct, "source": row.source, "opened_at": row.opened_at,
                    "checked_by": checked_by(spec, covered(native))})
    return out
