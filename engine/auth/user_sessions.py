"""Ending login sessions on the server: one session (logout) or all of a user's sessions (log out everywhere).

A session cookie is signed, not stored, so clearing the browser's copy alone ends nothing: a copy of the cookie
would still be accepted. The cookie names the user, the user's session epoch it was issued under, and the
session's own random id (webapp.auth.sessions). So:

- all of a user's sessions end when the epoch is bumped: "Log out everywhere" (end_all_sessions), and every
  change of the user's password, role or status (users._change);
- one session ends when its id is remembered as ended (end_session): per user, in the key/value table, until the
  session would have expired anyway (its absolute limit), read together with the user row (session_user) by the
  one read per request a login costs already. Other devices and browsers of the user stay logged in.

Each is audited in the same transaction as the change, as the logged-in user.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from engine import audit
from engine.auth import users
from engine.store.db import Store
from engine.store.keyvalue import get_value, put_value
from engine.store.models import KeyValue, User

ENDED_PREFIX = "auth.ended_sessions."  # + user id: {session id: unix time after which the id may be forgotten}
MAX_ENDED = 1000  # more ended sessions of one user still within their lifetime: end all of them instead


@dataclass(frozen=True)
class SessionState:
    """A user row and the ids of that user's sessions that ended (logout) and must be refused."""

    user: users.UserInfo | None
    ended: frozenset[str]


def _key(user_id: int) -> str:
    return f"{ENDED_PREFIX}{int(user_id)}"


def _live(value: object, wall_now: float) -> dict[str, float]:
    """The ended sessions still within their lifetime (the others could not be used anyway)."""
    if not isinstance(value, dict):
        return {}
    out: dict[str, float] = {}
    for sid, until in value.items():
        if isinstance(sid, str) and isinstance(until, (int, float)) and until > wall_now:
            out[sid] = float(until)
    return out


def session_user(store: Store, user_id: int) -> SessionState:
    """The user row and its ended session ids, in one read."""
    with store.read() as s:
        row = s.get(User, user_id)
        if row is None:
            return SessionState(None, frozenset())
        return SessionState(users.info_of(row), frozenset(_live(get_value(s, _key(user_id)), time.time())))


def _locked_user(s: Session, user_id: int) -> User | None:
    """The user row, locked for this transaction (PostgreSQL: two logouts of one user must not lose one of the
    ended ids; SQLite's write transaction holds the database's write lock already)."""
    return s.scalar(select(User).where(User.id == user_id).with_for_update())


def end_session(store: Store, now: datetime, actor: str, user_id: int, name: str, session_id: str,
                keep_until: float) -> None:
    """Logout: end this one session. Its id is refused from now on (a copied cookie included; other web
    processes within their USER_CACHE_S) until `keep_until` (unix time: the session's absolute expiry, after
    which its cookie is refused anyway). Should the user have more than MAX_ENDED such ids, all of the user's
    sessions end instead (the epoch), so the list never grows without bound; the audit row says which it was."""
    with store.write() as s:
        row = _locked_user(s, user_id)
        if row is None:
            return
        ended = _live(get_value(s, _key(user_id)), time.time())
        ended[session_id] = max(float(keep_until), time.time())
        if len(ended) > MAX_ENDED:
            row.session_epoch += 1
            s.execute(delete(KeyValue).where(KeyValue.key == _key(user_id)))
            scope = "all of this user's sessions (too many ended sessions to remember one by one)"
        else:
            put_value(s, _key(user_id), ended, now)
            scope = "this session"
        audit.record(s, now, actor, "auth.logout", target=name, details={"sessions_ended": scope})
    users.bump_generation()


def end_all_sessions(store: Store, now: datetime, actor: str, user_id: int, name: str) -> None:
    """Log out everywhere: bump the user's session epoch, so every session cookie of this user (every browser and
    device, this one included) is refused from now on; the ended ids are no longer needed."""
    with store.write() as s:
        s.execute(update(User).where(User.id == user_id).values(session_epoch=User.session_epoch + 1))
        s.execute(delete(KeyValue).where(KeyValue.key == _key(user_id)))
        audit.record(s, now, actor, "auth.logout_everywhere", target=name,
                     details={"sessions_ended": "all of this user's sessions"})
    users.bump_generation()
