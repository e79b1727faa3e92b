"""Self-tuning on the pages (issue 16): the PerformanceMetrics scorecard (Regime page; its /metrics series
live in webapp/tuning_metrics.py), tuning proposals with approve / reject and the walk-forward validation
table of any version (Parameters page). Everything here reads what the engine stored, or calls engine/tuning.
A version's validation runs the engine's backtests per fold (minutes), so it is a background callback with
progress and cancel; a proposal's table is the one its tuning run stored (also by backtest)."""
from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update

from components.ids import parameters as parameters_ids
from components.ids import regime as regime_ids
from components.tables import header_words
from engine.auth.roles import Role
from engine.backtest.inputs import BacktestCancelled
from engine.params.versions import list_versions
from engine.store.queries import index_symbol as stored_index_symbol
from engine.tuning import proposals
from engine.tuning.live import stored_scorecard
from engine.tuning.scorecard import UNITS as SCORECARD_UNITS  # older stored cards carry no unit
from engine.tuning.validation import ValidationReport
from engine.tuning.version_check import VersionCheckError, validate_version
from webapp.auth.access import requires, role_gate
from webapp.background import job_store
from webapp.context import get_context
from webapp.control_actions import web_actor
from webapp.form_ids import FormIdError, parse_id
from webapp.inputs import is_click
from webapp.wiring import Callbacks

regime_callbacks = Callbacks()  # registered by pages/regime.py for each new app
parameters_callbacks = Callbacks()  # registered by pages/parameters.py for each new app
STATUS_CLASS = {"target": "text-success", "acceptable": "text-body", "below acceptable": "text-warning",
                "outside acceptable": "text-warning", "critical": "text-danger", "not measured": "text-muted"}


VALIDATION_HEADERS = {"buy_hold": "Buy & hold return", "buy_hold_score": "Buy & hold score",
                      "current": "Current score", "candidate": "Candidate score"}  # others: header_words
SCORE_COLUMNS = ("buy_hold_score",)  # shown when the report has them (backtest validations)


def _num(v: object, pct: bool = False) -> str:
    """A measured number (Python, numpy or JSON text); "–" when nothing was measured or it is not a number."""
    if isinstance(v, numbers.Real) and not isinstance(v, bool):
        x = float(v)
    elif isinstance(v, str):
        try:
            x = float(v)
        except ValueError:
            return "–"
    else:
        return "–"
    return f"{x:.1%}" if pct else f"{x:.4g}"


# --- Regime page: the scorecard ----------------------------------------------------------------------
def scorecard_card() -> dbc.Card:
    return dbc.Card(dbc.CardBody([html.H6("Performance scorecard (workbook PerformanceMetrics)"),
                                  html.Div("no scorecard measured yet", id=regime_ids.SCORECARD,
                                           className="text-muted small")]), className="mb-2")


def _levels(m: dict[str, Any]) -> tuple[str, str, str]:
    """Target, acceptable and critical cells; a band metric (graded by distance from the target on both
    sides) shows its acceptable band and its critical limits on both sides."""
    if not m.get("band"):
        return _num(m["target"]), _num(m["acceptable"]), _num(m["critical"])
    try:
        t, a, c = float(m["target"]), abs(float(m["target"]) - float(m["acceptable"])), \
            abs(float(m["target"]) - float(m["critical"]))
    except (TypeError, ValueError):
        return _num(m["target"]), _num(m["acceptable"]), _num(m["critical"])
    return _num(t), f"{_num(t - a)}–{_num(t + a)}", f"≤ {_num(t - c)} or ≥ {_num(t + c)}"


def scorecard_table(card: dict[str, Any] | None) -> html.Div:
    """The stored scorecard: each metric with its unit, live value, levels, grade and status."""
    if not card:
        return html.Div("no scorecard measured yet (the engine's tuning job measures it every minute)",
                        className="text-muted small")
    head = html.Tr([html.Th(h) for h in ("Metric", "Unit", "Live", "Target", "Acceptable", "Critical", "Weight",
                                         "Grade", "Status")])
    body = []
    for m in card["metrics"]:
        unit = m.get("unit") or SCORECARD_UNITS.get(m["metric"], "")
        body.append(html.Tr([html.Td(m["metric"]), html.Td(unit), html.Td(_num(m["value"])),
                             *[html.Td(x) for x in _levels(m)], html.Td(_num(m["weight"])),
                             html.Td(_num(m["grade"], pct=True)),
                             html.Td(m["status"] + (f" ({m['reason']})" if m.get("reason") else ""),
                                     className=STATUS_CLASS.get(m["status"], ""))]))
    overall = card.get("overall")
    note = html.Div("Band metrics (daily_transitions) are graded by distance from the target on both sides: "
                    "100% inside the acceptable band, 0% at the critical limits.", className="text-muted small mt-1")
    return html.Div([
        html.Div(f"Overall score {_num(overall, pct=True)} (weighted over the measured metrics), measured "
                 f"{card['ts']:%Y-%m-%d %H:%M} UTC", id=regime_ids.SCORECARD_OVERALL, className="fw-semibold mb-1"),
        dbc.Table([html.Thead(head), html.Tbody(body)], size="sm", bordered=False, className="small mb-0"),
        note if any(m.get("band") for m in card["metrics"]) else None])


