"""The page shell: navigation bar and page headers."""
from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from components.ids import shell as ids

NAV_ORDER = ["Overview", "Regime", "Parameters", "Planner", "Health", "Trading", "Risk", "Performance", "Backtest", "Audit",
             "Users"]
ADMIN_PAGES = {"Users"}  # shown in the navigation to admins only (the page and its callbacks check too)


def user_menu(user: str, role: str, csrf: str) -> html.Div:
    """Who is logged in, their role, a logout button (this session) and "Log out everywhere" (every session of the
    user, e.g. after a lost laptop): POST forms carrying the CSRF token."""
    return html.Div([
        html.Span([html.Span(user, id=ids.NAV_USER), " ", dbc.Badge(role, color="secondary", id=ids.NAV_ROLE)],
                  className="text-light small me-2"),
        html.Form([dcc.Input(type="hidden", name="csrf_token", value=csrf),
                   html.Button("Log out", type="submit", id=ids.NAV_LOGOUT, className="btn btn-outline-light btn-sm")],
                  method="POST", action="/logout", className="d-inline"),
        html.Form([dcc.Input(type="hidden", name="csrf_token", value=csrf),
                   html.Button("Log out everywhere", type="submit", id=ids.NAV_LOGOUT_EVERYWHERE,
                               title="End every session of this user, on every browser and device",
                               className="btn btn-link btn-sm text-light")],
                  method="POST", action="/logout/everywhere", className="d-inline ms-1"),
    ], className="d-flex align-items-center")


def navbar(pages: list[dict], user: str = "", role: str = "", csrf: str = "") -> dbc.Navbar:
    ordered = sorted(
        (p for p in pages if p["name"] in NAV_ORDER and (role == "admin" or p["name"] not in ADMIN_PAGES)),
        key=lambda p: NAV_ORDER.index(p["name"])
    )
    links = [dbc.NavItem(dbc.NavLink(p["name"], href=p["relative_path"], active="exact", id=f"nav-{p['name'].lower()}"))
             for p in ordered]
    return dbc.Navbar(
        dbc.Container([dbc.NavbarBrand("RegimeDesk", href="/"), dbc.Nav(links, navbar=True, className="me-auto"),
                       user_menu(user, role, csrf) if user else html.Div()],
                      fluid=True),
        color="dark", dark=True, className="mb-2",
    )


def page_header(title: str, subtitle: str = "") -> html.Div:
    return html.Div([html.H3(title, className="mb-0"), html.Div(subtitle, className="text-muted small")],
                    className="mb-3")


def read_only_note(note_id: str, text: str) -> dbc.Alert:
    """Shown to a role that may look but not change: the server refuses the change anyway."""
    return dbc.Alert(text, color="secondary", className="py-1 small mb-2", id=note_id)
