"""What the Risk page draws, from the stored report and history (no engine work in a callback),
the parser of the scenario editor's shocks text, and the editor's steps as plain functions (pages/risk.py
wires them): Save under a new name saves at once; Save under a saved name and Delete first open a confirm
dialog stating what changes, and only its Confirm changes the store (trader-only and audited, store_io)."""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import pandas as pd
import plotly.graph_objects as go
from dash import html
from sqlalchemy.orm import Session

from components import formatting as fmt
from components.charts import LAYOUT, empty_figure
from components.tables import small_table
from engine.portfolio_risk import store_io
from engine.portfolio_risk.stress import UserScenario
from engine.store.db import Store

MAX_SHOCKS = 200
MAX_TEXT = 4000
_ITEM = re.compile(r"^\s*([A-Za-z0-9_.\-:]{1,40})\s*=\s*([+-]?\d+(?:\.\d+)?)\s*%?\s*$")
HISTORY_LINES = {"hist_var_95": "VaR 95% (hist)", "hist_cvar_95": "CVaR 95% (hist)", "hist_var_99": "VaR 99% (hist)",
                 "hist_cvar_99": "CVaR 99% (hist)", "param_cvar_99": "CVaR 99% (param)"}


class ShockTextError(ValueError):
    """The editor's text cannot be read; the message names the item."""


def parse_shocks(name: str, text: str) -> UserScenario:
    """'ALFA=-8, growth=-5; INDEX=-3' (percent) -> a validated UserScenario (fractions)."""
    if len(text or "") > MAX_TEXT:
        raise ShockTextError(f"the shocks text is {len(text)} characters; at most {MAX_TEXT}")
    items = [i for i in re.split(r"[,;\n]", text or "") if i.strip()]
    if len(items) > MAX_SHOCKS:
        raise ShockTextError(f"{len(items)} shocks; at most {MAX_SHOCKS} per scenario")
    shocks: dict[str, float] = {}
    for n, item in enumerate(items, start=1):
        m = _ITEM.match(item)
        if m is None:
            raise ShockTextError(f"shock {n} ({item.strip()[:40]!r}) is not SYMBOL_OR_GROUP=PERCENT, e.g. ALFA=-8")
        if m.group(1) in shocks:  # the later one silently won: 'ALFA=-5, ALFA=-8' saved one shock of -8%
            first = next(i for i, key in enumerate(shocks, start=1) if key == m.group(1))
            raise ShockTextError(f"shock {n} gives {m.group(1)} again (shock {first} gave it "
                                 f"{100 * shocks[m.group(1)]:+g}%); give each symbol, group or INDEX once")
        value = float(m.group(2)) / 100.0
        if not math.isfinite(value):  # 400 digits read as inf: "shock +inf%" named no number the user typed
            raise ShockTextError(f"shock {n} ({m.group(1)}) is too large a number; shocks are -100..+1000 percent")
        shocks[m.group(1)] = value
    spec = UserScenario((name or "").strip()[:80], shocks)
    try:
        spec.validate()
    except ValueError as exc:
        raise ShockTextError(str(exc)) from None
    return spec


def scenario_label(scenario: dict[str, Any]) -> str:
    """A stress row's name with its kind: a scenario stored before built-in names were reserved may share one."""
    return f"{scenario['name']} ({scenario['kind']})"


def money(x: float | None) -> str:
    """Whole dollars through the shared formatter: -$12,346 (risk figures are estimates, cents add noise)."""
    return fmt.money(x, 0)


def pct_of(x: float | None, equity: float | None) -> str:
    """A share of equity; + 0.0 turns the -0.0 of an empty short side into 0.00 (it read '-0.00% of equity')."""
    return "" if x is None or not equity else f"{round(100 * x / equity, 2) + 0.0:.2f}% of equity"


def history_figure(frame: pd.DataFrame) -> go.Figure:
    if frame.empty or frame[list(HISTORY_LINES)].isna().all().all():
        return empty_figure("no VaR history yet (the risk cycle stores a point a minute)")
    fig = go.Figure([go.Scatter(x=frame["ts"], y=frame[c], mode="lines", name=label)
                     for c, label in HISTORY_LINES.items()])
    fig.update_layout(title="1-day VaR / CVaR (USD loss)", **LAYOUT)
    return fig


def exposure_figure(rep: dict[str, Any]) -> go.Figure:
    if not rep.get("symbols"):
        return empty_figure("no positions")
    fig = go.Figure(go.Bar(x=rep["symbols"], y=rep["values"],
                           marker_color=["#2e7d32" if v >= 0 else "#c62828" for v in rep["values"]]))
    fig.update_layout(title="Exposure by name (USD, short < 0)", **LAYOUT)
    return fig


