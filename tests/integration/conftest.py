"""Fixtures shared by the integration tests: a migrated store on both dialects, and the pages read the way the
browser reads them."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.store.db import Store
from engine.store.migrate import open_store
from tests.auth_helpers import login_client


@pytest.fixture
def store(any_db_url: str) -> Iterator[Store]:
    """A migrated store, once on SQLite and once on PostgreSQL (a test module may define its own `store`)."""
    opened = open_store(any_db_url, migrate=True)
    try:
        yield opened
    finally:
        opened.dispose()


@pytest.fixture
def app_client(test_settings):  # type: ignore[no-untyped-def]
    """(app, client): the app without its engine (layouts need none) and a test client logged in as admin."""
    from app import create_app

    app = create_app(test_settings(), start_engine=False)
    return app, login_client(app, "admin")
