"""After a parameter version is applied while no new bar is classified (market closed, engine paused), the
Regime card names the newly active version and says which version the shown classification used, at its next
refresh; with nothing changed it is not redrawn. SQLite and PostgreSQL, a real app and store."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from dash import no_update
from flask import Flask

from engine.auth import principal
from engine.clock import ManualClock
from engine.params.versions import active_params, apply_version
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.db import Store
from engine.store.models import Instrument, RegimeSnapshot
from tests.dash_tree import nodes
from webapp.regime_whatif import apply_edits

HYST = "StabilityConfiguration|main|hysteresis_buffer"


@pytest.fixture
def app(any_db_url: str) -> Iterator[tuple[Flask, Store]]:
    from app import create_app

    settings = load_settings(database_url=any_db_url, engine_mode="none")
    ctx = build_context(settings, with_source=False, migrate=True, clock=ManualClock())
    application = create_app(settings, context=ctx)
    yield application.server, ctx.store
    ctx.store.dispose()


def _shown(card: Any) -> list[str]:
    """The card's version line and its detail line."""
    return [n.children for n in nodes(card) if getattr(n, "id", None) == "regime-current-version"] + \
           [n.children for n in nodes(card) if "kpi-subtitle" in str(getattr(n, "className", ""))]


def test_card_names_the_applied_version_without_a_new_bar(app: tuple[Flask, Store]) -> None:
    from pages.regime import refresh_current
    from webapp.cache import cache

    server, store = app
    with store.read() as s:
        base = active_params(s)
    first = apply_version(store, apply_edits(base, {HYST: 0.08}), "bob", "ui")
    with store.write() as s:
        s.add(Instrument(symbol="SPY", kind="index", has_options=False, source="alpaca"))
        s.add(RegimeSnapshot(ts=datetime(2026, 1, 5, 15, tzinfo=UTC), symbol="SPY", regime_id=0,
                             regime_name="Strong_Bullish_High_Vol", confidence=0.7, raw_score=0.2,
                             volatility_value=0.3, volatility_class="High", trend_value=0.01,
                             trend_class="Strong_Bullish", time_in_regime_s=600.0, is_transition=False,
                             transition_rule=None, param_version_id=first.version_id, modules={"modules": []}))
    with server.test_request_context("/"), principal.acting_as(principal.Principal("v", "viewer", "x")):
        cache.clear()
        card, _fig, _inactive, seen = refresh_current(1, None)
        assert _shown(card)[0] == f"version {first.version_id}"
        assert "this classification used" not in _shown(card)[1]
        assert refresh_current(2, seen) == (no_update,) * 4  # nothing changed: no redraw

        second = apply_version(store, apply_edits(first, {HYST: 0.1}), "alice", "ui")
        assert first.version_id is not None and second.version_id == first.version_id + 1
        cache.clear()  # the catalogue's memoized read expires within seconds
        card, _fig, _inactive, seen = refresh_current(3, seen)
        assert card is not no_update, "the card kept naming the old version until a new bar"
        version, detail = _shown(card)
        assert version == f"version {second.version_id}"
        assert detail.startswith("ui by alice ")
        assert detail.endswith(f"; this classification used version {first.version_id}")
        assert refresh_current(4, seen) == (no_update,) * 4
