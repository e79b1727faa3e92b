"""Users, login attempts and the audit trail of every state-changing action."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models.base import PK, Base


class AuditEvent(Base):
    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(48), index=True)
    target: Mapped[str] = mapped_column(String(128), default="")
    details: Mapped[dict] = mapped_column(default=dict)
    outcome: Mapped[str] = mapped_column(String(16), default="ok")
    role: Mapped[str] = mapped_column(String(16), default="")  # the web user's role; "" for the engine and the CLI
    source: Mapped[str] = mapped_column(String(64), default="")  # client address (web), host:pid (CLI), "" (engine)


class User(Base):
    """A person who may log in to the dashboard; the password is an argon2id hash, never the password."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # viewer | trader | admin
    password_hash: Mapped[str] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)  # bumped on passwd/role/disable: old sessions end
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class LoginAttempt(Base):
    """One login attempt (also unknown names), so lockouts hold across web workers and restarts."""

    __tablename__ = "login_attempts"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    ts: Mapped[datetime]
    username: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(64))
    ok: Mapped[bool] = mapped_column(Boolean)
    __table_args__ = (Index("ix_login_attempts_username_ts", "username", "ts"),)

