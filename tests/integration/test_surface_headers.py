"""Grid and table headers are words, not record field names (issue 10, point 6): no "Ts", no "Client_order_id".

Every page's layout is read the way the browser reads it (the router callback over HTTP, as
tests/integration/test_callback_ids.py does); tables that only callbacks render are built here from hand-made rows.
"""
from __future__ import annotations

import json
import re
from typing import Any

import dash
import pandas as pd
from plotly.utils import PlotlyJSONEncoder

from components import backtest_views as bv
from components.tables import column, header_words
from tests import web_requests as wr
from tests.dash_tree import json_components

PLAIN_WORD = re.compile(r"[a-z]{3,}")  # a field ag-grid may show itself: "symbol" -> "Symbol"


def raw_headers(node: Any, out: list[str]) -> None:
    """Collect every ag-grid column and table header cell of a serialised tree that reads like a field name."""
    for kind, props in json_components(node):
        if kind == "AgGrid":
            for col in props.get("columnDefs") or []:
                header, field = col.get("headerName"), str(col.get("field", ""))
                if header is None and not PLAIN_WORD.fullmatch(field):
                    out.append(f"{props.get('id')}: column {field!r} has no headerName")
                elif header is not None and ("_" in header or header == field):
                    out.append(f"{props.get('id')}: header {header!r} is a field name")
        text = props.get("children")
        if kind == "Th" and isinstance(text, str) and ("_" in text or text[:1].islower()):
            out.append(f"table header {text!r}")  # a field name, or a lower-case heading beside capitalised ones


def test_header_words() -> None:
    assert header_words("client_order_id") == "Client order id"
    assert header_words("ts") == "Time (UTC)"
    assert header_words("entry_price") == "Entry price"
    assert header_words("symbol") == "Symbol"
    assert column("qty", maxWidth=90) == {"field": "qty", "headerName": "Quantity", "maxWidth": 90}
    assert column("ts", "Time (market time)")["headerName"] == "Time (market time)"


def test_the_walk_finds_a_raw_header() -> None:
    grid = {"type": "AgGrid", "namespace": "dash_ag_grid", "props": {"id": "g", "columnDefs": [
        {"field": "ts"}, {"field": "symbol"}, {"field": "client_order_id", "headerName": "client_order_id"},
        {"field": "qty", "headerName": "Quantity"}]}}
    th = [{"type": "Th", "props": {"children": "entry_ts"}}, {"type": "Th", "props": {"children": "metric"}},
          {"type": "Th", "props": {"children": "P&L"}}]
    found: list[str] = []
    raw_headers({"response": {"x": {"children": [grid, *th]}}}, found)
    assert found == ["g: column 'ts' has no headerName", "g: header 'client_order_id' is a field name",
                     "table header 'entry_ts'", "table header 'metric'"]


def test_every_page_layout_has_worded_headers(app_client) -> None:  # type: ignore[no-untyped-def]
    _app, client = app_client
    found: list[str] = []
    grids = 0
    for response in wr.page_layouts(client):
        raw_headers(response.get_json(), found)
        grids += response.get_data(as_text=True).count('"AgGrid"')
    assert grids >= 5, "the walk saw too few grids to mean anything"  # audit, performance x2, backtest x2, versions
    assert found == [], "\n".join(found)


def backticks(node: Any, out: list[str]) -> None:
    """Text a person reads that still carries Markdown backticks (html.* children are not Markdown)."""
    if isinstance(node, str):
        if "`" in node:
            out.append(node)
    elif isinstance(node, list):
        for child in node:
            backticks(child, out)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key not in ("type", "namespace", "id"):
                backticks(value, out)


def test_no_markdown_backticks_in_any_page(app_client) -> None:  # type: ignore[no-untyped-def]
    _app, client = app_client
    router = wr.find(wr.dependencies(client), "_pages_content.children")
    found: list[str] = []
    for page in dash.page_registry.values():
        backticks(wr.call(client, router, {"_pages_location.pathname": page["path"]}).get_json(), found)
    assert found == []
    caught: list[str] = []
    backticks({"props": {"children": ["as `python -m engine`", {"props": {"title": "plain"}}]}}, caught)
    assert caught == ["as `python -m engine`"]


def test_backtest_tables_rendered_by_callbacks_have_worded_headers() -> None:
    empty = pd.DataFrame()
    view = bv.RunView(label="#1 quick", equity=empty, fills=empty, prices=empty, index_symbol="IDX",
                      metrics={"sharpe": 1.2, "per_regime": {"Bull": {"time_share": 0.5, "pnl": -5.77, "return": 0.01,
                                                                      "trades": 3}}})
    found: list[str] = []
    for table in (bv.metrics_table([view], {}), bv.regime_table([view], {})):
        raw_headers(json.loads(json.dumps(table, cls=PlotlyJSONEncoder)), found)
    assert found == []
