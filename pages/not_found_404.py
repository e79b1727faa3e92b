"""The 404 page for unknown paths."""
from __future__ import annotations

import dash
from dash import dcc, html

from components.ids import shell as ids

dash.register_page(__name__, path="/404", name="Not found")


def layout(**_kwargs: object) -> html.Div:
    return html.Div([
        html.H3("Page not found"),
        html.P("There is no page at this address."),
        dcc.Link("Back to the overview", href="/"),
    ], id=ids.NOT_FOUND_PAGE)
