"""Users in the store: add, list, change password or role, disable; login with lockout (logout: user_sessions).

Every change is audited in the same transaction. Lockout rule: a name is locked *for one client address*
(an IPv6 address's /64, engine.auth.attempts) while MAX_FAILURES or more failed logins for that (name,
address) fall within LOCK_WINDOW and after that pair's last successful login and the user's last admin change
(new password, role, status). Counted in the store, so it holds across web workers and restarts, and counted
before the password is checked (engine.auth.attempts), so concurrent requests cannot overrun it. Per address,
not per name: a guesser locks only their own address, never a legitimate operator elsewhere (a per-name lock
let anyone keep every admin away from the kill switch). A locked attempt is answered exactly like an unknown
name or a wrong password (same status, message and argon2 work), so the lockout does not tell which names exist.
"""
from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import audit
from engine.audit import storable
from engine.auth import attempts, principal, user_names
from engine.auth.attempts import LOCK_WINDOW, MAX_FAILURES
from engine.auth.passwords import check_strength, hash_password, needs_rehash, verify
from engine.auth.roles import Role, parse_role
from engine.store.db import Store
from engine.store.models import LoginAttempt, User

NAME_PATTERN = re.compile(r"[A-Za-z0-9_.@-]{1,64}")  # whole name: fullmatch ("$" also matched before a final \n)
_PG_USERS_LOCK = 72_100_003  # advisory lock id: one change to the set of users (admins) at a time (see _lock_users)
_generation = 0  # bumped by every change made in this process, so caches of users here drop at once


def generation() -> int:
    return _generation


def bump_generation() -> None:
    """A user or session changed here (engine.auth.user_sessions too): this process's caches of users drop it."""
    global _generation
    _generation += 1


class UserError(ValueError):
    """A user command was refused; the message says why."""


@dataclass(frozen=True)
class UserInfo:
    id: int
    name: str
    role: str
    disabled: bool
    session_epoch: int
    locked_until: datetime | None
    created_at: datetime
    changed: bool = True  # False: a role or status command found the user already so (nothing was written)


@dataclass(frozen=True)
class LoginOutcome:
    status: str  # ok | bad | locked | disabled
    user: UserInfo | None
    message: str

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def info_of(row: User) -> UserInfo:
    return UserInfo(row.id, row.name, row.role, row.disabled, row.session_epoch, row.locked_until, row.created_at)


def check_name(name: object) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise UserError(user_names.refusal(name))  # which character, the length or the space: user_names
    return name


def count_users(store: Store) -> int:
    with store.read() as s:
        return int(s.scalar(select(func.count()).select_from(User)) or 0)


def last_admin_message(name: str) -> str:
    return f"{name} is the last active admin; make another admin first"


def ends_last_admin(every: list[UserInfo], name: str, role: str | None = None, disabled: bool | None = None) -> bool:
    """Would giving `name` this role / status leave no active admin? The pages ask it before a confirm dialog;
    _change asks the store again inside its transaction (the authoritative check)."""
    user = next((u for u in every if u.name == name), None)
    if user is None or user.role != Role.ADMIN or user.disabled:
        return False
    stays = (role if role is not None else user.role) == Role.ADMIN and not (disabled if disabled is not None
                                                                            else user.disabled)
    return not stays and not any(u.role == Role.ADMIN and not u.disabled and u.name != name for u in every)


def list_users(store: Store) -> list[UserInfo]:
    with store.read() as s:
        return [info_of(u) for u in s.scalars(select(User).order_by(User.name))]


def locked_addresses(store: Store, now: datetime) -> dict[str, list[str]]:
    """Each user's client addresses locked out right now (the module's rule), for the Users page and the CLI."""
    out: dict[str, list[str]] = {}
    with store.read() as s:
        changed = {name: updated for name, updated in s.execute(select(User.name, User.updated_at))}
        pairs = s.execute(select(LoginAttempt.username, LoginAttempt.source).where(
            LoginAttempt.ok.is_(False), LoginAttempt.ts > now - LOCK_WINDOW,
            LoginAttempt.username.in_(list(changed))).distinct()).all()
        for name, source in sorted((row[0], row[1]) for row in pairs):
            if attempts.failures(s, now, name, source, changed[name]) >= MAX_FAILURES:
                out.setdefault(name, []).append(source)
    return out


def get_user(store: Store, user_id: int) -> UserInfo | None:
    with store.read() as s:
        row = s.get(User, user_id)
        return info_of(row) if row is not None else None


