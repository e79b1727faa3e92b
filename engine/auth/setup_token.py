"""The first-run setup token: how the person who started `python app.py` creates the first admin.

Like Jupyter's login token: a random token printed on the console; only its SHA-256 is stored (in
engine_kv, so any web worker on the same store accepts it). It works once: the setup refuses as
soon as any user exists, and the token row is deleted when the first admin is created.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from sqlalchemy import delete

from engine.store.db import Store
from engine.store.models import KeyValue

KV_KEY = "auth.setup_token"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def issue(store: Store, now: datetime) -> str:
    """A new token (replacing any earlier one); returns the token itself, to be printed once."""
    token = secrets.token_urlsafe(24)
    with store.write() as s:
        s.execute(delete(KeyValue).where(KeyValue.key == KV_KEY))
        s.add(KeyValue(key=KV_KEY, value={"sha256": _digest(token), "issued_at": now.isoformat()}, updated_at=now))
    return token


def valid(store: Store, token: object) -> bool:
    if not isinstance(token, str) or not token or len(token) > 200:
        return False
    with store.read() as s:
        row = s.get(KeyValue, KV_KEY)
        expected = str(row.value.get("sha256", "")) if row is not None else ""
    return bool(expected) and hmac.compare_digest(expected, _digest(token))


def revoke(store: Store) -> None:
    with store.write() as s:
        s.execute(delete(KeyValue).where(KeyValue.key == KV_KEY))
