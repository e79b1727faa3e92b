"""The Regime what-if on Alpaca (XNYS) with pre-market and after-hours bars stored, on SQLite and PostgreSQL:
a window of N bars is N regular-session bars (filtered first, then N + warm-up taken), "per day" counts XNYS
sessions of 390 minutes, and the Parameters page's pending row deletions are replayed and counted as rows.

Stored: Mon-Wed 2026-03-02..04, one bar a minute 04:00-20:00 New York (EST, UTC-5): 960 bars a day, of which
the 390 of 09:30-16:00 (14:30-21:00 UTC) are the regular session."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from engine.auth import principal
from engine.clock import ManualClock
from engine.market.exchange import alpaca_calendar
from engine.regime.testing import ohlcv
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store import regime_queries as rq
from engine.store.models import BarRow, Instrument

NY = ZoneInfo("America/New_York")
DAYS = (2, 3, 4)


@pytest.fixture()
def alpaca_app(any_db_url: str):  # type: ignore[no-untyped-def]
    from app import create_app

    settings = load_settings(database_url=any_db_url, engine_mode="none", market_source="alpaca",
                             alpaca_key_id="dummy", alpaca_secret_key="dummy")
    ctx = build_context(settings, with_source=False, migrate=True, clock=ManualClock())
    ts = [datetime(2026, 3, d, 4, 0, tzinfo=NY).astimezone(UTC) + timedelta(minutes=i) for d in DAYS for i in range(960)]
    frame = ohlcv(100 * np.exp(np.cumsum(0.001 * np.random.default_rng(1).standard_normal(len(ts)))), start=ts[0])
    frame["timestamp"] = ts
    with ctx.store.write() as s:
        s.add(Instrument(symbol="SPY", kind="index", has_options=False, source="test"))
        s.add_all(BarRow(symbol="SPY", ts=r.timestamp.to_pydatetime(), open=r.open, high=r.high, low=r.low,
                         close=r.close, volume=r.volume) for r in frame.itertuples())
    yield create_app(settings, context=ctx), ctx
    ctx.store.dispose()


def _utc(value: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def test_the_window_is_counted_in_regular_session_bars(alpaca_app) -> None:  # type: ignore[no-untyped-def]
    _app, ctx = alpaca_app
    with ctx.store.read() as s:
        bars, _chains, start = rq.replay_window(s, "SPY", 390, 300, calendar=alpaca_calendar())
    # 390 + 300 regular bars: Wed's whole session and Tue's last 300 minutes (11:00-16:00 ET = 16:00-21:00 UTC)
    assert len(bars) == 690
    assert _utc(bars["timestamp"].iloc[0]) == pd.Timestamp("2026-03-03 16:00", tz="UTC")
    assert _utc(start) == pd.Timestamp("2026-03-04 14:30", tz="UTC")
    assert _utc(bars["timestamp"].iloc[-1]) == pd.Timestamp("2026-03-04 20:59", tz="UTC")
    hours = [(_utc(t).hour, _utc(t).minute) for t in bars["timestamp"]]
    assert all((14, 30) <= h <= (20, 59) for h in hours)


def _texts(component: Any) -> str:
    from tests.dash_tree import nodes

    out = []
    for n in nodes(component):
        ch = getattr(n, "children", None)
        items = ch if isinstance(ch, list) else [ch]
        out += [str(c) for c in items if isinstance(c, str | int | float)]
    return " | ".join(out)


def _run(app: Any, window: str, edits: dict[str, Any] | None = None) -> str:
    from webapp.regime_whatif_page import run_whatif_preview

    with app.server.test_request_context("/"), principal.acting_as(principal.Principal("v", "viewer", "x")):
        body, _fig, style = run_whatif_preview([].append, 1, edits or {}, window, None, None, [], [])
    assert style == {"display": "block"}, _texts(body)
    return _texts(body)


@pytest.mark.parametrize(("window", "sessions"), [("390", 1), ("780", 2)])
def test_bars_compared_and_per_day_follow_the_xnys_session(alpaca_app, window: str, sessions: int) -> None:  # type: ignore[no-untyped-def]
    app, _ctx = alpaca_app
    text = _run(app, window)
    assert f"Bars compared | {window} | {window}" in text, text
    found = re.search(r"Transitions \| (\d+) \| \d+ \| Transitions per day \| ([\d.]+)", text)
    assert found is not None, text
    changes, per_day = int(found.group(1)), float(found.group(2))
    assert changes > 0
    assert per_day == pytest.approx(round(changes / sessions, 1))  # a 390-bar window is one session, not 390/1440


def test_pending_row_deletions_are_replayed_and_counted_as_rows(alpaca_app) -> None:  # type: ignore[no-untyped-def]
    from webapp import param_rows
    from webapp import param_views as pv
    from webapp.regime_whatif_page import collect_edits

    app, ctx = alpaca_app
    from engine.params.versions import active_params

    with ctx.store.read() as s:
        origin = pv.origin_sheets(active_params(s), None)
    stored: dict[str, Any] = {}
    for _ in range(5):  # rules 1-5 deleted on the Parameters page
        stored = param_rows.delete_row(pv.schema(), origin, stored, "TransitionRules", "main", 0)
    stored["StabilityConfiguration|main|hysteresis_buffer"] = 0.1
    stored["TradingRisk|bias_size_multipliers|=NO_SUCH_BIAS|size_multiplier"] = "0.7"  # its row is gone
    with app.server.test_request_context("/"), principal.acting_as(principal.Principal("v", "viewer", "x")):
        edits, table, _errors, _invalid = collect_edits([], [], {"edits": stored}, None, None, [], [])
    assert edits == {"TransitionRules|main": {"deleted": ["=1", "=2", "=3", "=4", "=5"], "added": []},
                     "StabilityConfiguration|main|hysteresis_buffer": 0.1}
    shown = _texts(table)
    assert "25 rows | 20 rows (deleted 1, 2, 3, 4, 5)" in shown
    assert ("1 pending edit left out of the what-if: TradingRisk (Bias Size Multipliers), NO_SUCH_BIAS: that row is "
            "no longer in the table") in shown, shown
    text = _run(app, "390", edits)
    assert "1 pending edit(s) + TransitionRules: 5 row(s) deleted replayed over 690 stored bars" in text, text
