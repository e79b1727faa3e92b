"""The Overview candle chart in Chromium, fed by Patches after its first figure: after several refreshes
it holds exactly the newest stored bars (at most 240, in order, the same prices as the store), and
the browser logs no error."""
from __future__ import annotations

import time

import pandas as pd

from tests.auth_helpers import browser_login

TRACE_JS = """
const g = document.querySelector('#overview-index-chart .js-plotly-plot');
if (!g || !g.data || !g.data.length || !g.data[0].x) { return null; }
const t = g.data[0];
return {x: Array.from(t.x), close: Array.from(t.close), open: Array.from(t.open), title: g.layout.title.text};
"""


def _norm(ts) -> str:  # type: ignore[no-untyped-def]
    t = pd.Timestamp(ts)
    return (t.tz_convert("UTC").tz_localize(None) if t.tzinfo is not None else t).isoformat()


def test_ovw001_chart_patched_in_the_browser_equals_the_stored_bars(dash_duo, embedded_app) -> None:  # type: ignore[no-untyped-def]
    from engine.store import queries as store_queries
    from webapp.context import EXTENSION_KEY

    app = embedded_app()
    browser_login(dash_duo, app)
    store = app.server.extensions[EXTENSION_KEY].store
    deadline = time.time() + 30
    first = None
    while first is None or not first["x"]:
        assert time.time() < deadline, "the chart never got candles"
        time.sleep(0.3)
        first = dash_duo.driver.execute_script(TRACE_JS)
    seen_last = {first["x"][-1]}
    while len(seen_last) < 4:  # three more refreshes that brought new bars (Patches)
        assert time.time() < deadline + 30, f"the chart stopped moving: {sorted(seen_last)}"
        time.sleep(0.5)
        trace = dash_duo.driver.execute_script(TRACE_JS)
        seen_last.add(trace["x"][-1])
    trace = dash_duo.driver.execute_script(TRACE_JS)
    with store.read() as s:
        symbol = store_queries.index_symbol(s)
        stored = store_queries.bars(s, symbol, 2000)
    stored = stored[[_norm(t) <= _norm(trace["x"][-1]) for t in stored["timestamp"]]].tail(240)
    assert len(trace["x"]) == len(stored) <= 240
    assert [_norm(x) for x in trace["x"]] == [_norm(t) for t in stored["timestamp"]]
    assert [round(v, 6) for v in trace["close"]] == [round(float(v), 6) for v in stored["close"]]
    assert [round(v, 6) for v in trace["open"]] == [round(float(v), 6) for v in stored["open"]]
    assert trace["title"] == f"{symbol} · last {len(stored)} bars"
    assert [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"] == []