def add_user(store: Store, now: datetime, actor: str, name: str, role: str | Role, password: str,
             *, only_if_none: bool = False) -> UserInfo:
    """Create a user. only_if_none: refuse when any user exists (the first-run setup)."""
    check_name(name)
    parsed = parse_role(role)
    check_strength(password, name)
    hashed = hash_password(password)
    try:
        with store.write() as s:
            _lock_users(s)
            if only_if_none and s.scalar(select(func.count()).select_from(User)):
                raise UserError("a user exists already: the first-run setup is closed")
            same = s.scalar(select(User.name).where(func.lower(User.name) == name.lower()))
            if same is not None:  # "Trader1" next to "trader1" would be two people no one can tell apart
                raise UserError(f"user {name!r} exists already" if same == name else
                                f"user {same!r} exists already; names that differ only in case are not allowed")
            row = User(name=name, role=parsed.value, password_hash=hashed, disabled=False, session_epoch=0,
                       locked_until=None, created_at=now, updated_at=now)
            s.add(row)
            s.flush()
            audit.record(s, now, actor, "users.add", target=name, details={"role": parsed.value})
            return info_of(row)
    except IntegrityError:
        raise UserError(f"user {name!r} exists already") from None


def _lock_users(s: Session) -> None:
    """Serialise the checks on the set of users ("the last active admin", "no user yet", a name taken in another
    case) with the writes they guard. PostgreSQL's READ COMMITTED let two admins demoting each other both see
    the other still active and both commit; a transaction-scoped advisory lock makes the second wait and then
    read the first's change. SQLite: write transactions begin IMMEDIATE, one at a time already."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_USERS_LOCK})


def _change(store: Store, now: datetime, actor: str, name: str, action: str, details: dict[str, object],
            noop_ok: bool = False, **values: object) -> UserInfo:
    """Change a user's row (ending their sessions) and audit it. noop_ok: when every value is already so, change
    nothing, audit it with outcome "unchanged", and return the user with changed=False. A name no user can have
    (a NUL byte from a forged pending change: PostgreSQL refused the query) is refused before any query."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise UserError(f"no user named {storable(str(name))!r}")
    with store.write() as s:
        _lock_users(s)
        row = s.scalar(select(User).where(User.name == name))
        if row is None:
            near = s.scalar(select(User.name).where(func.lower(User.name) == str(name).lower()))
            raise UserError(f"no user named {name!r}" + (f" (did you mean {near!r}?)" if near else ""))
        stays_admin = values.get("role", row.role) == Role.ADMIN and not values.get("disabled", row.disabled)
        if row.role == Role.ADMIN and not row.disabled and not stays_admin:
            others = s.scalar(select(func.count()).select_from(User).where(
                User.role == Role.ADMIN.value, User.disabled.is_(False), User.id != row.id))
            if not others:
                raise UserError(last_admin_message(name))
        if noop_ok and all(getattr(row, key) == value for key, value in values.items()):
            # already so (a second "disable"): nothing changes and no session ends; the audit row says
            # "unchanged" instead of a change that did not happen (like a repeated trading pause)
            audit.record(s, now, actor, action, target=name, details={**details, "unchanged": True},
                         outcome="unchanged")
            return replace(info_of(row), changed=False)
        for key, value in values.items():
            setattr(row, key, value)
        row.session_epoch += 1  # every change of password, role or status ends the user's open sessions
        row.updated_at = now
        audit.record(s, now, actor, action, target=name, details=details)
        info = info_of(row)
    bump_generation()
    return info


def set_password(store: Store, now: datetime, actor: str, name: str, password: str) -> UserInfo:
    check_strength(password, name)
    return _change(store, now, actor, name, "users.passwd", {}, password_hash=hash_password(password),
                   locked_until=None)


def set_role(store: Store, now: datetime, actor: str, name: str, role: str | Role) -> UserInfo:
    """Give `name` the role; already that role: nothing changes (changed=False, audited as "unchanged")."""
    parsed = parse_role(role)
    return _change(store, now, actor, name, "users.role", {"role": parsed.value}, noop_ok=True, role=parsed.value)


def set_disabled(store: Store, now: datetime, actor: str, name: str, disabled: bool = True) -> UserInfo:
    """Disable (or enable) `name`; already so: nothing changes (changed=False, audited as "unchanged")."""
    return _change(store, now, actor, name, "users.disable" if disabled else "users.enable", {}, noop_ok=True,
                   disabled=disabled)


def login_name(name: object) -> str:
    """The name a login form's value asks for: surrounding spaces dropped (a phone keyboard adds one); "" when it
    cannot be a user's name (NAME_PATTERN: no NUL byte, not over 64 characters), so it is never looked up."""
    wanted = name.strip() if isinstance(name, str) else ""
    return wanted if NAME_PATTERN.fullmatch(wanted) else ""


