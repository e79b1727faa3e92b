"""The page shell: navigation bar and page headers."""
from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

NAV_ORDER = ["Overview", "Regime", "Parameters", "Planner", "Health", "Trading", "Performance", "Audit"]


def navbar(pages: list[dict]) -> dbc.Navbar:
    ordered = sorted(
        (p for p in pages if p["name"] in NAV_ORDER), key=lambda p: NAV_ORDER.index(p["name"])
    )
    links = [dbc.NavItem(dbc.NavLink(p["name"], href=p["relative_path"], active="exact", id=f"nav-{p['name'].lower()}"))
             for p in ordered]
    return dbc.Navbar(
        dbc.Container([dbc.NavbarBrand("RegimeDesk", href="/"), dbc.Nav(links, navbar=True, className="me-auto")],
                      fluid=True),
        color="dark", dark=True, className="mb-2",
    )


def page_header(title: str, subtitle: str = "") -> html.Div:
    return html.Div([html.H3(title, className="mb-0"), html.Div(subtitle, className="text-muted small")],
                    className="mb-3")
