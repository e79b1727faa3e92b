"""The login session: flask-login's user, its expiry (idle and absolute), and the CSRF token.

The session cookie holds "<user id>:<session epoch>:<session id>". The epoch is bumped by every change of the
user's password, role or status and by "Log out everywhere", which end all the user's open sessions at once; a
logout ends only its own session, by remembering its random id as ended (engine.auth.user_sessions). Both are
checked on the server because the cookie is signed, not stored: a copy of it would otherwise outlive the logout.
A cookie from before session ids ("<user id>:<epoch>") counts as session id "".

Idle expiry counts only what a person does: a page load, a click, typing. A Dash callback request fired
by dcc.Interval alone, or a background callback's progress poll, does not renew the idle clock, else an
open tab would keep an unattended session alive until the absolute limit.
"""
from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

from flask import Flask, current_app, g, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, UserMixin, login_user, logout_user
from sqlalchemy.exc import SQLAlchemyError

from engine.auth import user_sessions, users
from engine.store.db import Store
from webapp.context import get_store
from webapp.readiness import TooSlow, bounded_call

CSRF_KEY = "csrf"
LOGIN_AT, SEEN_AT = "login_at", "seen_at"
SEEN_RESOLUTION_S = 30  # rewrite the cookie for idle tracking at most this often


@dataclass
class SessionUser(UserMixin):
    """The logged-in user as flask-login sees it."""

    user_id: int
    name: str
    role: str
    epoch: int
    sid: str = ""  # this login's random id ("": a cookie from before session ids)

    def get_id(self) -> str:
        return f"{self.user_id}:{self.epoch}:{self.sid}" if self.sid else f"{self.user_id}:{self.epoch}"


class SecureWhenHttpsSessions(SecureCookieSessionInterface):
    """Mark the session cookie Secure whenever the request came over HTTPS (directly or via a trusted proxy)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure


USER_CACHE_S = 2.0  # a change made by another process (the CLI) reaches open sessions within this
LOGIN_WAIT_S = 6.0  # the user read of a request (connect timeout 5 s): a frozen store must not hold threads
LOGIN_GRACE_S = 300.0  # during an outage, a login verified this recently may still *view* (guard.py)
UNVERIFIED_KEY = "login_unverified"  # flask.g: why this request's login could not be verified (the store is down)
_user_cache: dict[tuple[int, int], tuple[float, int, user_sessions.SessionState]] = {}


class StoreUnreachable(Exception):
    """The user row cannot be read; `last_known`: the row as last read within LOGIN_GRACE_S, else None."""

    def __init__(self, reason: str, last_known: user_sessions.SessionState | None) -> None:
        super().__init__(reason)
        self.last_known = last_known


def _read_user(store: Store, user_id: int, gen: int) -> user_sessions.SessionState:
    """Read the row (and the user's ended sessions) and cache it, also when the request that asked has stopped
    waiting (a later one finds it)."""
    info = user_sessions.session_user(store, user_id)
    if len(_user_cache) > 10_000:
        _user_cache.clear()
    _user_cache[(id(store), user_id)] = (time.monotonic(), gen, info)
    return info


def _cached_user(user_id: int) -> user_sessions.SessionState:
    """The user row and its ended sessions, read at most every USER_CACHE_S per process (a store read per request
    doubled a callback's cost); on PostgreSQL within LOGIN_WAIT_S (bounded_call: a frozen server must not hold the web's threads; an
    SQLite file cannot freeze). StoreUnreachable when the store does not answer."""
    store = get_store()
    key, now, gen = (id(store), user_id), time.monotonic(), users.generation()
    hit = _user_cache.get(key)
    if hit is not None and now - hit[0] < USER_CACHE_S and hit[1] == gen:
        return hit[2]
    try:
        if store.dialect == "sqlite":
            return _read_user(store, user_id, gen)
        return bounded_call(("login", id(store), user_id), lambda: _read_user(store, user_id, gen), LOGIN_WAIT_S,
                            "login-check")
    except (SQLAlchemyError, TooSlow, OSError) as exc:
        # the last read counts only while no change was made here since (a logout here bumps the generation)
        last = hit[2] if hit is not None and now - hit[0] < LOGIN_GRACE_S and hit[1] == gen else None
        raise StoreUnreachable(f"the store is unreachable ({type(exc).__name__})", last) from exc


def _load_user(session_id: str) -> SessionUser | None:
    parts = session_id.split(":", 2)
    try:
        user_id, epoch = int(parts[0]), int(parts[1])
    except (ValueError, IndexError):
        return None
    sid = parts[2] if len(parts) == 3 else ""
    try:
        state: user_sessions.SessionState | None = _cached_user(user_id)
    except StoreUnreachable as exc:  # not a 500: the guard answers 503, or lets a recent login view (guard.py)
        setattr(g, UNVERIFIED_KEY, str(exc))
        state = exc.last_known
    info = state.user if state is not None else None
    if state is None or info is None or info.disabled or info.session_epoch != epoch or sid in state.ended:
        return None
    return SessionUser(info.id, info.name, info.role, info.session_epoch, sid)


def login_unverified() -> str | None:
    """Why this request's login could not be checked against the store (None: it was, or there is none)."""
    return g.get(UNVERIFIED_KEY)


def init_sessions(server: Flask) -> LoginManager:
    server.session_interface = SecureWhenHttpsSessions()
    server.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                         SESSION_COOKIE_NAME="regimedesk_session")
    manager = LoginManager()
    manager.session_protection = "basic"
    manager.user_loader(_load_user)
    manager.init_app(server)
    return manager


