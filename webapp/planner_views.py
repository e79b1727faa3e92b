"""Display factories for the Planner page: a plan (ordered trades, costs, score, weights before → after,
runner-ups), the outcome of a send, the side-by-side comparison and the stored plans. No data access."""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from components import formatting as fmt
from components.charts import LAYOUT
from components.tables import small_table
from engine.planner.api import BUILT_IN_PRESETS, PlanResult
from engine.store.current_regime import UNCERTAIN_PREFIX
from webapp import planner_ids as ids

OUTCOME_COLOURS = {"blocked": "danger", "rejected": "danger", "not_sent": "secondary", "duplicate": "secondary",
                   "sliced": "info"}  # sliced: a parent worked in child orders; else: sent (success)


def preset_options(names: list[str]) -> list[dict[str, str]]:
    """Picker options: built-ins by name, user presets marked as such (never an empty option)."""
    return [{"label": n if n in BUILT_IN_PRESETS else f"{n} (user)", "value": n} for n in names]


def ok_text(text: str) -> html.Span:
    """A write that went through, said in green (save, rename, delete, restore, the regime table)."""
    return html.Span(text, className="text-success")


def error_text(text: str) -> html.Span:
    """A refusal or a failure, said in red; nothing was changed."""
    return html.Span(text, className="text-danger")


def qty_text(qty: float) -> str:
    """Shares as a whole number when they are one (most are), else with up to 4 decimals."""
    return fmt.number(qty, 0) if float(qty).is_integer() else f"{qty:,.4f}".rstrip("0").rstrip(".")


def plan_summary(plan: PlanResult) -> str:
    uncertain = any(UNCERTAIN_PREFIX in n for n in plan.notes)  # bucket notes are prefixed "[bucket] "
    regime = plan.regime or ("uncertain, no new exposure" if uncertain else "unknown")
    return (f"Preset {plan.preset} · regime {regime} · {plan.sequences_evaluated} sequences evaluated in "
            f"{plan.elapsed_ms:.0f} ms · best: {plan.label}")


def relaxed_badge(relaxed: str | None) -> Any:
    """What-if sequences relax one limit: always labelled, never presented as executable as is."""
    if not relaxed:
        return ""
    return dbc.Badge(f"what-if: {relaxed} relaxed", color="warning", text_color="dark", className="ms-1")


def steps_table(plan: PlanResult, table_id: str) -> Any:
    rows = [[str(i), s.symbol, s.side, qty_text(s.qty), fmt.money(s.price), fmt.money(s.notional),
             fmt.money(s.cost), fmt.money(s.cash_after), s.calculator, s.pattern,
             html.Span([s.reason, html.Em(f" ({s.note})") if s.note else ""], className="small")]
            for i, s in enumerate(plan.steps, start=1)]
    table = small_table(["#", "Symbol", "Side", "Qty", "Price", "Notional", "Cost", "Cash after", "Calculator",
                         "Pattern", "Why"], rows, "No trades: holding is the best plan for this portfolio.")
    return html.Div(table, id=table_id)


# score parts that engine/planner/scoring.py gives in percent of equity (100 × a share); "total" is in score points
PERCENT_PARTS = frozenset({"return", "risk", "volatility", "cvar", "drawdown", "diversification", "cost",
                           "target_distance", "mc_return", "mc_cvar", "exposure_gap", "shortfall", "scored_return",
                           "scored_risk"})  # engine/planner/scoring.py gives these in percent of equity
MAX_DECIMALS = 6


