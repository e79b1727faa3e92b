"""Audit 22 (the Trading page and the trade controls), on SQLite and PostgreSQL, through the real app (Flask test
client, callbacks POSTed as the browser does) or control.perform on a real store:

1. A graceful shutdown of a halted system keeps the halt: STOPPED names it, survives an engine restart, and Resume
   opens the "Lift the halt?" dialog instead of trading again at one click.
2. The dialog is bound to the halt it showed (its reason and who set it): a confirm after that halt was lifted and
   another one set is refused, and nothing changes.
3. The shutdown dialog's flatten box starts from TradingRisk flatten_on_shutdown.
4. A shutdown is left to a live engine (it stops after running it), never run by the web while the engine runs on.
5. An accepted action empties the Reason box.
6. Fractional positions show their true quantity.
7. A forged non-text symbol when sizing a ticket gets a message naming the Symbol box.
Expected texts are written out by hand."""
from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from engine.clock import utcnow
from engine.store.models import AuditEvent, CommandRow, PositionRow, TradingStateChange, TradingStateRow
from engine.trading import control
from engine.trading import state as ts
from engine.trading.command_runner import on_engine_start, process_pending_commands
from engine.trading.state import TradingState
from tests import web_requests as wr
from tests.auth_helpers import login_client
from tests.trading_control_fixtures import beat, make_ctx

RESUME_WORDS = "Trading is HALTED. Resume lifts the halt: the engine trades again."
KEPT_WORDS = ("Trading is STOPPED, and the halt set before the shutdown still stands. Resume lifts the halt: the "
              "engine trades again.")


@pytest.fixture
def web_app(test_settings, any_db_url):  # type: ignore[no-untyped-def]
    from app import create_app

    app = create_app(test_settings(database_url=any_db_url, warmup_polls=20), start_engine=False)
    app.server.test_client().get("/login")
    with context_of(app).store.write() as s:
        ts.ensure_state(s, utcnow())
    beat(context_of(app).store, utcnow())
    return app


@pytest.fixture
def ctx(tmp_path, any_db_url):  # type: ignore[no-untyped-def]
    c = make_ctx(tmp_path, url=any_db_url)
    beat(c.store, c.clock.now())
    yield c
    c.store.dispose()


def context_of(app: Any) -> Any:
    from webapp.context import EXTENSION_KEY

    return app.server.extensions[EXTENSION_KEY]


def state_row(store: Any) -> tuple[str, str, str]:
    with store.read() as s:
        row = s.scalars(select(TradingStateRow)).one()
        return row.state, row.reason, row.changed_by


def halt_change(store: Any, reason: str) -> tuple[int, datetime]:
    """The id and time of the change that set HALTED with `reason` (the halt's identity, read back independently)."""
    with store.read() as s:
        row = s.scalars(select(TradingStateChange).where(TradingStateChange.to_state == "HALTED",
                                                         TradingStateChange.reason == reason)).one()
        return row.id, row.ts


