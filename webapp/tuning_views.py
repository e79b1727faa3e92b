"""Self-tuning on the pages (issue 16): the PerformanceMetrics scorecard (Regime page: webapp/tuning_scorecard.py,
re-exported here), tuning proposals with approve / reject and the walk-forward validation
table of any version (Parameters page). Everything here reads what the engine stored, or calls engine/tuning.
A version's validation runs the engine's backtests per fold (minutes), so it is a background callback with
progress and cancel; a proposal's table is the one its tuning run stored (also by backtest). The job stamps a
heartbeat on its stored record (engine/tuning/validation_runs.py), so the page's watch
(webapp/tuning_validation_watch.py) says when its worker was killed instead of waiting or going quiet."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update
from sqlalchemy import select

from components.ids import parameters as parameters_ids
from components.tables import header_words
from engine.auth.roles import Role
from engine.backtest.inputs import BacktestCancelled
from engine.params.errors import ValidationError
from engine.params.versions import list_versions
from engine.store.keyvalue import get_value
from engine.store.models import ParamVersion
from engine.store.queries import index_symbol as stored_index_symbol
from engine.tuning import proposals, validation_runs
from engine.tuning.job import LAST_RUN_KEY
from engine.tuning.validation import ValidationReport
from engine.tuning.version_check import VersionCheckError, validate_version
from webapp.auth.access import requires, role_gate
from webapp.background import job_store
from webapp.context import get_context
from webapp.control_actions import web_actor
from webapp.form_ids import FormIdError, parse_id
from webapp.inputs import is_click
from webapp.tuning_scorecard import num as _num
from webapp.tuning_scorecard import (  # noqa: F401 - re-exported: pages/regime.py and tests use them from here
    register_regime_callbacks,
    scorecard_card,
    scorecard_table,
)
from webapp.tuning_validation_watch import watch_callbacks, watch_components
from webapp.wiring import Callbacks

parameters_callbacks = Callbacks()  # registered by pages/parameters.py for each new app


VALIDATION_HEADERS = {"buy_hold": "Buy & hold return", "buy_hold_score": "Buy & hold score",
                      "current": "Current score", "candidate": "Candidate score"}  # others: header_words


# --- Parameters page: proposals and validation -------------------------------------------------------
def validation_table(report: ValidationReport | dict[str, Any]) -> html.Div:
    d: dict[str, Any] = report.to_dict() if isinstance(report, ValidationReport) else report
    folds: list[dict[str, Any]] = d.get("folds") or []
    if not folds:
        return html.Div(str(d.get("note") or "no validation folds"), className="text-muted small")
    cols = tuple(c for c in ("fold", "start", "end", "bars", "current", "candidate", "buy_hold_score",
                             "current_return", "candidate_return", "buy_hold", "cash")
                 if c in folds[0])  # a table stored by an older run may lack some (it raised KeyError)
    source = str(d.get("source") or "regime replay")
    what = (f"Walk-forward validation by {source}: each fold's score is the {d.get('measure') or 'objective'} "
            "of that fold's run" + (" (the engine's backtest of each version, same bars, preset and cash)"
                                    if source == "backtest" else ""))
    rows = [html.Tr([html.Td(str(f.get(c))[:16] if c in ("start", "end") else
                             _num(f.get(c), pct=c.endswith("return") or c in ("buy_hold", "cash")) if c not in
                             ("fold", "bars") else str(f.get(c))) for c in cols]) for f in folds]
    tests = [html.Li(f"vs {c['against']} ({c['measure']}): mean difference {_num(c['mean_diff'])}, "
                     f"p = {_num(c['p_value'])} → {'significant' if c['significant'] else 'not significant'}")
             for c in (d.get("comparisons") or [])]
    return html.Div([
        html.Div(what, className="small text-muted mb-1"),
        dbc.Table([html.Thead(html.Tr([html.Th(VALIDATION_HEADERS.get(c) or header_words(c)) for c in cols])),
                   html.Tbody(rows)],
                  size="sm", className="small mb-1"),
        html.Div(f"out-of-sample gain of the {source} objective: {_num(d.get('gain'), pct=True)}"
                 + (f"; {d['note']}" if d.get("note") else ""), className="small"),
        html.Ul(tests, className="small mb-0")])


def tuning_card() -> dbc.Card:
    return dbc.Card(dbc.CardBody([
        html.H6("Self-tuning: proposals and walk-forward validation"),
        html.Div("A tuning run searches with cheap regime replays (its trials) and proposes a candidate only when "
                 "the engine's backtests of it and of the current version on the held-out folds show the "
                 "AdaptiveTuning target_improvement; any version can be validated the same way against the "
                 "version before it (a few minutes: backtests of every fold).", className="small text-muted"),
        html.Div(id=parameters_ids.TUNING_PROPOSALS, className="small"),
        dbc.Row([
            dbc.Col(dcc.Dropdown(id=parameters_ids.TUNING_PROPOSAL, placeholder="pending proposal…"), md=4),
            dbc.Col([dbc.Button("Approve", id=parameters_ids.TUNING_APPROVE, color="success", size="sm",
                                className="me-1", **role_gate(Role.ADMIN)),
                     dbc.Button("Reject", id=parameters_ids.TUNING_REJECT, color="secondary", size="sm",
                                **role_gate(Role.ADMIN))], md=3),
            dbc.Col(dcc.Dropdown(id=parameters_ids.TUNING_VERSION, placeholder="validate a version…"), md=3),
            dbc.Col([dbc.Button("Validate by backtest", id=parameters_ids.TUNING_VALIDATE, size="sm",
                                className="me-1", **role_gate(Role.TRADER)),
                     dbc.Button("Cancel", id=parameters_ids.TUNING_CANCEL, size="sm", color="secondary",
                                disabled=True)], md=2),
        ], className="g-1 my-1"),
        html.Div(dbc.Progress(id=parameters_ids.TUNING_PROGRESS, value=0, label="", className="my-1"),
                 id=parameters_ids.TUNING_PROGRESS_WRAP, style={"display": "none"}),
        html.Div(id=parameters_ids.TUNING_MESSAGE, className="small"),
        dcc.Loading(html.Div(id=parameters_ids.TUNING_VALIDATION)),
        *watch_components(),  # says so when the validation's worker stops without a word
    ]), className="mt-2")


def proposals_table(views: list[proposals.ProposalView]) -> html.Div:
    if not views:
        return html.Div("no tuning run yet", className="text-muted")
    head = html.Tr([html.Th(h) for h in ("#", "Created", "On version", "Status", "Changes", "Why", "Decided by")])
    body = [html.Tr([html.Td(v.id), html.Td(f"{v.created_at:%Y-%m-%d %H:%M}"), html.Td(v.base_version_id or "–"),
                     html.Td(v.status), html.Td("; ".join(v.changes)), html.Td(v.reason),
                     html.Td(v.decided_by or "")]) for v in views]
    return dbc.Table([html.Thead(head), html.Tbody(body)], size="sm", className="small mb-1")


def last_run_line(last: dict[str, Any] | None) -> html.Div:
    """The engine's newest scheduled tuning run and its outcome (skipped, cancelled, failed or a proposal). Why:
    a run that stores no proposal (too few bars, a failover, an error) left the page silent about it."""
    if not last or not last.get("ts"):
        return html.Div("no scheduled tuning run yet", className="text-muted small mb-1")
    try:
        when = f"{datetime.fromisoformat(str(last['ts'])).astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    except ValueError:
        when = str(last["ts"])[:25]
    return html.Div(f"Last scheduled tuning run: {when}: {str(last.get('outcome') or '')[:300]}",
                    className="small mb-1")


def refresh_proposals(_msg: object) -> tuple[html.Div, list[dict[str, Any]], list[dict[str, Any]]]:
    store = get_context().store
    waiting = proposals.pending_proposals(store)  # whatever their age: newer runs push them out of the newest 20
    newest = proposals.list_proposals(store)
    shown = {v.id for v in newest}
    views = sorted(newest + [v for v in waiting if v.id not in shown], key=lambda v: -v.id)
    with store.read() as s:
        versions = list_versions(s, limit=50)
        last = get_value(s, LAST_RUN_KEY)
        active = s.scalar(select(ParamVersion.id).where(ParamVersion.is_active.is_(True))
                          .order_by(ParamVersion.id.desc()).limit(1))
    pending = [{"label": f"#{v.id}: {'; '.join(v.changes)[:60]}" + (
        "" if v.base_version_id == active else f" (made on v{v.base_version_id}, not the active v{active}: "
                                               "approval is refused)"), "value": v.id} for v in waiting]
    return (html.Div([last_run_line(last), proposals_table(views)]), pending,
            [{"label": f"v{v.id} {v.source} by {v.author}", "value": v.id} for v in versions if v.parent_id])


def decide(approve: object, reject: object, pid: int | None) -> html.Span | Any:
    """Approve or reject on a click of that button only: a request naming neither (forged, or a re-render) decides
    nothing (it rejected the proposal before)."""
    clicked = dash.ctx.triggered_id
    if (clicked, is_click(approve)) != (parameters_ids.TUNING_APPROVE, True) and \
            (clicked, is_click(reject)) != (parameters_ids.TUNING_REJECT, True):
        return no_update
    if pid is None or pid == "":
        return html.Span("choose a pending proposal first", className="text-warning")
    store, actor = get_context().store, web_actor()
    try:
        proposal = parse_id(pid, "the pending proposal", "proposal")
        if clicked == parameters_ids.TUNING_APPROVE:
            vid = proposals.approve(store, proposal, actor)
            return html.Span(f"proposal {proposal} applied as version {vid}", className="text-success")
        proposals.reject(store, proposal, actor)
        return html.Span(f"proposal {proposal} rejected", className="text-body")
    except (FormIdError, proposals.ProposalError) as exc:
        return html.Span(str(exc), className="text-danger")
    except ValidationError as exc:  # stored under an older schema: still pending, the refusal audited
        first = str(exc.issues[0]) if exc.issues else str(exc)
        return html.Span(f"proposal {pid} no longer passes the parameter rules ({first}); nothing was applied: "
                         "reject it and let the tuning run again on the active version", className="text-danger")


def show_proposal_validation(pid: object) -> html.Div | Any:
    """The validation table a proposal's tuning run stored."""
    if pid is None:
        return no_update
    try:
        number = parse_id(pid, "the pending proposal", "proposal")
    except FormIdError as exc:
        return html.Div(str(exc), className="text-danger small")
    view = proposals.get_proposal(get_context().store, number)  # any age (it looked among the newest 200 only)
    return validation_table(view.validation) if view is not None else html.Div(
        f"tuning proposal {number} does not exist", className="text-danger small")


