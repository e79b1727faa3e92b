"""The PerformanceMetrics scorecard on the Regime page (issue 16; its /metrics series live in
webapp/tuning_metrics.py), read from what the engine's tuning job stored. Split from webapp/tuning_views.py
(which re-exports it for pages/regime.py) to keep each module small; `num` is the number format both use."""
from __future__ import annotations

import numbers
from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, html

from components.ids import regime as regime_ids
from engine.auth.roles import Role
from engine.tuning.live import stored_scorecard
from engine.tuning.scorecard import UNITS as SCORECARD_UNITS  # older stored cards carry no unit
from webapp.auth.access import requires
from webapp.context import get_context
from webapp.wiring import Callbacks

regime_callbacks = Callbacks()  # registered by pages/regime.py for each new app
STATUS_CLASS = {"target": "text-success", "acceptable": "text-body", "below acceptable": "text-warning",
                "outside acceptable": "text-warning", "critical": "text-danger", "not measured": "text-muted"}


def num(v: object, pct: bool = False) -> str:
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
        return num(m["target"]), num(m["acceptable"]), num(m["critical"])
    try:
        t, a, c = float(m["target"]), abs(float(m["target"]) - float(m["acceptable"])), \
            abs(float(m["target"]) - float(m["critical"]))
    except (TypeError, ValueError):
        return num(m["target"]), num(m["acceptable"]), num(m["critical"])
    return num(t), f"{num(t - a)}–{num(t + a)}", f"≤ {num(t - c)} or ≥ {num(t + c)}"


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
        body.append(html.Tr([html.Td(m["metric"]), html.Td(unit), html.Td(num(m["value"])),
                             *[html.Td(x) for x in _levels(m)], html.Td(num(m["weight"])),
                             html.Td(num(m["grade"], pct=True)),
                             html.Td(m["status"] + (f" ({m['reason']})" if m.get("reason") else ""),
                                     className=STATUS_CLASS.get(m["status"], ""))]))
    overall = card.get("overall")
    note = html.Div("Band metrics (daily_transitions) are graded by distance from the target on both sides: "
                    "100% inside the acceptable band, 0% at the critical limits.", className="text-muted small mt-1")
    return html.Div([
        html.Div(f"Overall score {num(overall, pct=True)} (weighted over the measured metrics), measured "
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