def _login_row(s: Session, wanted: str) -> User | None:
    """The user `wanted` names regardless of case. add_user keeps names unique regardless of case (under
    _lock_users; the column is only unique as spelled), so a store older than that rule may hold "Ann" and "ann":
    then only the exact spelling logs in, never a guess between two people."""
    rows = list(s.scalars(select(User).where(func.lower(User.name) == wanted.lower()))) if wanted else []
    exact = [row for row in rows if row.name == wanted]
    return exact[0] if exact else rows[0] if len(rows) == 1 else None


def authenticate(store: Store, now: datetime, name: object, password: object, source: str) -> LoginOutcome:
    """Check a login; record the attempt, audit it, and lock (name, source bucket) after too many failures.

    The attempt is counted and recorded (as failed) before the password is checked (attempts.claim), so at most
    MAX_FAILURES passwords are checked per (name, bucket) per window however many requests arrive at once.
    Unknown name, wrong password and a locked pair take the same path: one write, one argon2 verification (a
    locked pair's against the dummy hash: its password is never checked), one write, and the same "bad" outcome,
    so neither the answer nor its time tells them apart. The name is found regardless of case and surrounding
    spaces (names are unique regardless of case: add_user), and counted and audited under the user's own
    spelling, so "Ada" and "ada " share ada's lockout. A name no user can have (a NUL byte, over 64 characters)
    is an unknown name, never queried; it is recorded as storable() shows it."""
    wanted = login_name(name)
    given = password if isinstance(password, str) else ""
    address = source[:64]
    bucket = attempts.address_bucket(source)
    with store.write() as s:
        row = _login_row(s, wanted)
        shown = row.name if row is not None else storable(name) if isinstance(name, str) else "?"
        user = info_of(row) if row is not None else None
        stored_hash = row.password_hash if row is not None else None
        failures, attempt_id = attempts.claim(s, now, shown, bucket, row.updated_at if row is not None else None)
    locked = failures >= MAX_FAILURES
    matched = verify(None if locked else stored_hash, given)
    if locked or not matched or user is None:
        return _failed(store, now, shown, address, bucket, user, failures + 1, locked)
    if user.disabled:  # only said to someone who knows the password; the attempt stays a failure
        return _record(store, now, shown, address, "disabled", "this user is disabled; ask an admin", user)
    rehash = hash_password(given) if stored_hash is not None and needs_rehash(stored_hash) else None
    return _record(store, now, shown, address, "ok", "", user, attempt_id, rehash)


def _logging_in(name: str, user: UserInfo | None, source: str) -> contextlib.AbstractContextManager[principal.Principal]:
    """The login attempt's audit row carries the account's role and the source address like every other web
    row (no one is logged in yet while it is written, so the request's principal is still empty)."""
    return principal.acting_as(principal.Principal(name, user.role if user is not None else "", source))


def _record(store: Store, now: datetime, name: str, source: str, status: str, message: str,
            user: UserInfo | None, attempt_id: int | None = None, rehash: str | None = None) -> LoginOutcome:
    """Audit a login with the right password; "ok" turns its claimed attempt into a success."""
    with store.write() as s:
        if attempt_id is not None:
            attempts.succeeded(s, attempt_id)
        if rehash is not None and user is not None:
            s.execute(update(User).where(User.id == user.id).values(password_hash=rehash))
        with _logging_in(name, user, source):
            audit.record(s, now, f"web:{name}", "auth.login", target=name,
                         details={"source": source, **({"reason": message} if message else {})},
                         outcome="ok" if status == "ok" else status)
    return LoginOutcome(status, user, message)


def _failed(store: Store, now: datetime, name: str, source: str, bucket: str, user: UserInfo | None,
            failures: int, locked: bool) -> LoginOutcome:
    """Audit a refused login (its attempt is recorded already). The audit trail (admins only) tells "locked"
    from "failed"; the guesser never does. The lockout row is written when (name, bucket) reaches MAX_FAILURES,
    for unknown names too."""
    with store.write() as s, _logging_in(name, user, source):
        audit.record(s, now, f"web:{name}", "auth.login", target=name,
                     details={"source": source, "failures_in_window": failures},
                     outcome="locked" if locked else "failed")
        if failures == MAX_FAILURES:
            audit.record(s, now, "system:auth", "auth.lockout", target=name,
                         details={"failures": failures, "minutes": int(LOCK_WINDOW.total_seconds() // 60),
                                  "source": bucket}, outcome="locked")
    return LoginOutcome("bad", None, "wrong user name or password")


def prune_attempts(store: Store, before: datetime) -> int:
    """Delete login attempts older than `before` (the retention job keeps a day's worth)."""
    with store.write() as s:
        result = s.execute(delete(LoginAttempt).where(LoginAttempt.ts < before))
        return int(getattr(result, "rowcount", 0) or 0)  # a DELETE's CursorResult has rowcount
