"""Self-tuning on the pages over real Dash callback requests: an admin approves a pending proposal (audited,
authored by that admin), a trader is refused, the Regime page shows the stored scorecard, and /metrics
exports it."""
from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import select

from engine.audit import recent
from engine.clock import ManualClock
from engine.params.versions import apply_version
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.keyvalue import put_value
from engine.store.models import ParamVersion
from engine.tuning.live import SCORECARD_KEY
from engine.tuning.scorecard import scorecard
from tests import web_requests as wr
from tests.auth_helpers import login_client
from tests.tuning_fixtures import pending_proposal, poor_version


@pytest.fixture()
def app(tmp_path):  # type: ignore[no-untyped-def]
    from app import create_app

    settings = load_settings(database_url=f"sqlite:///{tmp_path}/web.db", engine_mode="none")
    ctx = build_context(settings, with_source=False, migrate=True, clock=ManualClock())
    application = create_app(settings, context=ctx)
    yield application, ctx
    ctx.store.dispose()


def test_an_admin_approves_and_a_trader_is_refused(app) -> None:  # type: ignore[no-untyped-def]
    application, ctx = app
    pid = pending_proposal(ctx)
    trader = login_client(application, "trader", "tess")
    dep = wr.find(wr.dependencies(trader), "parameters-tuning-message")
    refused = wr.call(trader, dep, {"parameters-tuning-proposal.value": pid, "parameters-tuning-approve.n_clicks": 1},
                      trigger="parameters-tuning-approve.n_clicks")
    assert refused.status_code == 403
    admin = login_client(application, "admin", "ada")
    ok = wr.call(admin, dep, {"parameters-tuning-proposal.value": pid, "parameters-tuning-approve.n_clicks": 1},
                 trigger="parameters-tuning-approve.n_clicks")
    assert ok.status_code == 200 and f"proposal {pid} applied as version" in ok.get_data(as_text=True)
    with ctx.store.read() as s:
        newest = s.scalars(select(ParamVersion).order_by(ParamVersion.id.desc())).first()
        assert newest is not None and newest.source == "tuning" and "ada" in newest.author
        assert "ada" in recent(s, action_prefix="tuning.apply")[0].actor
    table = wr.call(admin, wr.find(wr.dependencies(admin), "parameters-tuning-validation", "parameters-tuning-proposal"),
                    {"parameters-tuning-proposal.value": pid}, trigger="parameters-tuning-proposal.value")
    text = table.get_data(as_text=True)
    assert table.status_code == 200 and "out-of-sample gain of the backtest objective: 25.0%" in text
    assert "Walk-forward validation by backtest" in text and "backtest sharpe" in text


def test_regime_page_and_metrics_show_the_stored_scorecard(app) -> None:  # type: ignore[no-untyped-def]
    application, ctx = app
    h = pd.DataFrame({"timestamp": pd.date_range("2026-01-05 14:30", periods=40, freq="min", tz="UTC"),
                      "regime_name": ["A"] * 40, "trend": ["up"] * 40, "vol": ["low"] * 40,
                      "transition": [False] * 40, "confidence": [0.8] * 40, "close": [100.0 + i for i in range(40)]})
    card = scorecard(poor_version(), h)
    with ctx.store.write() as s:
        put_value(s, SCORECARD_KEY, {"ts": ctx.clock.now().isoformat(), "overall": card.overall,
                                     "metrics": card.rows()}, ctx.clock.now())
    viewer = login_client(application, "viewer", "vic")
    resp = wr.call(viewer, wr.find(wr.dependencies(viewer), "regime-scorecard"), {},
                   trigger="regime-stats-interval.n_intervals")
    text = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "prediction_confidence" in text and f"{card.overall:.1%}" in text
    metrics = login_client(application, "admin", "ada").get("/metrics").get_data(as_text=True)
    assert f"regimedesk_scorecard_overall {card.overall}" in metrics
    assert 'regimedesk_scorecard_value{metric="prediction_confidence"} 0.8' in metrics


def test_version_validation_refuses_viewers_and_names_bad_inputs(app) -> None:  # type: ignore[no-untyped-def]
    """The backtest validation is a background job for traders; its bad inputs are messages, never errors."""
    from dash import no_update

    from engine.store.models import Instrument
    from webapp.tuning_views import run_validation

    application, ctx = app
    viewer = login_client(application, "viewer", "vic")
    dep = wr.find(wr.dependencies(viewer), "parameters-tuning-validation.children", "parameters-tuning-validate")
    refused = wr.call(viewer, dep, {"parameters-tuning-validate.n_clicks": 1, "parameters-tuning-version.value": 1},
                      trigger="parameters-tuning-validate.n_clicks")
    assert refused.status_code == 403
    shown: list[tuple[float, str]] = []
    with application.server.app_context():
        assert run_validation(shown.append, None, 1) is no_update  # not a click
        assert "choose a version to validate" in str(run_validation(shown.append, 1, None))
        assert "'1e9' is not a version number" in str(run_validation(shown.append, 1, "1e9"))
        assert "no index instrument stored yet" in str(run_validation(shown.append, 1, 3))
        with ctx.store.write() as s:
            s.add(Instrument(symbol="IDX", kind="index", source="simulated"))
        assert "parameter version 99 does not exist" in str(run_validation(shown.append, 1, 99))
    assert shown and shown[0][1] == "reading the stored history…"


@pytest.mark.slow  # a background job running four fold backtests: ~30-60 s
def test_a_trader_validates_a_version_by_backtest_in_the_background(app) -> None:  # type: ignore[no-untyped-def]
    """Started by one request, polled to its table: the page's Validate button over HTTP (the diskcache manager
    runs the job in a child process, which opens its own store)."""
    import json
    import time

    from engine.params.paramset import default_params
    from tests.tuning_fixtures import no_trade, store_trend_bars

    application, ctx = app
    store_trend_bars(ctx.store, 300)
    apply_version(ctx.store, no_trade(default_params()), "alice", "ui", clock=ctx.clock)
    second = apply_version(ctx.store, default_params(), "alice", "ui", clock=ctx.clock)
    trader = login_client(application, "trader", "tess")
    dep = wr.find(wr.dependencies(trader), "parameters-tuning-validation.children", "parameters-tuning-validate")
    body = wr.build_body(dep, {wr.position(dep, "parameters-tuning-validate", "n_clicks"): 1,
                               wr.position(dep, "parameters-tuning-version", "value"): second.version_id}, 0)
    started = trader.post(wr.CALLBACK_URL, json=body)
    handles = json.loads(started.get_data(as_text=True))
    assert started.status_code == 200 and "cacheKey" in handles and "job" in handles, handles
    poll = json.loads(json.dumps(body))
    for entry in poll["inputs"] + poll["state"]:
        entry["value"] = None
    deadline, result, progress = time.monotonic() + 300, None, []
    while time.monotonic() < deadline and result is None:
        resp = trader.post(f"{wr.CALLBACK_URL}?cacheKey={handles['cacheKey']}&job={handles['job']}", json=poll)
        assert resp.status_code in (200, 204), resp.get_data(as_text=True)[:300]
        data = json.loads(resp.get_data(as_text=True) or "{}")
        progress.append(json.dumps(data.get("progress")))
        result = data.get("response")
        time.sleep(0.5)
    assert result is not None, "no result within 300 s"
    text = json.dumps(result)
    assert "Walk-forward validation by backtest" in text and "backtest sharpe" in text, text[:800]
    assert any("fold 1/2" in p for p in progress), progress[:5]  # the fold backtests' progress reached the page
