"""Audit 23 #5: REGIMEDESK_DEADMAN_SECONDS below 5 (the settings accepted 3 and up) was not honoured: liveness calls
a beat "live" up to HEARTBEAT_STALE_S = 5 s and the switch only acts on engines that are not live, so with 3 s it
still waited until the beat was 5 s old. Now the settings refuse a threshold below that floor, saying why, and
every threshold they accept is honoured (checked at the floor on a real store, SQLite and PostgreSQL)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.health import deadman
from engine.settings import SettingsError, load_settings
from engine.store.migrate import open_store
from engine.store.models import EngineHeartbeat, TradingStateRow
from engine.trading.commands import HEARTBEAT_STALE_S

FLOOR_S = 5.0  # HEARTBEAT_STALE_S, written out: the test's own expectation


def test_a_threshold_below_the_floor_is_refused_with_the_reason_and_the_floor_is_honoured(any_db_url):
    assert HEARTBEAT_STALE_S == FLOOR_S
    for refused in (3, 4, 4.9):
        with pytest.raises((SettingsError, ValueError)) as caught:
            load_settings(deadman_seconds=refused)
        assert "at least 5 seconds" in str(caught.value) and "could not be honoured" in str(caught.value)
    for accepted in (0, 5, 30):
        assert load_settings(deadman_seconds=accepted).deadman_seconds == accepted
    store = open_store(any_db_url, migrate=True)
    try:
        for beat_age_s, trips in ((6.5, True), (1.0, False)):  # at the floor: a beat older than 5 s trips it
            now = datetime.now(UTC)
            with store.write() as s:
                s.merge(TradingStateRow(id=1, state="ACTIVE", changed_at=now, changed_by="test", reason="test"))
                s.merge(EngineHeartbeat(engine_id="e1", host="h", pid=1, started_at=now - timedelta(minutes=5),
                                        last_beat=now - timedelta(seconds=beat_age_s), status="active"))
            view = deadman.read_view(store, now, threshold_s=FLOOR_S, market_open=False)
            assert view.tripped is trips, (beat_age_s, view)
            if trips:
                assert view.kind == "engine" and view.age_s is not None and view.age_s > FLOOR_S
    finally:
        store.dispose()
