"""Is an engine running, and is the market data fresh? One answer for the banner, the Overview
engine card, the resume/pause guard and the dead-man's switch.

An engine is *live* when a heartbeat row with status "active" (only the lease holder writes that
status) beat within `stale_after_s`. Otherwise the engine is *down*: killed, frozen (SIGSTOP), or
stopped on purpose ("stopped" rows are written by a graceful shutdown), or no engine ever ran here.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.store.db_clock import reader_now
from engine.store.keyvalue import MARKET_DATA_KEY
from engine.store.models import EngineHeartbeat, EngineLease, KeyValue
from engine.trading.commands import HEARTBEAT_STALE_S

LIVE, STALE, STOPPED, STANDBY_ONLY, NEVER = "live", "stale", "stopped", "standby_only", "never"


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def age_text(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass(frozen=True)
class EngineLiveness:
    status: str  # live | stale | stopped | standby_only | never
    engine_id: str | None
    host: str | None
    pid: int | None
    last_beat: datetime | None  # of the newest active engine (or the newest row at all)
    beat_age_s: float | None
    lease_holder: str | None
    lease_until: datetime | None
    market_at: datetime | None  # wall-clock arrival of the newest bars
    market_age_s: float | None
    stale_after_s: float

    @property
    def live(self) -> bool:
        return self.status == LIVE

    def summary(self) -> str:
        """One line for the banner and the refusal messages."""
        who = f"{self.engine_id} (pid {self.pid} on {self.host})" if self.engine_id else "the engine"
        beat = f"last heartbeat {age_text(self.beat_age_s)} ago" if self.beat_age_s is not None else "no heartbeat"
        if self.status == LIVE:
            return f"Engine live: {who}, {beat}"
        if self.status == STALE:
            return (f"Engine DOWN: {who} has not beaten for {age_text(self.beat_age_s or 0)} (killed, frozen or "
                    "unreachable); nothing is trading")
        if self.status == STOPPED:
            return f"Engine stopped: {who} shut down gracefully, {beat}; nothing is trading"
        if self.status == STANDBY_ONLY:
            return f"No active engine: only a standby ({who}, {beat}) is waiting for the lease"
        return "No engine has run against this store yet; nothing is trading"


def engine_liveness(session: Session, now: datetime, stale_after_s: float = HEARTBEAT_STALE_S) -> EngineLiveness:
    rows = list(session.scalars(select(EngineHeartbeat).order_by(EngineHeartbeat.last_beat.desc())))
    lease = session.get(EngineLease, 1)
    mark = session.get(KeyValue, MARKET_DATA_KEY)
    market_at = datetime.fromisoformat(mark.value["ts"]) if mark is not None and mark.value.get("ts") else None
    market_at = _utc(market_at)
    beat_now = reader_now(session, now)  # beats are written in the database's time: this reader's skew drops out

    def fresh(row: EngineHeartbeat) -> bool:
        beat = _utc(row.last_beat)
        return beat is not None and (beat_now - beat).total_seconds() <= stale_after_s

    live_rows = [r for r in rows if r.status == "active" and fresh(r)]
    standby = [r for r in rows if r.status == "standby" and fresh(r)]
    if live_rows:
        status, pick = LIVE, live_rows[0]
    elif standby:
        status, pick = STANDBY_ONLY, standby[0]
    elif rows:  # the newest row says how the last engine ended: stopped on purpose, or it just stopped beating
        pick = rows[0]
        status = STOPPED if pick.status == "stopped" else STALE
    else:
        status, pick = NEVER, None
    last = _utc(pick.last_beat) if pick is not None else None
    age = (beat_now - last).total_seconds() if last is not None else None
    return EngineLiveness(
        status=status, engine_id=pick.engine_id if pick else None, host=pick.host if pick else None,
        pid=pick.pid if pick else None, last_beat=last, beat_age_s=age,
        lease_holder=lease.holder if lease is not None else None,
        lease_until=_utc(lease.lease_until) if lease is not None else None,
        market_at=market_at, market_age_s=(now - market_at).total_seconds() if market_at is not None else None,
        stale_after_s=stale_after_s,
    )


def read_liveness(store, now: datetime, stale_after_s: float = HEARTBEAT_STALE_S) -> EngineLiveness:
    with store.read() as s:
        return engine_liveness(s, now, stale_after_s)


def engine_down_refusal(store, now: datetime, action: str, stale_after_s: float = HEARTBEAT_STALE_S,
                        ) -> str | None:
    """Why `action` (resume to ACTIVE, or a pause that lifts a halt to REDUCING) must be refused now, or None
    when an engine is live. Callers ask only for moves that loosen (control.perform): a pause from ACTIVE
    tightens and is never refused for want of an engine, like the kill switch.

    Those states promise that something trades (or manages exits); with no engine holding the lease and
    beating, nothing would, and the green banner would lie."""
    state = read_liveness(store, now, stale_after_s)
    if state.live:
        return None
    target = "ACTIVE" if action == "resume" else "REDUCING"
    return (f"{action} refused: the engine is down, so nothing would trade in {target}. {state.summary()}. "
            "Start the engine (python -m engine, or python app.py for the embedded mode), wait for its "
            "heartbeat on the banner, then try again")
