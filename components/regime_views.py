"""Figure and card factories of the Regime page. Plain data in, components out; no data access.

Colours always come from the workbook's RegimeClassification (passed in as {regime_name: colour}),
so a user who recolours a regime sees it everywhere on the page.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dash_bootstrap_components as dbc
import pandas as pd
import plotly.graph_objects as go
from dash import html

from components import formatting as fmt
from components.charts import LAYOUT
from components.ids import regime as ids
from components.regime_inputs_views import input_notes
from components.tables import small_table
from engine.regime.class_decision import describe, thresholds_text

UNKNOWN_COLOUR = "#9e9e9e"
INACTIVE_COLOUR = "#c8c8c8"


def _layout(height: int, **extra: Any) -> dict[str, Any]:
    return {**LAYOUT, "height": height, **extra}


def minutes_text(minutes: float | None) -> str:
    """'45 min', '2 h 05 min', '3 d 4 h' — a regime age a trader reads at a glance."""
    if minutes is None or pd.isna(minutes):
        return "—"
    m = max(0.0, float(minutes))
    if m < 90:
        return f"{m:.0f} min"
    if m < 48 * 60:
        h, r = divmod(m, 60)
        return f"{h:.0f} h {r:02.0f} min"
    d, r = divmod(m, 1440)
    return f"{d:.0f} d {r / 60:.0f} h"


def swatch(colour: str) -> html.Span:
    return html.Span(className="d-inline-block rounded me-2 border",
                     style={"width": "1.1em", "height": "1.1em", "backgroundColor": colour, "verticalAlign": "middle"})


def regime_card(latest: Mapping[str, Any], colour: str, description: str, active_version: str,
                version_detail: str, regime_classes: tuple[str, str] | None = None) -> list[Any]:
    """Body of the current-regime card: name in its colour, confidence, time in regime, versions, and the
    bar's trend/volatility classes with the numbers and thresholds they were decided on."""
    conf = float(latest.get("confidence") or 0.0)
    transition = latest.get("transition_rule") or ""
    return [
        html.Div([swatch(colour), html.Span(str(latest["regime_name"]), id=ids.CURRENT_NAME,
                                            className="fs-4 fw-semibold")], className="mb-1"),
        html.Div(description, className="small text-muted mb-2"),
        effective_line(latest.get("effective")),
        dbc.Row([
            dbc.Col([html.Div("Confidence", className="kpi-title"),
                     html.Div(f"{conf * 100:.0f}%", id=ids.CURRENT_CONFIDENCE, className="kpi-value"),
                     dbc.Progress(value=conf * 100, color="success" if conf >= 0.6 else "warning" if conf >= 0.4
                                  else "danger", style={"height": "6px"})], width=4),
            dbc.Col([html.Div("Time in regime", className="kpi-title"),
                     html.Div(minutes_text(float(latest.get("time_in_regime_s") or 0.0) / 60.0),
                              id=ids.CURRENT_AGE, className="kpi-value")], width=4),
            dbc.Col([html.Div("Parameters", className="kpi-title"),
                     html.Div(active_version, id=ids.CURRENT_VERSION, className="kpi-value fs-5"),
                     html.Div(version_detail, className="kpi-subtitle small")], width=4),
        ], className="g-2"),
        html.Div([
            dbc.Badge(f"trend {latest.get('trend_class') or '—'} ({fmt.number(latest.get('trend_value'), 4)})",
                      color="light", text_color="dark", className="me-1", id=ids.CURRENT_TREND),
            dbc.Badge(f"volatility {latest.get('volatility_class') or '—'} "
                      f"({fmt.number((latest.get('volatility_value') or 0) * 100, 1)}%/yr)",
                      color="light", text_color="dark", className="me-1", id=ids.CURRENT_VOL),
            dbc.Badge(f"smoothed score {_signed(latest.get('raw_score'), 2)}", color="light", text_color="dark",
                      className="me-1"),
            dbc.Badge(f"module sum {_signed(module_sum(latest.get('modules') or ()), 2)}", color="light",
                      text_color="dark", className="me-1"),
            dbc.Badge(f"entered by {transition}", color="info", className="me-1") if transition else None,
        ], className="mt-2"),
        score_note(latest),
        class_notes(latest, regime_classes),
        input_notes(latest),
        html.Div(f"as of {fmt.timestamp(latest.get('ts'))}", id=ids.CURRENT_ASOF, className="small text-muted mt-1"),
    ]


