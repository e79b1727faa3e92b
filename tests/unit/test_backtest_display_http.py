"""Through the app's callback endpoint (no browser): a cancelled run never makes a 500, Download of it answers
with the reason in the page's status (a side update), and the pickers list only the finished run."""
from __future__ import annotations

import gzip
import json

from engine.store.models import BacktestFile
from tests import web_requests as wr
from tests.auth_helpers import login_client
from tests.unit.test_backtest_display_runs import EQUITY, FILLS, PRICES, _run
from webapp.context import EXTENSION_KEY


def test_cancelled_run_over_http(test_settings) -> None:  # type: ignore[no-untyped-def]
    from app import create_app

    app = create_app(test_settings(warmup_polls=0), start_engine=False)
    with app.server.extensions[EXTENSION_KEY].store.write() as w:
        w.add_all([_run(1, "done", None), _run(7, "cancelled", "cancelled by web:admin")])
        w.flush()
        w.add_all(BacktestFile(run_id=1, name=n, data=gzip.compress(t.encode())) for n, t in
                  (("equity.csv", EQUITY), ("fills.csv", FILLS), ("prices.csv", PRICES)))
    viewer = login_client(app, "viewer")
    deps = wr.dependencies(viewer)

    refused = wr.call(viewer, wr.find(deps, "backtest-download.data"),
                      {"backtest-download-button.n_clicks": 1, "backtest-run-a.value": 7,
                       "backtest-download-kind.value": "fills.csv"}, trigger="backtest-download-button.n_clicks")
    assert refused.status_code in (200, 204), refused.get_data(as_text=True)[:300]
    side = json.loads(refused.get_data(as_text=True))["sideUpdate"]["backtest-status"]["children"]
    assert side["props"]["children"] == ("Nothing to download: run #7 is cancelled: cancelled by web:admin, "
                                         "so it has no fills.csv (only its parameters.xlsx)")

    only_b = wr.call(viewer, wr.find(deps, "backtest-download.data"),
                     {"backtest-download-button.n_clicks": 1, "backtest-run-a.value": None, "backtest-run-b.value": 1,
                      "backtest-download-kind.value": "equity.csv"}, trigger="backtest-download-button.n_clicks")
    sent = json.loads(only_b.get_data(as_text=True))["response"]["backtest-download"]["data"]
    assert sent["filename"] == "backtest-1-equity.csv" and sent["content"] == EQUITY  # the run the page shows
    neither = wr.call(viewer, wr.find(deps, "backtest-download.data"),
                      {"backtest-download-button.n_clicks": 1, "backtest-download-kind.value": "equity.csv"},
                      trigger="backtest-download-button.n_clicks")
    side = json.loads(neither.get_data(as_text=True))["sideUpdate"]["backtest-status"]["children"]
    assert side["props"]["children"] == "Nothing to download: open a stored run first (or run a backtest)"

    shown = wr.call(viewer, wr.find(deps, "backtest-equity.figure"),
                    {"backtest-run-a.value": 1, "backtest-run-b.value": 7}, trigger="backtest-run-b.value")
    assert shown.status_code == 200 and "Not compared: run #7 is cancelled" in shown.get_data(as_text=True)

    chart = wr.call(viewer, wr.find(deps, "backtest-price.figure"),
                    {"backtest-run-a.value": None, "backtest-run-b.value": 1, "backtest-symbol.value": "AAA",
                     "backtest-symbol.options": [{"label": "AAA", "value": "AAA"}]}, trigger="backtest-run-b.value")
    pnl = json.loads(chart.get_data(as_text=True))["response"]["backtest-symbol-pnl"]["children"]
    assert pnl.startswith("AAA: realised") and "on 10 held" in pnl  # the compare run's AAA: 10 bought, none sold

    pickers = wr.call(viewer, wr.find(deps, "backtest-run-a.options"), {"backtest-runs-changed.data": {}},
                      trigger="backtest-runs-changed.data")
    options = json.loads(pickers.get_data(as_text=True))["response"]["backtest-run-a"]["options"]
    assert options == [{"label": "#1 r1 (done)", "value": 1}]
