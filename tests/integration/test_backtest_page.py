"""The Backtest page's callbacks over HTTP with a logged-in client: a trader records a run (audited with
their name), a viewer may not; bad input is a clear message; a finished run shows its metrics and charts."""
from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import select

from engine.backtest import runs
from engine.store.models import AuditEvent
from tests import web_requests as wr
from tests.auth_helpers import login_client
from tests.integration import backtest_data
from webapp import backtest_jobs as jobs
from webapp.context import EXTENSION_KEY

FORM = {"backtest-source.value": "csv", "backtest-start.value": "", "backtest-end.value": "",
        "backtest-cash.value": 100_000, "backtest-version.value": "active", "backtest-preset.value": "default",
        "backtest-name.value": "web run"}


@pytest.mark.slow  # a backtest and many callback round trips: about 30 s
def test_trader_runs_viewer_only_views(test_settings, any_db_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from app import create_app

    folder = backtest_data.csv_dir(tmp_path / "csv", bars=40)
    app = create_app(test_settings(database_url=any_db_url, warmup_polls=0, csv_dir=str(folder)), start_engine=False)
    ctx = app.server.extensions[EXTENSION_KEY]
    label = next(iter(jobs.csv_choices(ctx.settings)))
    form = {**FORM, "backtest-csv-dir.value": label}
    trader = login_client(app, "trader")
    deps = wr.dependencies(trader)
    start = wr.find(deps, "backtest-job.data")

    bad = wr.call(trader, start, {**form, "backtest-start.value": "2031-01-01", "backtest-run.n_clicks": 1},
                  trigger="backtest-run.n_clicks")
    assert bad.status_code == 200 and "no IDX bars between 2031-01-01" in bad.get_data(as_text=True)

    upload = wr.find(deps, "backtest-upload-data.data")
    broken = "data:text/csv;base64," + base64.b64encode(b"timestamp,open,high,low,close,volume\n2024-01-02,1,0.5,0.9,1,10\n"
                                                        ).decode()
    refused = wr.call(trader, upload, {"backtest-upload.contents": broken, "backtest-upload.filename": "SPY.csv"},
                      trigger="backtest-upload.contents")
    assert "SPY.csv line 2, column 'high': high 0.5 is below low 0.9" in refused.get_data(as_text=True)

    ok = wr.call(trader, start, {**form, "backtest-run.n_clicks": 1}, trigger="backtest-run.n_clicks")
    assert ok.status_code == 200, ok.get_data(as_text=True)[:300]
    run_id = json.loads(ok.get_data(as_text=True))["response"]["backtest-job"]["data"]["run_id"]
    built = jobs.build_spec({k.split(".")[0].removeprefix("backtest-").replace("-", "_"): v for k, v in form.items()},
                            None, ctx.store, ctx.settings)
    assert "40 bars" in jobs.execute(run_id, built, ctx.store, lambda _f, _t: None)
    with ctx.store.read() as s:
        audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "backtest.run")).one()
    assert audit.actor == "web:trader" and audit.target == f"backtest:{run_id}"

    viewer = login_client(app, "viewer")
    refused_start = wr.call(viewer, start, {**form, "backtest-run.n_clicks": 1}, trigger="backtest-run.n_clicks")
    assert refused_start.status_code == 403
    assert len(runs.list_runs(ctx.store)) == 1
    shown = wr.call(viewer, wr.find(wr.dependencies(viewer), "backtest-equity.figure"),
                    {"backtest-run-a.value": run_id, "backtest-run-b.value": None}, trigger="backtest-run-a.value")
    text = shown.get_data(as_text=True)
    assert shown.status_code == 200 and "buy & hold IDX" in text and "sharpe" in text and "Sharpe ratio" in text
    download = wr.call(viewer, wr.find(wr.dependencies(viewer), "backtest-download.data"),
                       {"backtest-download-button.n_clicks": 1, "backtest-run-a.value": run_id,
                        "backtest-download-kind.value": "equity.csv"}, trigger="backtest-download-button.n_clicks")
    content = json.loads(download.get_data(as_text=True))["response"]["backtest-download"]["data"]["content"]
    assert content.splitlines()[0] == "timestamp,equity,cash,gross_exposure,regime_name"
    assert len(content.splitlines()) == 41


def test_pending_edits_of_the_parameters_page_as_the_parameters(test_settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from engine.backtest.inputs import BacktestError
    from engine.settings import load_settings
    from engine.store.migrate import open_store

    folder = backtest_data.csv_dir(tmp_path / "csv", bars=20)
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 's.db'}", csv_dir=str(folder))
    store = open_store(settings.database_url, migrate=True)
    try:
        form = {"source": "csv", "csv_dir": next(iter(jobs.csv_choices(settings))), "cash": 1000, "version": "pending"}
        key = "StabilityConfiguration|main|hysteresis_buffer"
        built = jobs.build_spec(form, None, store, settings, {"edits": {key: 0.11}})
        assert built.spec.params.sheet("StabilityConfiguration").get("hysteresis_buffer") == 0.11
        assert built.spec.params_label == "1 pending edit(s) over version defaults" and built.version_id is None
        with pytest.raises(BacktestError, match="no pending edits"):
            jobs.build_spec(form, None, store, settings, {})
        with pytest.raises(BacktestError, match="hysteresis_buffer"):
            jobs.build_spec(form, None, store, settings, {key: 7})
        with pytest.raises(BacktestError, match="is not a version number"):
            jobs.build_spec({**form, "version": "x"}, None, store, settings)
    finally:
        store.dispose()


def test_stored_history_as_backtest_data(any_db_url) -> None:  # type: ignore[no-untyped-def]
    """The engine's stored bars come back per symbol, in time order, with the stored index symbol; the range
    (and the warm-up before its start) is cut in the query."""
    import pandas as pd

    from engine.backtest.inputs import BacktestError, load_stored_history
    from engine.backtest.sample import simulated_frames
    from engine.store.migrate import open_store
    from engine.store.models import BarRow, Instrument

    frames = {s: f for s, f in simulated_frames(30).items() if s in ("IDX", "ALFA")}
    store = open_store(any_db_url, migrate=True)
    try:
        with pytest.raises(BacktestError, match="no market history yet"):
            load_stored_history(store)
        with store.write() as s:
            s.add_all([Instrument(symbol="ALFA", kind="stock", has_options=False, source="simulated"),
                       Instrument(symbol="IDX", kind="index", has_options=False, source="simulated")])
            for sym, f in frames.items():
                s.add_all([BarRow(symbol=sym, ts=r.timestamp.to_pydatetime(), open=r.open, high=r.high, low=r.low,
                                  close=r.close, volume=r.volume) for r in f.itertuples()])
        got, index = load_stored_history(store)
        assert index == "IDX" and sorted(got) == ["ALFA", "IDX"]
        pd.testing.assert_frame_equal(got["IDX"], frames["IDX"], check_dtype=False)
        ts = frames["IDX"]["timestamp"]
        cut, _ = load_stored_history(store, ts.iloc[20].to_pydatetime(), ts.iloc[25].to_pydatetime(),
                                     warmup=pd.Timedelta(days=7))
        assert cut["IDX"]["timestamp"].iloc[0] == ts[ts >= ts.iloc[20] - pd.Timedelta(days=7)].iloc[0]
        assert cut["IDX"]["timestamp"].iloc[-1] == ts.iloc[25]
    finally:
        store.dispose()