def run_validation(set_progress: Callable[[tuple[float, str]], None], n: object, version_id: object) -> html.Div | Any:
    """In a background job: the backtest validation of a stored version against its parent."""
    if not is_click(n):
        return no_update
    if version_id is None or version_id == "":
        return html.Div("choose a version to validate", className="text-warning small")
    try:
        version = parse_id(version_id, "the version to validate", "version")
    except FormIdError as exc:
        return html.Div(str(exc), className="text-danger small")
    set_progress((1, "reading the stored history…"))
    with job_store() as store:
        try:
            with validation_runs.tracked(store, version):  # its heartbeat: the page's watch tells a killed worker
                with store.read() as s:
                    symbol = stored_index_symbol(s)
                if symbol is None:
                    return html.Div("no index instrument stored yet: nothing to validate on",
                                    className="text-danger small")
                report = validate_version(store, version, symbol, progress=lambda f, text: set_progress(
                    (max(1.0, 100 * f), f"{text} {f:.0%}")))
        except VersionCheckError as exc:
            return html.Div(str(exc), className="text-danger small")
        except BacktestCancelled as exc:
            return html.Div(str(exc), className="text-warning small")
    set_progress((100, "done"))
    return validation_table(report)


@parameters_callbacks(Output(parameters_ids.TUNING_PROPOSALS, "children"), Output(parameters_ids.TUNING_PROPOSAL, "options"),
                      Output(parameters_ids.TUNING_VERSION, "options"), Input(parameters_ids.TUNING_MESSAGE, "children"))