def effective_line(effective: Mapping[str, Any] | None) -> html.Div:
    """The regime the engine acts on beside the rule-based one above it: when they differ (an ensemble answer,
    or no regime while uncertain) with the verdict's status and reason."""
    if not effective:
        return html.Div(id=ids.CURRENT_EFFECTIVE)
    status = str(effective.get("status"))
    name = effective.get("regime_name")
    acts = str(name) if name is not None else "no regime (uncertain): no new exposure"
    if effective.get("regime_id") == effective.get("rule_regime_id"):
        return html.Div([html.Span("Engine acts on this regime ", className="text-muted"),
                         dbc.Badge(status, color="light", text_color="dark")],
                        id=ids.CURRENT_EFFECTIVE, className="small mb-2")
    return html.Div([
        html.Div([html.Span("Engine acts on: ", className="text-muted"), html.Span(acts, className="fw-semibold me-2"),
                  dbc.Badge(status, color="warning" if name is None else "info")]),
        html.Div(f"rule-based: {effective.get('rule_regime_name')}; {effective.get('reason') or ''}",
                 id=ids.CURRENT_EFFECTIVE_REASON, className="text-muted"),
    ], id=ids.CURRENT_EFFECTIVE, className="small mb-2 border-start border-3 border-warning ps-2")


def module_sum(modules: Sequence[Mapping[str, Any]]) -> float:
    """This bar's unsmoothed module score: the sum of the active modules' contributions (score × weight)."""
    return sum(float(m.get("contribution") or 0.0) for m in modules if m.get("active"))


def _signed(value: float | None, decimals: int) -> str:
    return "—" if value is None or value != value else f"{float(value):+.{decimals}f}"


def score_note(latest: Mapping[str, Any]) -> html.Div:
    """Why the module bars need not add up to the smoothed score (engine/regime/classifier.py: d_raw -> d_s)."""
    raw, total = latest.get("raw_score"), module_sum(latest.get("modules") or ())
    if raw is None or raw != raw or abs(float(raw) - total) < 0.005:
        return html.Div()
    return html.Div(
        f"The module bars sum to {total:+.3f}, this bar's unsmoothed score. The smoothed score {float(raw):+.3f} "
        "that forms the regime averages that sum with recent bars (TransitionManagement smoothing) and counts it "
        "as 0 while its direction does not persist (NoiseFilter), so the two can differ, even in sign.",
        className="small text-muted mt-1")


def class_notes(latest: Mapping[str, Any], regime_classes: tuple[str, str] | None) -> html.Div:
    """How this bar's classes were decided (number, band, rule), and why the regime differs when it is held."""
    cls = latest.get("classes") or {}
    lines: list[Any] = []
    if "trend" in cls:
        lines.append(html.Div("Trend " + describe(cls["trend"]), id=ids.CURRENT_TREND_RULE))
    if "volatility" in cls:
        lines.append(html.Div("Volatility " + describe(cls["volatility"], "%/yr"), id=ids.CURRENT_VOL_RULE))
        lines.append(html.Div("Thresholds " + thresholds_text(cls["volatility"]), id=ids.CURRENT_THRESHOLDS))
    if regime_classes is not None and cls:
        held = [f"{axis} {want}" for axis, want, now in (("trend", regime_classes[0], latest.get("trend_class")),
                                                          ("volatility", regime_classes[1], latest.get("volatility_class")))
                if want != now]
        if held:
            why = (latest.get("record") or {}).get("blocked_by") or "the stability rules hold it"
            lines.append(html.Div(f"The regime keeps {', '.join(held)}: {why}.", id=ids.CURRENT_HELD,
                                  className="text-warning-emphasis"))
    return html.Div(lines, className="small text-muted mt-1")


def contributions_figure(modules: Sequence[Mapping[str, Any]], smoothed: float | None = None) -> go.Figure:
    """Score × effective weight per module; inactive modules as grey stubs with the reason on hover. The title
    gives the bars' sum (unsmoothed) beside the card's smoothed score: two numbers, never passed off as one."""
    names = [str(m["name"]) for m in modules]
    contrib = [float(m.get("contribution") or 0.0) if m.get("active") else 0.0 for m in modules]
    colours = [INACTIVE_COLOUR if not m.get("active") else "#2e7d32" if c >= 0 else "#c62828"
               for m, c in zip(modules, contrib, strict=True)]
    hover = [
        (f"{m['name']}<br>score {float(m.get('score') or 0):+.3f} × weight {float(m.get('weight') or 0):.3f}"
         f" = {c:+.3f}") if m.get("active") else f"{m['name']}<br>inactive: {m.get('reason') or 'no data'}"
        for m, c in zip(modules, contrib, strict=True)
    ]
    # the "why" on the bar itself (not only on hover): score × weight = contribution; outside the bar, so a module
    # whose contribution is 0 (a zero score or weight) still shows its numbers instead of an empty row
    text = [f"{float(m.get('score') or 0):+.2f} × {float(m.get('weight') or 0):.2f} = {c:+.3f}" if m.get("active")
            else "inactive" for m, c in zip(modules, contrib, strict=True)]
    fig = go.Figure(go.Bar(x=contrib, y=names, orientation="h", marker_color=colours, text=text,
                           textposition="outside", cliponaxis=False, hovertext=hover, hoverinfo="text"))
    title = f"Module contributions (score × weight): sum {module_sum(modules):+.3f}"
    if smoothed is not None and smoothed == smoothed:
        title += f", smoothed score {float(smoothed):+.3f}"
    fig.update_layout(title=title, xaxis_title="contribution to the unsmoothed module score (sum of the bars)",
                      yaxis={"autorange": "reversed"}, **_layout(300, showlegend=False))
    return fig


