"""Fixtures shared by the integration tests that read every page the way the browser does."""
from __future__ import annotations

import pytest

from tests.auth_helpers import login_client


@pytest.fixture
def app_client(test_settings):  # type: ignore[no-untyped-def]
    """(app, client): the app without its engine (layouts need none) and a test client logged in as admin."""
    from app import create_app

    app = create_app(test_settings(), start_engine=False)
    return app, login_client(app, "admin")
