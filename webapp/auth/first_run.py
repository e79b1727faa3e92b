"""First run and safe binding for `python app.py`.

A fresh machine has no user: the console prints a one-time setup link (like Jupyter's token) through
which the person who started the process creates the first admin; it is offered only on a loopback
address. Binding to any other address is refused unless a user exists and REGIMEDESK_SECRET_KEY is
set to a long, non-default value.
"""
from __future__ import annotations

import sys

from dash import Dash

from engine.auth import setup_token, users
from engine.clock import utcnow
from engine.settings import Settings
from engine.store.migrate import open_store
from webapp.auth.install import is_loopback
from webapp.context import get_store

MIN_SECRET_LENGTH = 32
WEAK_SECRETS = frozenset({"change-me", "changeme", "secret", "dev", "development", "regimedesk"})


def refuse_unsafe_binding(settings: Settings) -> str:
    """One line saying why the process must not start, or "" when binding is safe."""
    if is_loopback(settings.host):
        return ""
    secret = settings.secret_key.get_secret_value() if settings.secret_key else ""
    if len(secret) < MIN_SECRET_LENGTH or secret.lower() in WEAK_SECRETS:
        return (f"refusing to listen on {settings.host}: set REGIMEDESK_SECRET_KEY to a random value of at least "
                f"{MIN_SECRET_LENGTH} characters (python -c 'import secrets; print(secrets.token_urlsafe(48))')")
    store = open_store(settings.database_url, migrate=True)
    try:
        count = users.count_users(store)
    finally:
        store.dispose()
    if count == 0:
        return (f"refusing to listen on {settings.host}: no user exists; create one first with "
                "python -m engine users add NAME --role admin --password-stdin")
    return ""


def print_setup_link(app: Dash, settings: Settings) -> str | None:
    """Print the setup link when no user exists (loopback only); returns the token for tests."""
    with app.server.app_context():
        store = get_store()
        if users.count_users(store) > 0 or not is_loopback(settings.host):
            return None
        token = setup_token.issue(store, utcnow())
    host = "127.0.0.1" if settings.host in ("localhost", "::1") else settings.host
    print(f"\nNo user exists yet. Create the first admin here (this link works once):\n"
          f"    http://{host}:{settings.port}/setup?token={token}\n", file=sys.stderr, flush=True)
    return token