def inactive_modules(modules: Sequence[Mapping[str, Any]]) -> html.Div:
    off = [m for m in modules if not m.get("active")]
    if not off:
        return html.Div("All modules active.", className="small text-muted")
    return html.Div([html.Div("Inactive modules (weight redistributed):", className="small fw-semibold"),
                     html.Ul([html.Li(f"{m['name']}: {m.get('reason') or 'no data'}") for m in off],
                             className="small mb-0")], id=ids.INACTIVE_LIST)


def bands(segs: pd.DataFrame, colours: Mapping[str, str]) -> list[dict[str, Any]]:
    """Regime runs as colour bands for components.charts.price_figure."""
    return [{"x0": r["start"], "x1": r["end"], "color": colours.get(str(r["regime_name"]), UNKNOWN_COLOUR)}
            for r in segs.to_dict("records")]


def timeline_figure(rows: Sequence[tuple[str, pd.DataFrame]], colours: Mapping[str, str], title: str,
                    height: int | None = None) -> go.Figure:
    """One horizontal lane per labelled sequence of runs, each run a bar in its regime's colour."""
    fig = go.Figure()
    seen: set[str] = set()
    for label, segs in rows:
        for name, grp in segs.groupby("regime_name", sort=False):
            start = pd.to_datetime(grp["start"])
            width = (pd.to_datetime(grp["end"]) - start).dt.total_seconds() * 1000.0
            fig.add_trace(go.Bar(
                x=width, base=start, y=[label] * len(grp), orientation="h", name=str(name),
                marker_color=colours.get(str(name), UNKNOWN_COLOUR), legendgroup=str(name),
                showlegend=str(name) not in seen,
                customdata=grp["minutes"].map(minutes_text), hovertemplate=f"{name}<br>%{{base}}<br>%{{customdata}}"
                                                                          "<extra></extra>"))
            seen.add(str(name))
    fig.update_layout(title=title, barmode="overlay", xaxis={"type": "date"}, yaxis={"autorange": "reversed"},
                      **_layout(height or 120 + 45 * max(len(rows), 1), legend={"orientation": "h", "y": -0.3}))
    return fig


# The transitions heatmap is as tall as its rows need (nothing blank under it): a title band, one cell height per
# regime shown, and under the cells the "to" names: level while a few fit side by side, else at 45 degrees, whose
# depth follows the longest name. The axes keep automargin, so a narrow window that must tilt level names
# anyway takes the room from the cells rather than clipping a label.
HEATMAP_TOP = 40  # the title
HEATMAP_CELL = 30  # per regime row (fits the count in the cell)
HEATMAP_LEVEL_MAX = 3  # up to this many regimes the "to" names stay level
HEATMAP_LEVEL_BOTTOM = 36  # one line of level names and the "to" title
HEATMAP_AXIS_TITLE = 34  # the "to" title and the tilted labels' padding
HEATMAP_CHAR_DEPTH = 3.9  # depth of one character of a 45-degree label (11 px font: ~5.5 px wide × sin 45°)
HEATMAP_EMPTY_HEIGHT = 100  # the title and the "no regime change" line
HEATMAP_TICK_FONT = 11


def heatmap_bottom(names: Sequence[str]) -> int:
    """Room under the cells for the "to" names (level for a few, else at 45 degrees) and the axis title."""
    if len(names) <= HEATMAP_LEVEL_MAX:
        return HEATMAP_LEVEL_BOTTOM
    return HEATMAP_AXIS_TITLE + round(HEATMAP_CHAR_DEPTH * max(len(str(n)) for n in names))


def heatmap_height(names: Sequence[str]) -> int:
    """The figure height the heatmap needs for `names` (the regimes shown on each axis; none: the empty note)."""
    if not names:
        return HEATMAP_EMPTY_HEIGHT
    return HEATMAP_TOP + HEATMAP_CELL * len(names) + heatmap_bottom(names)


