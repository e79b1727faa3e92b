"""A stopped parent's working children: their cancel asked at the broker, and asked again each tick while it did not
take, a bounded number of times, then surfaced.

Why: a parent that stops (an operator's cancel, a protective stop firing, the close overtaking it, an exit with
nothing left, a trading state that forbids it) cancels its working children once. A cancel the broker refused
(Alpaca's 422, an outage, its circuit open), or accepted and then refused at the venue (order_cancel_rejected: the
sync reopens the row), left the child working at the broker under a parent the store shows stopped: nobody asked
again, and it could still fill.

Pending: a child linked to a stopped parent (PENDING_PARENTS) whose order row is working. Each market tick asks the
broker again (retry_child_cancels), up to MAX_CANCEL_ATTEMPTS requests in all (the first, refused one included);
each refusal is logged and audited (parent.child_cancel_refused). A refused cancel of a child the broker shows
ended is the broker's answer, recorded as it says (filled or canceled), never marked canceled on our own word.
After the last attempt the child is given up: parent.child_cancel_failed (audited), an error log line and a failure
notification (engine/notify.py, as a failed command or kill-switch step is); it stays working in the store (the
Trading page counts it under its parent) until the broker's view ends it or an operator cancels it. The attempts
are an engine fact in the key/value table, as exit_cap.py keeps its own (no schema change); a note goes once the
broker confirms the child ended.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CompoundSelect, delete, literal, null, select, union_all

from engine import audit, notify
from engine.lease import check_fence
from engine.market.market_clock import market_clock_of
from engine.protocols import ControlContext
from engine.store.keyvalue import put_value
from engine.store.models import KeyValue, OrderRow, ParentChild, ParentOrder
from engine.trading.brokers.base import BrokerError
from engine.trading.orders import CANCEL_REQUESTED, OPEN_STATUSES, mark_canceled_in_store, record_broker_order

log = logging.getLogger(__name__)
CANCEL_ACTOR = "system:execution"  # parents.PARENT_ACTOR (not imported: parents imports this module's caller)
KEY_PREFIX = "execution.child_cancel:"  # + child client order id: {"parent_id", "symbol", "attempts", "why", "gave_up"}
MAX_CANCEL_ATTEMPTS = 5  # cancel requests for one child (the first included) before it is given up and surfaced
PENDING_PARENTS = ("canceled", "expired", "done")  # stopped parents whose working children were to be canceled


@dataclass(frozen=True, slots=True)
class CancelAnswer:
    """What the broker said to one cancel: `broker_order_id` when it accepted, `refused` (its words) when it refused;
    neither: the broker does not know the order (not received yet, or never): nothing rests there to cancel."""

    broker_order_id: str | None = None
    refused: str | None = None


def cancel_at_broker(ctx: ControlContext, client_order_id: str, broker_order_id: str | None) -> CancelAnswer:
    """Ask the broker to cancel one order (looked up by client order id when its broker id is not known yet)."""
    try:
        if broker_order_id is None:
            found = ctx.broker.get_order_by_client_id(client_order_id)
            broker_order_id = found.broker_order_id if found is not None else None
        if broker_order_id is None:
            return CancelAnswer()
        ctx.broker.cancel_order(broker_order_id)
    except BrokerError as exc:  # filled or canceled meanwhile, or refused: broker_view says which
        log.info("child %s not canceled: %s", client_order_id, exc)
        return CancelAnswer(refused=str(exc) or type(exc).__name__)
    return CancelAnswer(broker_order_id=broker_order_id)


def ended_at_broker(ctx: ControlContext, client_order_id: str) -> bool:
    """After a refused cancel: True when the broker shows the order ended (filled, canceled, expired), its view then
    recorded; False when it is still working there or the broker cannot say (the cancel stays pending)."""
    try:
        found = ctx.broker.get_order_by_client_id(client_order_id)
    except BrokerError as exc:
        log.warning("child %s: the broker not read after a refused cancel (%s)", client_order_id, exc)
        return False
    if found is None or found.status.is_open:
        return False
    record_broker_order(ctx, found)
    return True


def key_of(client_order_id: str) -> str:
    return f"{KEY_PREFIX}{client_order_id}"


def refused(ctx: ControlContext, client_order_id: str, broker_order_id: str | None, why: str) -> None:
    """A stopped parent's child whose cancel the broker refused: nothing pending when the broker shows it ended;
    else its first attempt is counted (retry_child_cancels asks again on the next tick)."""
    if not ended_at_broker(ctx, client_order_id):
        _count(ctx, client_order_id, broker_order_id, why)


def _note(session: Any, client_order_id: str) -> dict[str, Any]:
    row = session.get(KeyValue, key_of(client_order_id))
    return dict(row.value) if row is not None and isinstance(row.value, dict) else {}


def _count(ctx: ControlContext, client_order_id: str, broker_order_id: str | None, why: str | None,
           *, spent: bool = False) -> int:
    """One more cancel request for the child (`why`: the broker's refusal; None: it accepted the request); audited
    and logged when refused, given up and surfaced once the attempts are spent (`spent`: they already are, and no
    request went: only given up). Returns the attempts so far."""
    now, at = ctx.clock.now(), market_clock_of(ctx).now()
    with ctx.store.write() as s:
        check_fence(s, ctx)
        link = s.execute(select(ParentChild.parent_id, ParentChild.seq, ParentOrder.symbol)
                         .join(ParentOrder, ParentOrder.id == ParentChild.parent_id)
                         .where(ParentChild.client_order_id == client_order_id)).first()
        if link is None:
            return 0
        parent_id, seq, symbol = link
        note = _note(s, client_order_id)
        attempts = int(note.get("attempts", 0)) + (0 if spent else 1)
        note.update(parent_id=int(parent_id), symbol=symbol, attempts=attempts, why=why or note.get("why"))
        details = {"parent_id": int(parent_id), "child": int(seq), "client_order_id": client_order_id,
                   "broker_order_id": broker_order_id, "attempt": attempts, "max_attempts": MAX_CANCEL_ATTEMPTS}
        if why is None:
            audit.record(s, now, CANCEL_ACTOR, "parent.child_cancel", target=symbol, details=details)
        elif not spent:
            audit.record(s, now, CANCEL_ACTOR, "parent.child_cancel_refused", target=symbol,
                         details={**details, "why": why}, outcome="refused")
        give_up = why is not None and attempts >= MAX_CANCEL_ATTEMPTS
        if give_up:
            note["gave_up"] = True
            audit.record(s, now, CANCEL_ACTOR, "parent.child_cancel_failed", target=symbol,
                         details={**details, "why": why}, outcome="failed")
        put_value(s, key_of(client_order_id), note, at)
    if why is not None and not spent:
        log.warning("parent %s child %s (%s) cancel refused, attempt %d of %d: %s", parent_id, seq, client_order_id,
                    attempts, MAX_CANCEL_ATTEMPTS, why, extra={"symbol": symbol})
    if give_up:
        _surface(int(parent_id), int(seq), str(symbol), client_order_id, why or "")
    return attempts


def _surface(parent_id: int, seq: int, symbol: str, client_order_id: str, why: str) -> None:
    body = (f"parent {parent_id} ({symbol}) is stopped, but the broker refused to cancel its child {seq} "
            f"({client_order_id}) {MAX_CANCEL_ATTEMPTS} times; last answer: {why}. The child may still fill: cancel it "
            "on the Trading page (or use the kill switch). The engine asks no more.")
    log.error("%s", body, extra={"symbol": symbol})
    notify.notify(f"RegimeDesk: child order of parent {parent_id} not canceled", body, "failure")


# Built once, read every tick in one statement (a backtest runs it every bar): the pending children ("child", client
# order id, broker order id), then the noted ones ("note", key, None).
_PENDING_AND_NOTED: CompoundSelect = union_all(
    select(literal("child").label("kind"), ParentChild.client_order_id.label("name"),
           OrderRow.broker_order_id.label("broker_id"))
    .join(ParentOrder, ParentOrder.id == ParentChild.parent_id)
    .join(OrderRow, OrderRow.client_order_id == ParentChild.client_order_id)
    .where(ParentOrder.status.in_(PENDING_PARENTS), OrderRow.status.in_(OPEN_STATUSES)),
    select(literal("note"), KeyValue.key, null()).where(KeyValue.key.like(f"{KEY_PREFIX}%")),
).order_by("kind", "name")


def retry_child_cancels(ctx: ControlContext) -> list[str]:
    """One tick: ask the broker again to cancel each pending child (see the module's docstring); one line each."""
    with ctx.store.read() as s:
        found = s.execute(_PENDING_AND_NOTED).all()
        pending = [(str(name), broker_id) for kind, name, broker_id in found if kind == "child"]
        keys = [str(name) for kind, name, _ in found if kind == "note"]
        notes = {str(k).removeprefix(KEY_PREFIX): v for k, v in s.execute(
            select(KeyValue.key, KeyValue.value).where(KeyValue.key.in_(keys)))} if keys else {}
        done = _settled(s, [c for c in notes if c not in {p for p, _ in pending}])
    if done:
        with ctx.store.write() as s:
            check_fence(s, ctx)
            s.execute(delete(KeyValue).where(KeyValue.key.in_([key_of(c) for c in done])))
    lines = []
    for coid, broker_id in pending:
        raw = notes.get(coid)
        note: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if note.get("gave_up"):
            continue  # surfaced already: an operator's turn
        if int(note.get("attempts", 0)) >= MAX_CANCEL_ATTEMPTS:  # the last request was accepted, then refused
            _count(ctx, coid, broker_id, "the broker accepted the last cancel, then refused it: the order works on",
                   spent=True)
            lines.append(f"child {coid}: cancel given up")
            continue
        answer = cancel_at_broker(ctx, coid, broker_id)
        if answer.broker_order_id is not None:
            mark_canceled_in_store(ctx, [answer.broker_order_id])
            _count(ctx, coid, answer.broker_order_id, None)
            lines.append(f"child {coid}: cancel asked again, accepted")
        elif answer.refused is not None and not ended_at_broker(ctx, coid):
            attempts = _count(ctx, coid, broker_id, answer.refused)
            lines.append(f"child {coid}: cancel refused again ({attempts} of {MAX_CANCEL_ATTEMPTS})")
    return lines


def _settled(session: Any, coids: list[str]) -> list[str]:
    """The noted children the store shows ended for good: not working, and not our own unconfirmed cancel (the
    broker may still refuse that one and the row reopen), or gone."""
    if not coids:
        return []
    rows = {c: (st, reason) for c, st, reason in session.execute(
        select(OrderRow.client_order_id, OrderRow.status, OrderRow.reject_reason)
        .where(OrderRow.client_order_id.in_(coids)))}
    return [c for c in coids if c not in rows or (rows[c][0] not in OPEN_STATUSES and rows[c][1] != CANCEL_REQUESTED)]
