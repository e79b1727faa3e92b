"""Parameters page, second half: downloads (current, template, any version) and the versions panel
(list, diff any two, roll back with confirm, notice when another user applied a version).

Imported by pages/parameters.py, which owns the layout; every change goes through engine.params.versions
with the acting user, so it is audited there.
"""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, dcc, html, no_update

from components import param_editor as ui
from engine.auth.roles import Role
from engine.params.errors import ParamsError
from engine.params.exporter import export_template, export_workbook
from engine.params.versions import diff_versions, record_export, rollback
from webapp import param_views as pv
from webapp.auth.access import requires
from webapp.context import get_context
from webapp.control_actions import web_actor
from webapp.inputs import text_or_default, triggered_by_click


def register_callbacks() -> None:
    """Called by pages/parameters.py each time Dash executes that page for a new app (dash.callback
    registrations are consumed by the app being built, so a plain import would serve only the first app)."""

    # --- downloads -----------------------------------------------------------------------------------
    @dash.callback(
        Output("parameters-download", "data"),
        Output("parameters-message", "children", allow_duplicate=True),
        Input("parameters-download-current", "n_clicks"), Input("parameters-download-template", "n_clicks"),
        Input("parameters-download-version", "n_clicks"),
        State("parameters-version-pick", "value"),
        prevent_initial_call=True,
    )
    @requires(Role.VIEWER)
    def download(_cur: int | None, _tpl: int | None, _ver: int | None, picked: str | None):
        """Export through the engine's exporter (formula-safe text); every download is audited."""
        context = get_context()
        if ctx.triggered_id == "parameters-download-template":
            name = "MR_CONFIG_TEMPLATE.xlsx"
            record_export(context.store, web_actor(), None, f"download {name}", clock=context.clock)
            return dcc.send_bytes(export_template(), name), no_update
        try:
            version_id = int(picked) if ctx.triggered_id == "parameters-download-version" and picked else None
            ps = pv.load_base(context.store, version_id)
        except (ParamsError, ValueError) as exc:
            return no_update, html.Span(str(exc), className="text-danger")
        name = f"MR_CONFIG_v{ps.version_id or 'defaults'}.xlsx"
        record_export(context.store, web_actor(), ps.version_id, f"download {name}", clock=context.clock)
        return dcc.send_bytes(export_workbook(ps), name), no_update


    # --- versions ------------------------------------------------------------------------------------
    @dash.callback(
        Output("parameters-versions-collapse", "is_open"), Input("parameters-versions-toggle", "n_clicks"),
        State("parameters-versions-collapse", "is_open"), prevent_initial_call=True,
    )
    @requires(Role.VIEWER)
    def toggle_versions(_n: int, is_open: bool):
        return not is_open


    @dash.callback(
        Output("parameters-versions-grid", "rowData"), Output("parameters-active", "children"),
        Output("parameters-diff-a", "options"), Output("parameters-diff-b", "options"),
        Output("parameters-version-pick", "options"),
        Output("parameters-diff-a", "value"), Output("parameters-diff-b", "value"),
        Output("parameters-version-pick", "value"),
        Input("parameters-base", "data"),
    )
    @requires(Role.VIEWER)
    def show_versions(_base: dict):
        rows = pv.version_rows(get_context().store)
        options = [{"label": f"v{r['id']} · {r['created_at']} · {r['source']} · {r['author']}", "value": str(r["id"])}
                   for r in rows]
        active = next((r for r in rows if r["active"]), None)
        if active is None:
            info = html.Span("No version applied yet: the engine runs on the schema defaults.", className="text-muted")
        else:
            info = html.Span([dbc.Badge(f"active version {active['id']}", color="primary", className="me-2",
                                        id="parameters-active-version"),
                              f"{active['created_at']} UTC by {active['author']} ({active['source']}) {active['note']}"])
        a = options[1]["value"] if len(options) > 1 else None
        b = options[0]["value"] if options else None
        return rows, info, options, options, options, a, b, b


    @dash.callback(
        Output("parameters-stale", "children"), Input("parameters-poll", "n_intervals"), Input("parameters-base", "data"),
    )
    @requires(Role.VIEWER)
    def check_stale(_n: int | None, base_ref: dict):
        """Tell the user when another user, the CLI or a rollback made a newer version active."""
        latest = pv.active_ref(get_context().store)
        if latest["version_id"] == (base_ref or {}).get("version_id"):
            return None
        return dbc.Alert([f"Version {latest['version_id']} is now active; this page shows version "
                          f"{(base_ref or {}).get('version_id')}. ",
                          dbc.Button("Load the active version (keeps your edits)", id="parameters-load-latest",
                                     size="sm", color="warning", n_clicks=0)],
                         color="warning", className="small py-2")


    @dash.callback(
        Output("parameters-base", "data", allow_duplicate=True), Input("parameters-load-latest", "n_clicks"),
        prevent_initial_call=True,
    )
    @requires(Role.VIEWER)
    def load_latest(n: int | None):
        return pv.active_ref(get_context().store) if n else no_update


    @dash.callback(
        Output("parameters-version-diff", "children"),
        Input("parameters-diff-a", "value"), Input("parameters-diff-b", "value"),
    )
    @requires(Role.VIEWER)
    def show_version_diff(a: str | None, b: str | None):
        if not a or not b:
            return html.Div("pick two versions to compare", className="text-muted small")
        with get_context().store.read() as s:
            changes = diff_versions(s, int(a), int(b))
        return ui.diff_table(pv.change_rows(changes), f"versions {a} and {b} hold the same values")


    @dash.callback(
        Output("parameters-rollback-modal", "is_open"), Output("parameters-rollback-body", "children"),
        Output("parameters-message", "children", allow_duplicate=True),
        Output("parameters-base", "data", allow_duplicate=True),
        Input("parameters-rollback", "n_clicks"), Input("parameters-rollback-cancel", "n_clicks"),
        Input("parameters-rollback-confirm", "n_clicks"),
        State("parameters-version-pick", "value"), State("parameters-rollback-note", "value"),
        prevent_initial_call=True,
    )
    @requires(Role.ADMIN)
    def roll_back(_open: int | None, _cancel: int | None, _confirm: int | None, picked: str | None,
                  note: str | None):
        """Rolling back creates a new version equal to the picked one (history is never rewritten)."""
        if not triggered_by_click(ctx.triggered):
            return no_update, no_update, no_update, no_update
        if ctx.triggered_id == "parameters-rollback-cancel":
            return False, no_update, no_update, no_update
        if not isinstance(picked, str | int) or isinstance(picked, bool) or not str(picked).isdigit():
            return False, no_update, html.Span("pick a version to roll back to", className="text-danger"), no_update
        if ctx.triggered_id == "parameters-rollback":
            return True, f"Make a new active version equal to version {picked}? The engine uses it from its next cycle.", \
                no_update, no_update
        context = get_context()
        try:
            ps = rollback(context.store, int(picked), web_actor(), text_or_default(note, ""), clock=context.clock)
        except ParamsError as exc:
            return False, no_update, html.Span(str(exc), className="text-danger"), no_update
        msg = html.Span(f"rolled back: version {ps.version_id} (equal to version {picked}) is now active",
                        className="text-success", id="parameters-applied")
        return False, no_update, msg, pv.active_ref(context.store)