def transition_heatmap(matrix: pd.DataFrame) -> go.Figure:
    """Observed regime changes: rows = from, columns = to (only regimes seen or listed); sized to its rows."""
    used = [n for n in matrix.index if matrix.loc[n].sum() or matrix[n].sum()]
    m = matrix.loc[used, used] if used else matrix.iloc[:0, :0]
    fig = go.Figure(go.Heatmap(z=m.to_numpy(), x=list(m.columns), y=list(m.index), colorscale="Blues",
                               text=m.to_numpy(), texttemplate="%{text}", hovertemplate="%{y} → %{x}: %{z}<extra></extra>",
                               showscale=False))
    total = int(m.to_numpy().sum()) if m.size else 0
    names = [str(n) for n in m.index] if total else []
    tick = {"tickfont": {"size": HEATMAP_TICK_FONT}, "automargin": True}
    # the left margin follows the "from" names (automargin); the height is fixed from the rows, so the browser
    # never leaves a blank band under the cells whatever the column's width
    fig.update_layout(title=f"Observed transitions ({total})",
                      xaxis={"title": {"text": "to", "standoff": 4}, **tick,
                             **({} if len(names) <= HEATMAP_LEVEL_MAX else {"tickangle": -45})},
                      yaxis={"title": {"text": "from", "standoff": 4}, "autorange": "reversed", **tick},
                      **_layout(heatmap_height(names),
                                margin={"l": 10, "r": 36, "t": HEATMAP_TOP, "b": heatmap_bottom(names) if names else 10}))
    if not total:
        fig.add_annotation(text="no regime change observed yet", showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper")
        fig.update_layout(xaxis_visible=False, yaxis_visible=False)
    return fig


def duration_figure(stats: pd.DataFrame) -> go.Figure:
    """Expected min–max minutes (RegimeParameters) as a band per regime, typical as a tick, observed
    completed runs' median as a dot with the shortest–longest range."""
    s = stats.reset_index(drop=True)
    names = list(s["regime_name"])
    fig = go.Figure()
    lo = pd.to_numeric(s["expected_min"], errors="coerce")
    hi = pd.to_numeric(s["expected_max"], errors="coerce")
    fig.add_trace(go.Bar(y=names, x=hi - lo, base=lo, orientation="h", name="expected min–max",
                         marker_color="rgba(120,144,156,0.25)", hovertemplate="%{y}: %{base}–%{x} min<extra></extra>"))
    fig.add_trace(go.Scatter(y=names, x=s["expected_typical"], mode="markers", name="typical",
                             marker={"symbol": "line-ns-open", "size": 14, "color": "#455a64"}))
    seen = s[s["runs"] > 0]
    if len(seen):
        med = seen["median"].astype(float)
        fig.add_trace(go.Scatter(
            y=list(seen["regime_name"]), x=med, mode="markers", name="observed median",
            marker={"size": 10, "color": [c or UNKNOWN_COLOUR for c in seen["color"]], "line": {"width": 1, "color": "#333"}},
            error_x={"type": "data", "symmetric": False, "array": seen["longest"].astype(float) - med,
                     "arrayminus": med - seen["shortest"].astype(float)},
            customdata=seen["runs"], hovertemplate="%{y}: median %{x:.0f} min over %{customdata} runs<extra></extra>"))
    fig.update_layout(title="Regime durations against RegimeParameters (minutes)",
                      yaxis={"autorange": "reversed"}, barmode="overlay",
                      **_layout(max(320, 22 * len(names) + 110), margin={"l": 170, "r": 36, "t": 40, "b": 60},
                                legend={"orientation": "h", "y": -0.12}))
    return fig


def duration_table(stats: pd.DataFrame) -> dbc.Table | html.Div:
    seen = stats[stats["runs"] > 0]
    records: list[Any] = list(seen.itertuples())  # pandas' stubs type row attributes loosely
    rows = [(r.regime_name, r.runs, minutes_text(r.median), f"{minutes_text(r.shortest)} – {minutes_text(r.longest)}",
             f"{fmt.number(r.expected_min, 0)} / {fmt.number(r.expected_typical, 0)} / {fmt.number(r.expected_max, 0)}",
             _pct(r.below_min_pct), _pct(r.above_max_pct)) for r in records]
    return small_table(["Regime", "Runs", "Median", "Shortest – longest", "Expected min / typical / max",
                        "Below min", "Above max"], rows, "no completed regime run yet")


def _pct(v: float | None) -> str:
    return "—" if v is None or pd.isna(v) else f"{v:.0f}%"