def corr_figure(rep: dict[str, Any]) -> go.Figure:
    syms = rep.get("symbols") or []
    if len(syms) < 2:
        return empty_figure("correlation needs two positions")
    cluster = set(rep.get("cluster", {}).get("symbols") or [])
    labels = [f"{s} *" if s in cluster else s for s in syms]
    fig = go.Figure(go.Heatmap(z=rep["corr"], x=labels, y=labels, zmin=-1, zmax=1, colorscale="RdBu", reversescale=True))
    fig.update_layout(title="Correlation (* = largest correlated cluster)", **{**LAYOUT, "height": 360})
    return fig


def var_table(rep: dict[str, Any]) -> Any:
    equity = rep.get("equity")
    rows = []
    for key, f in sorted(rep.get("var", {}).items()):
        method, level = key.split("_")
        rows.append((method, f"{level}%", money(f["var"]), money(f["cvar"]), pct_of(f["cvar"], equity)))
    return small_table(["Method", "Level", "VaR (1 day)", "CVaR (1 day)", "CVaR"], rows,
                       rep.get("note") or "no VaR yet")


def groups_table(rep: dict[str, Any]) -> Any:
    rows = [(g["group"], money(g["long"]), money(g["short"]), money(g["long"] + g["short"]),
             pct_of(g["long"] + g["short"], rep.get("equity"))) for g in rep.get("groups", [])]
    return small_table(["Group", "Long", "Short", "Gross", "Gross share"], rows, "no positions")


def sides_table(rep: dict[str, Any]) -> Any:
    s = rep.get("sides") or {}
    rows = [(k, money(s.get(k)), pct_of(s.get(k), rep.get("equity"))) for k in ("long", "short", "net", "gross")]
    return small_table(["Side", "USD", "Share"], rows, "no positions")


def stress_table(rep: dict[str, Any]) -> Any:
    rows = [(html.Span(s["name"], className="risk-scenario-name"), s["kind"], money(s["pnl"]),
             pct_of(s["pnl"], rep.get("equity"))) for s in rep.get("scenarios", [])]
    return small_table(["Scenario", "Kind", "P&L (USD)", ""], rows, "no scenarios (no positions)")


def stress_positions_table(rep: dict[str, Any]) -> Any:
    syms = rep.get("symbols") or []
    rows = [[s["name"]] + [money(s["per_position"].get(sym)) for sym in syms] for s in rep.get("scenarios", [])]
    return small_table(["Scenario"] + syms, rows, "no positions")


def fmt_ts(value: str | None) -> str:
    return fmt.timestamp(pd.Timestamp(value).to_pydatetime()) if value else ""


STALE_MIN_S = 60.0  # a report younger than this is current whatever the cycle's period
STALE_CYCLES = 10  # ... or than this many risk cycles (engine/job_specs.py: every max(tick_seconds, 2) s)


def stale_after_s(tick_seconds: float) -> float:
    """How old the stored report may be before the page says its figures are out of date."""
    return max(STALE_MIN_S, STALE_CYCLES * max(float(tick_seconds), 2.0))


def report_age_s(ts: object, now: datetime) -> float | None:
    """Seconds since the risk cycle stored the report (its wall-clock `ts`, ISO text); None when unreadable."""
    try:
        stored = datetime.fromisoformat(str(ts))
    except ValueError:
        return None
    if stored.tzinfo is None:
        stored = stored.replace(tzinfo=UTC)
    return (now - stored).total_seconds()


def stale_warning(ts: object, now: datetime, limit_s: float) -> str | None:
    """What the page says above figures the risk cycle has not refreshed for `limit_s` (None while current): the
    engine stopped or its risk cycle fails, and the book, prices and limits may have changed since."""
    age = report_age_s(ts, now)
    if age is None:
        return "the stored risk report has no readable time; its figures may be out of date"
    if age <= limit_s:
        return None
    return (f"out of date: these figures were computed {fmt.age(age)} ago ({fmt_ts(str(ts))}); the engine's risk "
            f"cycle refreshes them every few seconds and has not for over {fmt.age(limit_s)} (engine stopped or its "
            "risk cycle failing). Positions, prices and breaches may have changed since.")


# ---- the scenario editor: Save / Delete, each confirmed in a dialog when it replaces or removes ---------------
Dialog = Literal["replace", "remove"]


@dataclass(frozen=True)
class ScenarioStep:
    """What the editor shows after a click. `message` None leaves the message as it is; `dialog` names the
    confirm dialog to open (None: both closed), `body` what it says and `pending` the change its Confirm makes
    (kept in the page, sent back on Confirm); `changed`: the store changed (the page forgets its cache)."""

    message: str | None = None
    error: bool = False
    dialog: Dialog | None = None
    body: str = ""
    pending: dict[str, Any] | None = None
    changed: bool = False


def shocks_text(shocks: Mapping[str, float]) -> str:
    """{'ALFA': -0.08, 'INDEX': 0.025} -> 'ALFA=-8%, INDEX=+2.5%' (the editor's own syntax, percent)."""
    return ", ".join(f"{key}={100 * value:+.6g}%" for key, value in shocks.items()) or "no shocks"