def start(user: users.UserInfo) -> None:
    """Log `user` in: a fresh session (new CSRF token) so a token planted before login is worthless."""
    session.clear()
    login_user(SessionUser(user.id, user.name, user.role, user.session_epoch, secrets.token_urlsafe(18)))
    now = time.time()
    session[LOGIN_AT] = now
    session[SEEN_AT] = now
    session[CSRF_KEY] = secrets.token_urlsafe(32)
    session.permanent = False


def end() -> None:
    logout_user()
    session.clear()


ENDED_MARGIN_S = 300.0  # past the absolute expiry: web hosts' clocks may differ a little


def keep_ended_until(max_s: float) -> float:
    """Until when the current session's id must be remembered as ended: its absolute expiry (unix time; `max_s`
    after its login), after which its cookie is refused whatever the store says (expired), plus a margin."""
    login_at = float(session.get(LOGIN_AT) or 0) or time.time()
    return login_at + max_s + ENDED_MARGIN_S


def expired(idle_s: float, max_s: float, activity: bool = True) -> str | None:
    """Why the current login has expired ("idle" / "absolute"), or None; a person's `activity` refreshes the
    idle clock (at most every SEEN_RESOLUTION_S, and finer under a short idle limit so that it can renew)."""
    now = time.time()
    login_at = float(session.get(LOGIN_AT) or 0)
    seen_at = float(session.get(SEEN_AT) or 0)
    if not login_at or now - login_at > max_s:
        return "absolute"
    if now - seen_at > idle_s:
        return "idle"
    if activity and now - seen_at > min(SEEN_RESOLUTION_S, idle_s / 4):
        session[SEEN_AT] = now
    return None


def is_polling(args: Mapping[str, str], body: object) -> bool:
    """Is this Dash callback request machine-made: a background callback's progress poll (Dash adds
    `cacheKey` to the URL), or every triggered input (`changedPropIds`) an Interval's `n_intervals`? An
    initial call (nothing triggered) follows a page load, so it counts as a person's."""
    if args.get("cacheKey"):
        return True
    changed = body.get("changedPropIds") if isinstance(body, dict) else None
    return (isinstance(changed, list) and bool(changed)
            and all(isinstance(prop, str) and prop.endswith(".n_intervals") for prop in changed))


def csrf_token() -> str:
    token = session.get(CSRF_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_KEY] = token
    return str(token)


def csrf_ok(given: str | None) -> bool:
    expected = session.get(CSRF_KEY)
    return bool(expected and given) and hmac.compare_digest(str(expected), str(given))


def secret_key_is_strong() -> bool:
    return len(str(current_app.config.get("SECRET_KEY") or "")) >= 32
