"""Regime page factories for the ensemble's verdict, the regime dynamics and the reliability diagram.
Plain data in, components out; no data access."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import html

from components.charts import LAYOUT, empty_figure
from components.ids import regime as ids
from components.regime_inputs_views import momentum_text

STATUS_TEXT = {"agree": ("agrees with the rules", "success"),
               "ensemble": ("firm, differs from the rules (conflict_resolution decides)", "info"),
               "rules": ("rules stand (ensemble not firm)", "secondary"), "uncertain": ("uncertain", "warning")}


def _pct(x: Any) -> str:
    return "—" if x is None else f"{float(x) * 100:.0f}%"


def ensemble_card(verdict: Mapping[str, Any] | None, names: Mapping[int, str], model: Mapping[str, Any] | None,
                  effective: Mapping[str, Any] | None = None, enabled: bool = True) -> Any:
    """The newest snapshot's ensemble verdict, its dynamics figures and the model in force; `effective` is the
    regime the engine acts on (after conflict_resolution), shown as the engine's answer when given. `enabled`:
    the parameters in force turn the ensemble on (off: no model is ever fitted, so none is awaited)."""
    if not verdict:
        why = ("the ensemble is off in the parameters in force (EnsembleMethods ensemble_enabled): the rule-based "
               "regime stands alone and no model is fitted" if not enabled
               else "no ensemble model fitted yet for the parameters in force (the refit job fits one once enough "
               "bars are stored)" if model is None
               else "the newest classification has no ensemble verdict yet")
        return html.Div(why, className="small text-muted", id=ids.ENSEMBLE_EMPTY)
    text, colour = STATUS_TEXT.get(str(verdict.get("status")), (str(verdict.get("status")), "secondary"))
    answer = effective.get("regime_id") if effective else verdict.get("regime_id")
    votes = ", ".join(f"{m} {names.get(int(v), v)}" for m, v in (verdict.get("votes") or {}).items())
    weights = ", ".join(f"{m} {float(w):.2f}" for m, w in (verdict.get("weights") or {}).items())
    dyn = verdict.get("dynamics") or {}
    lines = [
        html.Div([dbc.Badge(text, color=colour, className="me-2", id=ids.ENSEMBLE_STATUS),
                  html.Span("engine answer: " + (names.get(int(answer), str(answer)) if answer is not None
                                                 else "no regime (uncertain)"), className="fw-semibold")]),
        html.Div(f"ensemble says {names.get(int(verdict['ensemble_regime_id']), verdict['ensemble_regime_id'])} at "
                 f"{_pct(verdict.get('confidence'))} (calibrated {_pct(verdict.get('calibrated_confidence'))}, "
                 f"{verdict.get('calibration')}); disagreement {_pct(verdict.get('disagreement'))}, "
                 f"uncertainty {_pct(verdict.get('uncertainty'))}", className="small"),
        html.Div(str(verdict.get("reason") or ""), className="small text-muted"),
        html.Div(f"votes: {votes}", className="small"), html.Div(f"weights: {weights}", className="small"),
    ]
    if dyn:
        exp = dyn.get("expected_bars")
        lines.append(html.Div(
            f"leaving within {dyn.get('leave_within_bars')} bars: {_pct(dyn.get('leave_probability'))}; stability "
            f"{_pct(dyn.get('stability_score'))} ({'stable' if dyn.get('stable') else 'below the minimum'}); "
            f"entropy {_pct(dyn.get('entropy'))}; {momentum_text(dyn)}age {dyn.get('age_bars')} bars"
            + (f" of ~{float(exp):.0f} expected" if exp is not None else ""), className="small",
            id=ids.ENSEMBLE_DYNAMICS))
    if model is not None:
        clus = ((model.get("metrics") or {}).get("dynamics") or {}).get("volatility_clustering") or {}
        lines.append(html.Div(
            f"model {model['id']} ({model['method']}) fitted on {model['n_rows']:,} bars "
            f"{model['data_start']:%Y-%m-%d %H:%M} – {model['data_end']:%Y-%m-%d %H:%M} in {model['fit_seconds']:.1f} s, "
            f"parameter version {model['param_version_id'] or 'defaults'}"
            + (f"; volatility clustering {'yes' if clus.get('clustered') else 'no'} (Ljung-Box p "
               f"{clus['p_value']:.3f})" if clus.get("p_value") is not None else ""),
            className="small text-muted"))
    return html.Div(lines, id=ids.ENSEMBLE_VERDICT)


def reliability_figure(report: Mapping[str, Any] | None) -> go.Figure:
    """Observed frequency against confidence, before and after calibration, with the diagonal."""
    if report is None:
        return empty_figure("not enough classified history for a reliability diagram yet")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect", line={"dash": "dot", "color": "#999"}))
    for key, label, colour in (("raw", "stored confidence", "#c62828"), ("calibrated", "calibrated", "#1565c0")):
        rel = report[key]
        brier = report[f"brier_{key}"]
        fig.add_trace(go.Scatter(x=rel["conf"], y=rel["observed"], mode="lines+markers", name=f"{label} "
                                 f"(Brier {brier:.3f})", marker={"size": 6 + 0 * rel["count"], "color": colour},
                                 customdata=rel["count"], hovertemplate="conf %{x:.2f} → %{y:.2f} (%{customdata})"
                                                                        "<extra></extra>"))
    fig.update_layout(title=f"Reliability: did the regime hold {report['horizon']} bars? ({report['method']}, fitted on "
                            f"{report['n_fit']}, shown on {report['n_test']} newer bars)",
                      xaxis={"title": "confidence", "range": [0, 1]}, yaxis={"title": "observed", "range": [0, 1]},
                      **{**LAYOUT, "height": 340, "legend": {"orientation": "h", "y": -0.25}})
    return fig
