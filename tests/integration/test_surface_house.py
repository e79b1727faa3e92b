"""House style on every page (issue 10, point 6): no graph shows the plotly logo, the Backtest page's metric rows
are words (with their definitions beside them), the tuning tables' headers are words.

Layouts are read the way the browser reads them (the router callback over HTTP, as test_surface_headers.py does);
graphs and tables that only callbacks render are checked from the source (ast) or built here from hand-made rows.
"""
from __future__ import annotations

import ast
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from plotly.utils import PlotlyJSONEncoder

from components import backtest_views as bv
from components.charts import empty_figure, graph
from engine.tuning.proposals import ProposalView
from tests import web_requests as wr
from tests.dash_tree import json_components
from tests.integration.test_surface_headers import raw_headers
from webapp import tuning_views as tv

ROOT = Path(__file__).resolve().parents[2]


def _tree(component: Any) -> Any:
    return json.loads(json.dumps(component, cls=PlotlyJSONEncoder))


def graphs_showing_the_logo(node: Any, out: list[str]) -> None:
    """Every Graph of a serialised tree whose mode bar would carry the plotly logo."""
    for kind, props in json_components(node):
        if kind == "Graph":
            config = props.get("config") or {}
            if config.get("displaylogo") is not False and config.get("displayModeBar") is not False:
                out.append(str(props.get("id")))


def test_the_house_graph_hides_the_logo() -> None:
    assert graph("g", empty_figure("x")).config == {"displaylogo": False}
    found: list[str] = []
    graphs_showing_the_logo({"response": {"x": {"children": [
        _tree(graph("a", empty_figure(""))), {"type": "Graph", "props": {"id": "b"}},
        {"type": "Graph", "props": {"id": "c", "config": {"displayModeBar": False}}}]}}}, found)
    assert found == ["b"]


def test_every_dcc_graph_in_the_source_has_a_config() -> None:
    """Graphs that callbacks render are in no layout: every dcc.Graph(...) call names a config (or is graph())."""
    missing = []
    for path in sorted(p for pkg in ("pages", "webapp", "components") for p in (ROOT / pkg).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "Graph"
                    and not any(k.arg == "config" for k in node.keywords)):
                missing.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert missing == [], "dcc.Graph without config (use components.charts.graph): " + ", ".join(missing)


def test_no_page_layout_graph_shows_the_plotly_logo(app_client) -> None:  # type: ignore[no-untyped-def]
    _app, client = app_client
    found: list[str] = []
    graphs = 0
    for response in wr.page_layouts(client):
        graphs_showing_the_logo(response.get_json(), found)
        graphs += response.get_data(as_text=True).count('"type": "Graph"') + response.get_data(
            as_text=True).count('"type":"Graph"')
    assert graphs >= 10, "the walk saw too few graphs to mean anything"
    assert found == [], found


def test_backtest_metric_rows_are_words_with_their_definitions() -> None:
    empty = pd.DataFrame()
    view = bv.RunView(label="#1 quick", equity=empty, fills=empty, prices=empty, index_symbol="IDX",
                      metrics={"max_drawdown": -0.05, "sharpe": 1.2, "avg_gross_exposure": 0.5})
    table = _tree(bv.metrics_table([view], {"max_drawdown": "Largest fall of equity", "sharpe": "Sharpe ratio: x"}))
    rows = table["props"]["children"][1]["props"]["children"]
    cells = [[cell["props"]["children"] for cell in row["props"]["children"]] for row in rows]
    assert cells == [["Sharpe", "1.20", "Sharpe ratio: x"], ["Max drawdown", "-5.00%", "Largest fall of equity"],
                     ["Average gross exposure", "50.00%", ""]]
    assert bv.metric_words("max_drawdown_duration_days") == "Max drawdown duration (days)"
    assert bv.metric_words("some_new_metric") == "Some new metric"


def test_tuning_tables_have_worded_headers() -> None:
    fold = {"fold": 1, "start": "2024-01-02 00:00:00", "end": "2024-02-02 00:00:00", "bars": 20, "current": 0.1,
            "candidate": 0.2, "current_return": 0.01, "candidate_return": 0.02, "buy_hold": 0.015, "cash": 0.0}
    view = ProposalView(1, datetime(2024, 1, 1, tzinfo=UTC), None, "pending", ["a: 1 -> 2"], {}, "why", None, None)
    found: list[str] = []
    for table in (tv.validation_table({"folds": [fold], "gain": 0.1}), tv.proposals_table([view])):
        raw_headers(_tree(table), found)
    assert found == []
    text = json.dumps(_tree(tv.validation_table({"folds": [fold]})))
    assert "Candidate return" in text and "Buy & hold" in text