@requires(Role.VIEWER)
def _refresh(msg: object) -> tuple[html.Div, list[dict[str, Any]], list[dict[str, Any]]]:
    return refresh_proposals(msg)


@parameters_callbacks(Output(parameters_ids.TUNING_MESSAGE, "children"),
                      Input(parameters_ids.TUNING_APPROVE, "n_clicks"), Input(parameters_ids.TUNING_REJECT, "n_clicks"),
                      State(parameters_ids.TUNING_PROPOSAL, "value"), prevent_initial_call=True)
@requires(Role.ADMIN)
def _decide(approve: object, reject: object, pid: int | None) -> html.Span | Any:
    return decide(approve, reject, pid)


@parameters_callbacks(Output(parameters_ids.TUNING_VALIDATION, "children", allow_duplicate=True),
                      Input(parameters_ids.TUNING_PROPOSAL, "value"), prevent_initial_call=True)
@requires(Role.VIEWER)
def _proposal_validation(pid: object) -> html.Div | Any:
    return show_proposal_validation(pid)


@parameters_callbacks(
    Output(parameters_ids.TUNING_VALIDATION, "children"), Input(parameters_ids.TUNING_VALIDATE, "n_clicks"),
    State(parameters_ids.TUNING_VERSION, "value"),
    background=True,
    progress=[Output(parameters_ids.TUNING_PROGRESS, "value"), Output(parameters_ids.TUNING_PROGRESS, "label")],
    progress_default=[0, ""],
    running=[(Output(parameters_ids.TUNING_VALIDATE, "disabled"), True, False),
             (Output(parameters_ids.TUNING_CANCEL, "disabled"), False, True),
             (Output(parameters_ids.TUNING_PROGRESS_WRAP, "style"), {"display": "block"}, {"display": "none"})],
    cancel=[Input(parameters_ids.TUNING_CANCEL, "n_clicks")],
    interval=500,
    prevent_initial_call=True,
)
@requires(Role.TRADER)  # it runs backtests, which traders run (the Backtest page)
def _validation(set_progress: Callable[[tuple[float, str]], None], n: object, version_id: object) -> html.Div | Any:
    return run_validation(set_progress, n, version_id)


def register_parameters_callbacks() -> None:
    """Called by pages/parameters.py for each new app (see register_regime_callbacks)."""
    parameters_callbacks.register()
    watch_callbacks.register()