def response_of(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    body = response.get_json()
    assert "app-callback-error" not in json.dumps(body.get("sideUpdate", {})), body
    return body["response"]


def kill(client: Any, deps: list[dict[str, Any]], reason: str) -> dict[str, Any]:
    dep = wr.find(deps, "trading-action-result.children", "trading-kill-confirm")
    return response_of(wr.call(client, dep, {"trading-kill-confirm.n_clicks": 1, "trading-reason-input.value": reason},
                               trigger="trading-kill-confirm.n_clicks"))


def click_resume(client: Any, deps: list[dict[str, Any]]) -> dict[str, Any]:
    beat(client.application.extensions["regimedesk"].store, utcnow())  # pause/resume need a live engine
    dep = wr.find(deps, "trading-lift-modal.is_open", "trading-resume-button")
    return response_of(wr.call(client, dep, {"trading-resume-button.n_clicks": 1},
                               trigger="trading-resume-button.n_clicks"))


def confirm_lift(client: Any, deps: list[dict[str, Any]], token: Any) -> dict[str, Any]:
    beat(client.application.extensions["regimedesk"].store, utcnow())  # pause/resume need a live engine
    dep = wr.find(deps, "trading-lift-modal.is_open", "trading-lift-confirm")
    return response_of(wr.call(client, dep, {"trading-lift-confirm.n_clicks": 1, "trading-lift-action.data": "resume",
                                             "trading-lift-halt.data": token},
                               trigger="trading-lift-confirm.n_clicks"))


def alert_text(out: dict[str, Any]) -> str:
    return str(out["trading-action-result"]["children"]["props"]["children"])


def utc_text(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S") + " UTC"


# ---- 1. a shutdown keeps the halt ----------------------------------------------------------------------------
def test_d1_a_graceful_shutdown_keeps_the_halt_over_a_restart_and_resume_asks_to_lift_it(web_app) -> None:  # type: ignore[no-untyped-def]
    ctx = context_of(web_app)
    trader = login_client(web_app, "trader")
    deps = wr.dependencies(trader)
    kill(trader, deps, "bad fills, investigating")
    assert state_row(ctx.store)[0] == "HALTED"
    halt_id, halted_at = halt_change(ctx.store, "bad fills, investigating")

    stopped = control.graceful_shutdown(ctx, actor="system:signal")  # the engine's SIGTERM / a deploy
    assert stopped.status == "done", stopped.message
    kept = f'the halt stays: "bad fills, investigating" (by web:trader, {utc_text(halted_at)}); Resume asks to lift it'
    assert state_row(ctx.store) == ("STOPPED", f"graceful shutdown by system:signal; {kept}", "system:signal")
    assert on_engine_start(ctx) is TradingState.STOPPED  # the restarted engine keeps it, and the halt with it
    assert state_row(ctx.store)[1].endswith(kept)

    beat(ctx.store, utcnow())
    unconfirmed = control.perform(ctx, "web:trader", "resume", reason="r", lift_halt=False, execute="here")
    assert unconfirmed.status == "refused"
    assert unconfirmed.message == (f"resume refused, nothing changed: {KEPT_WORDS} Lifting the halt must be "
                                   "confirmed: press the button again and confirm in the dialog")

    opened = click_resume(trader, deps)
    assert opened["trading-lift-modal"]["is_open"] is True
    assert opened["trading-lift-body"]["children"] == KEPT_WORDS
    assert opened["trading-lift-halt-text"]["children"] == (
        f'The halt: "bad fills, investigating" (by web:trader, {utc_text(halted_at)}).')
    assert opened["trading-lift-halt"]["data"] == str(halt_id)
    assert state_row(ctx.store)[0] == "STOPPED"  # one click changed nothing

    done = confirm_lift(trader, deps, opened["trading-lift-halt"]["data"])
    assert alert_text(done).startswith("resume done. Trading is now ACTIVE")
    assert state_row(ctx.store)[:2] == ("ACTIVE", "resume from the Trading page (halt lifted)")
    with ctx.store.read() as s:
        details = s.scalars(select(AuditEvent.details).where(AuditEvent.action == "control.resume",
                                                             AuditEvent.outcome == "requested")).one()
    assert details["lifted_halt"]["reason"] == "bad fills, investigating"
    assert details["lifted_halt"]["by"] == "web:trader"


def test_d1_an_interrupted_shutdown_of_a_halt_keeps_it_and_its_pending_command_is_closed_unrun(ctx) -> None:  # type: ignore[no-untyped-def]
    assert control.perform(ctx, "web:alice", "halt", reason="bad fills", execute="here").status == "done"
    left = control.perform(ctx, "web:alice", "shutdown", reason="deploy", execute="engine")  # the engine died
    assert left.status == "pending"
    assert on_engine_start(ctx) is TradingState.STOPPED  # the next engine finishes the interrupted shutdown
    _halt_id, halted_at = halt_change(ctx.store, "bad fills")
    assert state_row(ctx.store)[1] == ("the engine restarted during a shutdown; resume to trade again; the halt stays: "
                                       f'"bad fills" (by web:alice, {utc_text(halted_at)}); Resume asks to lift it')
    with ctx.store.read() as s:
        row = s.get(CommandRow, left.command_id)
        assert (row.status, row.result["message"]) == ("failed", (
            "not run: the engine it was left for stopped before picking it up; this engine started later and keeps "
            "the saved trading state"))
    ran: list[str] = []
    assert process_pending_commands(ctx, on_shutdown=lambda: ran.append("exit")) == 0
    assert ran == []  # the new engine does not stop itself for the old shutdown


# ---- 2. the dialog is bound to its halt ------------------------------------------------------------------------
def test_d2_the_lift_dialog_names_its_halt_and_a_confirm_after_another_halt_is_refused(web_app) -> None:  # type: ignore[no-untyped-def]
    ctx = context_of(web_app)
    alice = login_client(web_app, "trader", name="alice_t")
    deps = wr.dependencies(alice)
    kill(alice, deps, "fat-finger order, checking")
    _first_id, first_at = halt_change(ctx.store, "fat-finger order, checking")
    opened = click_resume(alice, deps)
    assert opened["trading-lift-body"]["children"] == RESUME_WORDS
    assert opened["trading-lift-halt-text"]["children"] == (
        f'The halt: "fat-finger order, checking" (by web:alice_t, {utc_text(first_at)}).')
    token = opened["trading-lift-halt"]["data"]

    beat(ctx.store, utcnow())  # meanwhile bob lifts that halt, and the risk job halts again
    assert control.perform(ctx, "web:bob_t", "resume", reason="lifted by bob", lift_halt=True).status == "done"
    assert control.perform(ctx, "system:risk", "halt", reason="daily loss limit 3% breached",
                           execute="here").status == "done"
    _second_id, second_at = halt_change(ctx.store, "daily loss limit 3% breached")

    refused = confirm_lift(alice, deps, token)  # alice confirms the dialog opened for the first halt
    assert refused["trading-lift-modal"]["is_open"] is False
    assert alert_text(refused) == (
        "resume refused, nothing changed: the halt changed since the dialog opened; trading is now HALTED under "
        f'the halt "daily loss limit 3% breached" (by system:risk, {utc_text(second_at)}). Press the button '
        "again to see it and confirm")
    assert "trading-reason-input" not in refused  # a refusal keeps the Reason box
    assert state_row(ctx.store) == ("HALTED", "daily loss limit 3% breached", "system:risk")

    missing = confirm_lift(alice, deps, None)  # a confirm that names no halt lifts none
    assert alert_text(missing) == ("resume refused, nothing changed: the dialog did not say which halt it lifts. "
                                   "Press Resume again to see the halt and confirm")
    assert state_row(ctx.store)[0] == "HALTED"

    again = click_resume(alice, deps)  # the dialog opened for the halt in force lifts it
    assert 'daily loss limit 3% breached" (by system:risk' in again["trading-lift-halt-text"]["children"]
    done = confirm_lift(alice, deps, again["trading-lift-halt"]["data"])
    assert alert_text(done).startswith("resume done. Trading is now ACTIVE")
    assert state_row(ctx.store)[0] == "ACTIVE"


# ---- 3. the shutdown's flatten box starts from the parameter ------------------------------------------------------
def test_d3_the_shutdown_flatten_box_starts_from_flatten_on_shutdown(web_app) -> None:  # type: ignore[no-untyped-def]
    from engine.params.paramset import ParamSet, default_params
    from engine.params.versions import apply_version

    ctx = context_of(web_app)
    canon = default_params().to_canonical()
    canon["sheets"]["TradingRisk"]["main"]["flatten_on_shutdown"] = True
    apply_version(ctx.store, ParamSet.from_canonical(canon), "admin", "ui", clock=ctx.clock)
    trader = login_client(web_app, "trader")
    deps = wr.dependencies(trader)
    page = wr.call(trader, wr.find(deps, "_pages_content.children"), {"_pages_location.pathname": "/trading"})
    box = _component(page.get_json(), "trading-shutdown-flatten")
    assert (box["value"], box["label"]) == (
        True, "Also close all positions before stopping (parameter flatten_on_shutdown: on)")
    toggle = wr.find(deps, "trading-shutdown-flatten.value", "trading-shutdown-button")
    opened = response_of(wr.call(trader, toggle, {"trading-shutdown-button.n_clicks": 1},
                                 trigger="trading-shutdown-button.n_clicks"))
    assert opened["trading-shutdown-modal"]["is_open"] is True
    assert opened["trading-shutdown-flatten"]["value"] is True


def _component(tree: Any, ident: str) -> dict[str, Any]:
    """The props of the component with id `ident` in a served layout."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("props", {}).get("id") == ident:
                found.append(node["props"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(tree)
    assert len(found) == 1, found
    return found[0]


# ---- 4. a shutdown is the live engine's --------------------------------------------------------------------------
def test_d4_a_shutdown_waits_for_a_live_but_busy_engine_which_then_runs_it_and_stops(ctx) -> None:  # type: ignore[no-untyped-def]
    waiting = control.perform(ctx, "web:tess", "shutdown", reason="end of day", handoff_s=0.2, wait_s=0.6)
    assert (waiting.status, waiting.state) == ("pending", TradingState.SHUTTING_DOWN)
    assert waiting.message == control.WAITING_FOR_ENGINE
    with ctx.store.read() as s:
        assert s.get(CommandRow, waiting.command_id).result["executor"] == ""  # nobody ran a step of it
    exits: list[str] = []
    assert process_pending_commands(ctx, on_shutdown=lambda: exits.append("exit")) == 1  # the engine's next poll
    assert exits == ["exit"]
    with ctx.store.read() as s:
        row = s.get(CommandRow, waiting.command_id)
        assert row.status == "done" and row.result["executor"].endswith("(engine)")
    assert state_row(ctx.store)[0] == "STOPPED"


# ---- 5. the Reason box is emptied after an accepted action -----------------------------------------------------------
def test_d5_an_accepted_action_empties_the_reason_box(web_app) -> None:  # type: ignore[no-untyped-def]
    ctx = context_of(web_app)
    trader = login_client(web_app, "trader")
    deps = wr.dependencies(trader)
    beat(ctx.store, utcnow())
    pause = wr.find(deps, "trading-lift-modal.is_open", "trading-pause-button")
    out = response_of(wr.call(trader, pause, {"trading-pause-button.n_clicks": 1,
                                              "trading-reason-input.value": "FOMC at 2pm"},
                              trigger="trading-pause-button.n_clicks"))
    assert out["trading-reason-input"]["value"] == ""
    assert state_row(ctx.store)[:2] == ("REDUCING", "FOMC at 2pm")
    halted = kill(trader, deps, "checking fills")
    assert halted["trading-reason-input"]["value"] == ""
    opened = click_resume(trader, deps)  # only a dialog opens: the reason typed is kept for its confirm
    assert opened["trading-lift-modal"]["is_open"] is True and "trading-reason-input" not in opened


# ---- 6. fractional positions ------------------------------------------------------------------------------------
def test_d6_fractional_positions_show_their_true_quantity(web_app) -> None:  # type: ignore[no-untyped-def]
    ctx = context_of(web_app)
    now = utcnow()
    with ctx.store.write() as s:
        for symbol, qty in (("AAA", "0.4"), ("BBB", "2.5"), ("CCC", "-0.75"), ("DDD", "1200")):
            s.add(PositionRow(symbol=symbol, qty=Decimal(qty), avg_entry_price=Decimal(100), market_price=Decimal(101),
                              unrealized_pnl=Decimal(1), updated_at=now))
    from components.trading_tables import POSITIONS
    from tests.integration.test_trading_slot_tables import Page, refresh

    trader = login_client(web_app, "trader")
    dep = wr.find(wr.dependencies(trader), "trading-positions.children")
    page = Page(POSITIONS.name)
    refresh(trader, dep, "trading-positions", "trading-positions-shape", page, 1)
    shown = dict(zip(page.slots("symbol"), page.slots("qty"), strict=True))
    assert {k: v for k, v in shown.items() if k} == {"AAA": "0.4", "BBB": "2.5", "CCC": "-0.75", "DDD": "1,200"}


# ---- 7. forged values are named ----------------------------------------------------------------------------------
def test_d7_a_forged_symbol_when_sizing_names_the_symbol_box(web_app) -> None:  # type: ignore[no-untyped-def]
    trader = login_client(web_app, "trader")
    size = wr.find(wr.dependencies(trader), "trading-ticket-size-note.children")
    for symbol in ([1, "a"], {"a": 1}, 5):
        out = response_of(trader.post(wr.CALLBACK_URL, json=wr.build_body(size, {0: 1, 1: symbol, 2: "buy"}, 0)))
        assert out["trading-ticket-size-note"]["children"] == (
            "The Symbol box must hold text (a ticker such as AAPL); enter the symbol again to size.")