def _error(message: str) -> ScenarioStep:
    return ScenarioStep(message, error=True)


def _saved(session: Session, spec: UserScenario) -> str:
    """The saved message; it names the shocks that move no position held now (their stress P&L reads $0)."""
    idle = store_io.idle_keys(session, spec)
    return (f"saved {spec.name!r} ({len(spec.shocks)} shocks); the risk cycle applies it within seconds"
            + (f"; moves no position held now: {', '.join(idle)}" if idle else ""))


def ask_save(store: Store, now: datetime, actor: str, name: str | None, text: str | None) -> ScenarioStep:
    """Save: bad text or a name/shock the store would refuse -> that message; a new name -> saved at once
    (audited); a saved name -> the replace dialog (old shocks -> new shocks), nothing changed yet."""
    for what, value in (("scenario name", name), ("shocks text", text)):
        if value is not None and not isinstance(value, str):  # only a forged request sends these
            return _error(f"the {what} must be text, not {type(value).__name__}; nothing was saved")
    try:
        spec = parse_shocks(name or "", text or "")
        with store.read() as session:
            store_io.check_user_scenario(session, spec)
            old = store_io.user_scenario(session, spec.name)
        if old is None:
            with store.write() as session:  # saved only if the name is still new (not saved meanwhile)
                old = store_io.user_scenario(session, spec.name)
                if old is None:
                    store_io.save_user_scenario(session, now, actor, spec)
                    message = _saved(session, spec)
            if old is None:
                return ScenarioStep(message, changed=True)
    except (ShockTextError, store_io.ScenarioError) as exc:
        return _error(str(exc))
    body = (f"Replace the saved scenario {spec.name!r}? Its shocks {shocks_text(old.shocks)} "
            f"→ {shocks_text(spec.shocks)}")
    return ScenarioStep(None, dialog="replace", body=body, pending={
        "action": "replace", "name": spec.name, "before": dict(old.shocks), "shocks": dict(spec.shocks)})


def ask_delete(store: Store, name: str | None) -> ScenarioStep:
    """Delete: the delete dialog naming the scenario and its shocks; nothing is deleted yet."""
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name:
        return _error("type the name of the scenario to delete")
    with store.read() as session:
        old = store_io.user_scenario(session, name)
    if old is None:
        return ScenarioStep(f"no scenario named {name!r}")
    return ScenarioStep(None, dialog="remove", body=f"Delete the saved scenario {name!r} ({shocks_text(old.shocks)})?",
                        pending={"action": "remove", "name": name, "before": dict(old.shocks)})


def _shocks(value: object) -> dict[str, float] | None:
    """Shocks sent back by the browser, or None when they are not a {str: number} mapping."""
    if not isinstance(value, dict) or len(value) > MAX_SHOCKS:
        return None
    if not all(isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool) for k, v in value.items()):
        return None
    return {k: float(v) for k, v in value.items()}


def confirm_change(store: Store, now: datetime, actor: str, dialog: Dialog, pending: object) -> ScenarioStep:
    """Confirm in `dialog`: make the pending change, unless the scenario changed since the dialog opened
    (then say so and change nothing). Both store_io calls audit the change with `actor` at `now`."""
    if not isinstance(pending, dict) or pending.get("action") != dialog or not isinstance(pending.get("name"), str):
        return ScenarioStep(None)  # nothing pending for this dialog (a second click, a stale page): close it
    name, before = pending["name"], _shocks(pending.get("before"))
    shocks = _shocks(pending.get("shocks")) if dialog == "replace" else {}
    if before is None or shocks is None:
        return _error("the dialog is out of date; press Save or Delete again")
    verb = "replaced" if dialog == "replace" else "deleted"
    try:
        with store.write() as session:
            current = store_io.user_scenario(session, name)
            if current is None or dict(current.shocks) != before:
                now_text = "it was deleted" if current is None else f"it is now {shocks_text(current.shocks)}"
                return _error(f"not {verb}: {name!r} changed since the dialog opened ({now_text}); "
                              "check it and press Save or Delete again")
            if dialog == "remove":
                store_io.delete_user_scenario(session, now, actor, name)
                message = f"deleted {name!r}"
            else:
                spec = UserScenario(name, shocks)
                store_io.save_user_scenario(session, now, actor, spec)
                message = f"{_saved(session, spec)} (replaced {shocks_text(before)})"
    except store_io.ScenarioError as exc:
        return _error(str(exc))
    return ScenarioStep(message, changed=True)


def cancel_change(dialog: Dialog, pending: object) -> ScenarioStep:
    """Cancel in `dialog`: close it, forget the pending change and say that nothing changed."""
    name = pending.get("name") if isinstance(pending, dict) and pending.get("action") == dialog else None
    if not isinstance(name, str):
        return ScenarioStep(None)
    what = "replaced" if dialog == "replace" else "deleted"
    return ScenarioStep(f"nothing {what}: {name!r} is kept as it was")