@regime_callbacks(Output(regime_ids.SCORECARD, "children"), Input(regime_ids.STATS_INTERVAL, "n_intervals"))
@requires(Role.VIEWER)
def refresh_scorecard(_n: int | None) -> html.Div:
    with get_context().store.read() as s:
        return scorecard_table(stored_scorecard(s))


def register_regime_callbacks() -> None:
    """Called by pages/regime.py each time Dash executes it for a new app (dash.callback registrations are
    consumed by the app being built, so a plain import would serve only the first app)."""
    regime_callbacks.register()


# --- Parameters page: proposals and validation -------------------------------------------------------
def validation_table(report: ValidationReport | dict[str, Any]) -> html.Div:
    d: dict[str, Any] = report.to_dict() if isinstance(report, ValidationReport) else report
    folds: list[dict[str, Any]] = d.get("folds") or []
    if not folds:
        return html.Div(str(d.get("note") or "no validation folds"), className="text-muted small")
    cols = tuple(c for c in ("fold", "start", "end", "bars", "current", "candidate", "buy_hold_score",
                             "current_return", "candidate_return", "buy_hold", "cash")
                 if c not in SCORE_COLUMNS or c in folds[0])
    source = str(d.get("source") or "regime replay")
    what = (f"Walk-forward validation by {source}: each fold's score is the {d.get('measure') or 'objective'} "
            "of that fold's run" + (" (the engine's backtest of each version, same bars, preset and cash)"
                                    if source == "backtest" else ""))
    rows = [html.Tr([html.Td(str(f[c])[:16] if c in ("start", "end") else
                             _num(f[c], pct=c.endswith("return") or c in ("buy_hold", "cash")) if c not in
                             ("fold", "bars") else str(f[c])) for c in cols]) for f in folds]
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
    ]), className="mt-2")


def proposals_table(views: list[proposals.ProposalView]) -> html.Div:
    if not views:
        return html.Div("no tuning run yet", className="text-muted")
    head = html.Tr([html.Th(h) for h in ("#", "Created", "On version", "Status", "Changes", "Why", "Decided by")])
    body = [html.Tr([html.Td(v.id), html.Td(f"{v.created_at:%Y-%m-%d %H:%M}"), html.Td(v.base_version_id or "–"),
                     html.Td(v.status), html.Td("; ".join(v.changes)), html.Td(v.reason),
                     html.Td(v.decided_by or "")]) for v in views]
    return dbc.Table([html.Thead(head), html.Tbody(body)], size="sm", className="small mb-1")


def refresh_proposals(_msg: object) -> tuple[html.Div, list[dict[str, Any]], list[dict[str, Any]]]:
    store = get_context().store
    views = proposals.list_proposals(store)
    with store.read() as s:
        versions = list_versions(s, limit=50)
    pending = [{"label": f"#{v.id}: {'; '.join(v.changes)[:60]}", "value": v.id} for v in views if v.status == "pending"]
    return (proposals_table(views), pending,
            [{"label": f"v{v.id} {v.source} by {v.author}", "value": v.id} for v in versions if v.parent_id])


def decide(_approve: int | None, _reject: int | None, pid: int | None) -> html.Span:
    if pid is None or pid == "":
        return html.Span("choose a pending proposal first", className="text-warning")
    store, actor = get_context().store, web_actor()
    try:
        proposal = parse_id(pid, "the pending proposal", "proposal")
        if dash.ctx.triggered_id == parameters_ids.TUNING_APPROVE:
            vid = proposals.approve(store, proposal, actor)
            return html.Span(f"proposal {proposal} applied as version {vid}", className="text-success")
        proposals.reject(store, proposal, actor)
        return html.Span(f"proposal {proposal} rejected", className="text-body")
    except (FormIdError, proposals.ProposalError) as exc:
        return html.Span(str(exc), className="text-danger")


def show_proposal_validation(pid: object) -> html.Div | Any:
    """The validation table a proposal's tuning run stored."""
    if pid is None:
        return no_update
    view = next((v for v in proposals.list_proposals(get_context().store, 200) if v.id == pid), None)
    return validation_table(view.validation) if view is not None else html.Div(
        f"tuning proposal {str(pid)[:20]} does not exist", className="text-danger small")


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
        with store.read() as s:
            symbol = stored_index_symbol(s)
        if symbol is None:
            return html.Div("no index instrument stored yet: nothing to validate on", className="text-danger small")
        try:
            report = validate_version(store, version, symbol,
                                      progress=lambda f, text: set_progress((max(1.0, 100 * f), f"{text} {f:.0%}")))
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
def _decide(approve: int | None, reject: int | None, pid: int | None) -> html.Span:
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