def significant(value: float, digits: int = 3, sign: bool = False) -> str:
    """`value` to about `digits` significant digits without exponent notation: 0.0123456 → 0.0123, 12.3456 → 12.3,
    1234.56 → 1,235 (never fewer than the integer digits), 0 → 0; a dash for NaN or infinity."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return "—"
    if value == 0:
        return "0"
    decimals = min(MAX_DECIMALS, max(0, digits - 1 - math.floor(math.log10(abs(value)))))
    text = f"{value:{'+' if sign else ''},.{decimals}f}"
    return text if float(text.replace(",", "")) != 0 else "0"  # below MAX_DECIMALS rounds to zero


def score_value(key: str, value: float) -> str:
    """A score part for reading: percent parts as "1.23%", the total (score points) as "+1.23"."""
    if key == "total":
        return significant(value, sign=True)
    return significant(value) + ("%" if key in PERCENT_PARTS else "")


def score_table(score: dict[str, float]) -> Any:
    """The best sequence's score parts, three significant digits; the cell's title keeps the exact value."""
    parts = [(k, v) for k, v in score.items() if k != "total"]
    rows: list[list[Any]] = [[k.replace("_", " "), html.Span(score_value(k, v), title=repr(v))] for k, v in parts]
    if "total" in score:
        rows.append([html.Strong("total"), html.Strong(score_value("total", score["total"]),
                                                       title=repr(score["total"]))])
    return small_table(["Score part", "Value"], rows, "no score")


def weights_figure(before: dict[str, float], after: dict[str, float], height: int = 260) -> dict[str, Any]:
    """Portfolio weights before → after the plan, per symbol (cash is what is left). A plain figure dict: building
    a plotly Figure with its template costs ~100 ms per render, the dict under 1 ms."""
    symbols = sorted(set(before) | set(after), key=lambda s: -max(abs(before.get(s, 0.0)), abs(after.get(s, 0.0))))
    return {
        "data": [{"type": "bar", "name": "before", "x": symbols, "y": [before.get(s, 0.0) for s in symbols],
                  "marker": {"color": "#adb5bd"}},
                 {"type": "bar", "name": "after", "x": symbols, "y": [after.get(s, 0.0) for s in symbols],
                  "marker": {"color": "#0d6efd"}}],
        "layout": {"barmode": "group", "title": {"text": "Weights before → after"}, "height": height,
                   "margin": LAYOUT["margin"], "legend": LAYOUT["legend"], "uirevision": "keep",
                   "yaxis": {"tickformat": ".0%", "gridcolor": "#e9ecef"}, "plot_bgcolor": "white",
                   "paper_bgcolor": "white"},
    }


def runner_ups_table(plan: PlanResult) -> Any:
    rows = [[r.label, f"{r.score_total:+.4f}", html.Span(r.steps, className="small"), relaxed_badge(r.relaxed)]
            for r in plan.runner_ups]
    return small_table(["Runner-up", "Score", "Trades", ""], rows, "no runner-ups")


def plan_view(plan: PlanResult, prefix: str = ids.PLAN_PREFIX) -> html.Div:
    """The whole preview of one plan; ids are prefixed so the compare view can show two."""
    notes = [html.Li(n) for n in plan.notes]
    return html.Div([
        html.Div([plan_summary(plan), relaxed_badge(plan.relaxed)], className="small text-muted mb-1",
                 id=f"{prefix}-summary"),
        html.Div(f"Why this preset: {plan.preset_reason}", className="small text-muted mb-1") if plan.preset_reason
        else "",
        steps_table(plan, f"{prefix}-steps"),
        html.Div(f"Costs {fmt.money(plan.costs)} · turnover {fmt.money(plan.turnover)}", className="small my-1",
                 id=f"{prefix}-costs"),
        html.Ul(notes, className="small text-muted mb-1") if notes else "",
        dbc.Row([
            dbc.Col(dcc.Graph(figure=weights_figure(plan.weights_before, plan.weights_after),
                              config={"displayModeBar": False}, id=f"{prefix}-weights"), md=7),
            dbc.Col(score_table(plan.score), md=5, id=f"{prefix}-score"),
        ], className="mt-2"),
        html.H6("Runner-up sequences", className="mt-2"),
        runner_ups_table(plan),
    ])


def compare_column(title: str, plan: PlanResult, prefix: str) -> html.Div:
    """One side of the comparison: the same facts as the preview, compact."""
    rows = [[s.side, qty_text(s.qty), s.symbol, fmt.money(s.notional), s.pattern] for s in plan.steps]
    return html.Div([
        html.H6(title),
        html.Div(plan_summary(plan), className="small text-muted"),
        html.Div(f"score {plan.score.get('total', 0.0):+.4f} · turnover {fmt.money(plan.turnover)} · "
                 f"costs {fmt.money(plan.costs)}", className="small mb-1", id=f"{prefix}-totals"),
        small_table(["Side", "Qty", "Symbol", "Notional", "Pattern"], rows, "no trades"),
        dcc.Graph(figure=weights_figure(plan.weights_before, plan.weights_after, height=220),
                  config={"displayModeBar": False}),
    ], id=prefix)


def outcomes_view(outcomes: Sequence[Any]) -> Any:
    """Per trade of a sent plan: sent / cut / blocked / rejected, and why (the gateway's or the state's words)."""
    rows = [[o.symbol, o.side, qty_text(float(o.qty)),
             dbc.Badge(o.status, color=OUTCOME_COLOURS.get(o.status, "success")),
             html.Span(o.message, className="small")] for o in outcomes]
    return html.Div(small_table(["Symbol", "Side", "Qty", "Outcome", "Why"], rows, "The plan had no trades to send."),
                    id=ids.SEND_OUTCOMES)


def recent_plans_table(plans: Iterable[Any]) -> Any:
    rows = []
    for p in plans:
        steps = "; ".join(f"{s.get('side')} {qty_text(float(s.get('qty', 0)))} {s.get('symbol')}"
                          for s in (p.steps or [])[:6]) if isinstance(p.steps, list) else str(p.steps)
        rows.append([fmt.timestamp(p.created_at), p.preset, p.regime or "—", str(p.sequences_evaluated),
                     f"{p.elapsed_ms:.0f} ms", "yes" if p.executed else "no", html.Span(steps, className="small")])
    return small_table(["Time", "Preset", "Regime", "Sequences", "Took", "Executed", "Trades"], rows,
                       "No stored plans yet: the engine stores one per planning cycle, the page each plan it sends.")


def versions_table(versions: Iterable[Any]) -> Any:
    """One row per version; a deletion marker (a rename or delete, kept as history) says what happened."""
    rows = [[str(v.version), v.author, fmt.timestamp(v.created_at), html.Em("deleted"),
             html.Span(v.note, className="small"), "—"] if getattr(v, "deleted", False) else
            [str(v.version), v.author, fmt.timestamp(v.created_at), v.base,
             html.Span(", ".join(f"{k} {float(x):.2f}" for k, x in sorted(v.sliders.items())), className="small"),
             html.Span(", ".join(f"{k}={x}" for k, x in sorted(v.overrides.items())) or "—", className="small")]
            for v in versions]
    return small_table(["Version", "Author", "Saved", "Base", "Sliders", "Overrides"], rows, "no versions")


def diff_table(diff: Sequence[tuple[str, object, object]], left: str, right: str,
               overridden: dict[str, str] | None = None) -> Any:
    """Parameters that differ; when an override set one of them, a last column says in which version (so a
    diff tells an override from a slider's doing)."""
    marks = {key: (overridden or {}).get(key, "") for key, _a, _b in diff}
    if any(marks.values()):
        rows = [[key, str(a), str(b), marks[key] or "—"] for key, a, b in diff]
        return small_table(["Parameter", left, right, "Override"], rows, "")
    rows = [[key, str(a), str(b)] for key, a, b in diff]
    return small_table(["Parameter", left, right], rows, f"{left} and {right} are identical.")
