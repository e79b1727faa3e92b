"""Review 3 of the Trading page's controls, on SQLite and PostgreSQL:

1. Leaving HALTED by Pause or Resume is a confirmed act: the click opens a dialog that says the halt is lifted, and
   control.perform itself refuses (under the state lock) a pause or resume from HALTED that was not confirmed.
   A pause that finds REDUCING, a resume that finds ACTIVE, say "already …, nothing changed" (still audited).
4. Closing a position while HALTED names the check once and points to the kill switch's flatten box.
5. A viewer's kill switch with flatten is refused and changes nothing; the flatten box is hidden from a viewer.
Expected texts are written out by hand."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from engine.store.models import AuditEvent, CommandRow, OrderRow, PositionRow, TradingStateRow
from engine.trading import control
from engine.trading import state as ts
from engine.trading.state import TradingState
from tests import web_requests as wr
from tests.auth_helpers import login_client
from tests.trading_control_fixtures import beat, make_ctx, open_position, place_resting_orders

PAUSE_WORDS = "Trading is HALTED. Pause entries lifts the halt: the engine may send exits again."
RESUME_WORDS = "Trading is HALTED. Resume lifts the halt: the engine trades again."


# ---- control.perform -------------------------------------------------------------------------------------
@pytest.fixture()
def ctx(tmp_path, any_db_url):  # type: ignore[no-untyped-def]
    c = make_ctx(tmp_path, url=any_db_url)
    beat(c.store, c.clock.now())  # pause and resume need a live engine
    yield c
    c.store.dispose()


def state_of(store: Any) -> TradingState:
    with store.read() as s:
        return ts.current(s).state


def audit_outcomes(store: Any, action: str) -> list[str]:
    with store.read() as s:
        return list(s.scalars(select(AuditEvent.outcome).where(AuditEvent.action == action).order_by(AuditEvent.id)))


@pytest.mark.parametrize(("action", "words", "lands"), [("pause", PAUSE_WORDS, TradingState.REDUCING),
                                                         ("resume", RESUME_WORDS, TradingState.ACTIVE)])
def test_leaving_halted_needs_the_confirmation(ctx, action: str, words: str, lands: TradingState) -> None:  # type: ignore[no-untyped-def]
    assert control.perform(ctx, "bob", "halt", reason="x", execute="here").status == "done"
    refused = control.perform(ctx, "bob", action, reason="y", execute="here", lift_halt=False)
    assert refused.status == "refused"
    assert refused.message == (f"{action} refused, nothing changed: {words} Leaving HALTED must be confirmed: "
                               "press the button again and confirm in the dialog")
    assert state_of(ctx.store) is TradingState.HALTED
    assert audit_outcomes(ctx.store, f"control.{action}") == ["refused"]
    done = control.perform(ctx, "bob", action, reason="y", execute="here", lift_halt=True)
    assert done.status == "done", done.message
    assert state_of(ctx.store) is lands
    assert audit_outcomes(ctx.store, f"control.{action}") == ["refused", "requested"]


def test_unconfirmed_pause_and_resume_act_as_before_outside_halted(ctx) -> None:  # type: ignore[no-untyped-def]
    assert control.perform(ctx, "bob", "pause", reason="p", execute="here", lift_halt=False).status == "done"
    assert state_of(ctx.store) is TradingState.REDUCING
    assert control.perform(ctx, "bob", "resume", reason="r", execute="here", lift_halt=False).status == "done"
    assert state_of(ctx.store) is TradingState.ACTIVE


def test_a_pause_that_changes_nothing_says_so_and_is_still_audited(ctx) -> None:  # type: ignore[no-untyped-def]
    from webapp.control_actions import describe

    first = control.perform(ctx, "bob", "pause", reason="p", execute="here")
    assert describe(first) == ("pause done. Trading is now REDUCING (entries paused).", "success")
    again = control.perform(ctx, "bob", "pause", reason="p again", execute="here")
    assert again.status == "done" and again.steps[0].detail == "already REDUCING"
    assert describe(again) == ("pause: trading was already REDUCING (entries paused); nothing changed.", "secondary")
    assert audit_outcomes(ctx.store, "control.pause") == ["requested", "requested"]
    assert audit_outcomes(ctx.store, "control.pause.result") == ["ok", "ok"]
    with ctx.store.read() as s:
        assert s.scalar(select(CommandRow.id).where(CommandRow.kind == "pause").order_by(CommandRow.id.desc())
                        .limit(1)) == again.command_id


def test_a_repeated_pause_that_still_cancels_entries_says_what_it_did(ctx) -> None:  # type: ignore[no-untyped-def]
    from webapp.control_actions import describe

    control.perform(ctx, "bob", "pause", reason="p", execute="here")
    place_resting_orders(ctx, 2, "late")  # entries that appeared while REDUCING (buy limits, no position)
    again = control.perform(ctx, "bob", "pause", reason="p again", execute="here")
    assert describe(again) == ("pause: trading was already REDUCING (entries paused); the state is unchanged. "
                               "cancelled 2 order(s) that would add exposure; exits kept.", "secondary")
    assert ctx.broker.list_open_orders() == []


def test_a_resume_that_changes_nothing_says_so(ctx) -> None:  # type: ignore[no-untyped-def]
    from webapp.control_actions import describe

    again = control.perform(ctx, "bob", "resume", reason="r", execute="here")
    assert describe(again) == ("resume: trading was already ACTIVE; nothing changed.", "secondary")
    assert audit_outcomes(ctx.store, "control.resume") == ["requested"]
    assert audit_outcomes(ctx.store, "control.resume.result") == ["ok"]


def test_a_viewer_cannot_flatten_and_nothing_changes(ctx) -> None:  # type: ignore[no-untyped-def]
    open_position(ctx, "AAA", 10)
    place_resting_orders(ctx, 2)
    result = control.perform(ctx, "web:vic", "halt", reason="x", flatten=True, roles={"viewer"}, execute="here")
    assert result.status == "refused"
    assert result.message == ("closing positions needs the trader role; press Halt without it. Nothing changed: "
                              "halt with flatten needs the trader role and web:vic has viewer")
    assert state_of(ctx.store) is TradingState.ACTIVE
    assert len(ctx.broker.list_open_orders()) == 2
    assert {p.symbol: p.qty for p in ctx.broker.get_positions()} == {"AAA": Decimal(10)}
    assert audit_outcomes(ctx.store, "control.halt") == ["refused"]
    halted = control.perform(ctx, "web:vic", "halt", reason="x", roles={"viewer"}, execute="here")
    assert halted.status == "done" and state_of(ctx.store) is TradingState.HALTED
    assert {p.symbol: p.qty for p in ctx.broker.get_positions()} == {"AAA": Decimal(10)}  # positions stay


# ---- through the web app ------------------------------------------------------------------------------------
@pytest.fixture
def web_app(test_settings, any_db_url):  # type: ignore[no-untyped-def]
    from app import create_app
    from engine.clock import utcnow

    app = create_app(test_settings(database_url=any_db_url, warmup_polls=20), start_engine=False)
    app.server.test_client().get("/login")
    with store_of(app).write() as s:
        ts.ensure_state(s, utcnow())
    beat(store_of(app), utcnow())
    return app


def store_of(app: Any) -> Any:
    from webapp.context import EXTENSION_KEY

    return app.server.extensions[EXTENSION_KEY].store


def set_state(app: Any, to: TradingState) -> None:
    from engine.clock import utcnow

    with store_of(app).write() as s:
        ts.change(s, utcnow(), to, "test", "set by the test")


def response_of(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_json()["response"]


@pytest.mark.parametrize(("button", "action", "words", "lands"), [
    ("trading-pause-button", "pause", PAUSE_WORDS, TradingState.REDUCING),
    ("trading-resume-button", "resume", RESUME_WORDS, TradingState.ACTIVE)])
def test_pause_or_resume_from_halted_opens_the_dialog_and_only_its_confirm_lifts_the_halt(
        web_app, button: str, action: str, words: str, lands: TradingState) -> None:  # type: ignore[no-untyped-def]
    from engine.clock import utcnow

    set_state(web_app, TradingState.HALTED)
    trader = login_client(web_app, "trader")
    deps = wr.dependencies(trader)
    click = wr.find(deps, "trading-lift-modal.is_open", button)
    out = response_of(wr.call(trader, click, {f"{button}.n_clicks": 1, "trading-reason-input.value": "calm again"},
                              trigger=f"{button}.n_clicks"))
    assert out["trading-lift-modal"]["is_open"] is True
    assert out["trading-lift-body"]["children"] == words
    assert out["trading-lift-action"]["data"] == action
    assert state_of(store_of(web_app)) is TradingState.HALTED  # the click alone changed nothing
    confirm = wr.find(deps, "trading-lift-modal.is_open", "trading-lift-confirm")
    cancel = response_of(wr.call(trader, confirm, {"trading-lift-cancel.n_clicks": 1, "trading-lift-action.data": action},
                                 trigger="trading-lift-cancel.n_clicks"))
    assert cancel["trading-lift-modal"]["is_open"] is False
    assert state_of(store_of(web_app)) is TradingState.HALTED
    beat(store_of(web_app), utcnow())
    done = response_of(wr.call(trader, confirm, {"trading-lift-confirm.n_clicks": 1, "trading-lift-action.data": action,
                                                 "trading-lift-halt.data": out["trading-lift-halt"]["data"],
                                                 "trading-reason-input.value": "calm again"},
                               trigger="trading-lift-confirm.n_clicks"))
    assert done["trading-lift-modal"]["is_open"] is False
    assert f"{action} done." in str(done["trading-action-result"]["children"])
    assert state_of(store_of(web_app)) is lands
    with store_of(web_app).read() as s:
        row = s.scalars(select(TradingStateRow)).one()
        assert (row.previous_state, row.changed_by, row.reason) == ("HALTED", "web:trader", "calm again")


def test_pause_from_active_acts_at_once_without_a_dialog(web_app) -> None:  # type: ignore[no-untyped-def]
    trader = login_client(web_app, "trader")
    click = wr.find(wr.dependencies(trader), "trading-lift-modal.is_open", "trading-pause-button")
    out = response_of(wr.call(trader, click, {"trading-pause-button.n_clicks": 1}, trigger="trading-pause-button.n_clicks"))
    assert out["trading-lift-modal"]["is_open"] is False
    assert "pause done. Trading is now REDUCING (entries paused)." in str(out["trading-action-result"]["children"])
    assert state_of(store_of(web_app)) is TradingState.REDUCING
    again = response_of(wr.call(trader, click, {"trading-pause-button.n_clicks": 2},
                                trigger="trading-pause-button.n_clicks"))
    assert "pause: trading was already REDUCING (entries paused); nothing changed." in str(
        again["trading-action-result"]["children"])


def test_close_position_while_halted_names_the_check_once_and_points_to_flatten(web_app) -> None:  # type: ignore[no-untyped-def]
    from engine.auth import principal
    from engine.clock import utcnow
    from webapp.trading_close import close_position

    with store_of(web_app).write() as s:
        s.add(PositionRow(symbol="BRVO", qty=Decimal(1252), avg_entry_price=Decimal(10), market_price=Decimal(10),
                          unrealized_pnl=Decimal(0), updated_at=utcnow()))
    set_state(web_app, TradingState.HALTED)
    with web_app.server.test_request_context("/"), principal.acting_as(principal.Principal("tess", "trader", "1.2.3.4")):
        accepted, message = close_position("BRVO", "1252", "nonce-1")
    assert not accepted
    assert message == ("Rejected: sell 1,252 BRVO at market: trading_state: trading is HALTED: no orders are sent; only "
                       "an operator's explicit flatten is allowed. To exit while HALTED, use the kill switch with "
                       "'close all positions' (flatten) ticked, or resume trading first")
    with store_of(web_app).read() as s:
        assert s.scalars(select(OrderRow.status).where(OrderRow.symbol == "BRVO")).all() == ["rejected"]


@pytest.mark.parametrize("page", ["banner", "trading"])
def test_a_viewers_kill_switch_hides_the_flatten_box_and_a_forged_flatten_is_refused(web_app, page: str) -> None:  # type: ignore[no-untyped-def]
    from components.banner import banner
    from components.ids import banner as banner_ids
    from components.ids import trading as trading_ids

    box = banner_ids.KILL_FLATTEN if page == "banner" else trading_ids.KILL_FLATTEN
    if page == "banner":
        for can, hidden in [(False, True), (True, None)]:
            found = _find_parent(banner(can_flatten=can), box)
            assert found is not None
            checkbox, parent = found
            assert checkbox.disabled is (not can) and checkbox.value is False
            assert getattr(parent, "hidden", None) is hidden
            assert checkbox.label == "Also close all positions (flatten, market orders)"
    viewer = login_client(web_app, "viewer")
    result = ("banner-kill-result.children" if page == "banner" else "trading-action-result.children")
    confirm = banner_ids.KILL_CONFIRM if page == "banner" else trading_ids.KILL_CONFIRM
    dep = wr.find(wr.dependencies(viewer), result, confirm)
    out = response_of(wr.call(viewer, dep, {f"{confirm}.n_clicks": 1, f"{box}.value": True},
                              trigger=f"{confirm}.n_clicks"))
    assert "closing positions needs the trader role; press Halt without it. Nothing changed" in str(out)
    assert state_of(store_of(web_app)) is TradingState.ACTIVE
    out = response_of(wr.call(viewer, dep, {f"{confirm}.n_clicks": 1, f"{box}.value": False},
                              trigger=f"{confirm}.n_clicks"))
    assert state_of(store_of(web_app)) is TradingState.HALTED


def _find_parent(node: Any, ident: str, parent: Any = None) -> tuple[Any, Any] | None:
    """(component with this id, its parent) in a Dash component tree."""
    if getattr(node, "id", None) == ident:
        return node, parent
    children = getattr(node, "children", None)
    for child in children if isinstance(children, list | tuple) else [children]:
        if child is not None and not isinstance(child, str | int | float):
            found = _find_parent(child, ident, node)
            if found is not None:
                return found
    return None
