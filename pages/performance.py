"""Performance: equity curve, drawdown from peak, and fills, from the stored account snapshots."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, dcc, html, no_update

from components import formatting as fmt
from components.cards import kpi_card
from components.charts import empty_figure, line_figure
from components.shell import page_header
from components.tables import records_grid
from engine.auth.roles import Role
from webapp import queries
from webapp.auth.access import requires

dash.register_page(__name__, path="/performance", name="Performance", order=6)

FILL_COLUMNS = [{"field": "ts", "headerName": "ts (market clock, UTC)"}] + [  # see the clock note under the banner
    {"field": c} for c in ("symbol", "side", "qty", "price", "commission", "client_order_id")]


def layout(**_kwargs: object) -> html.Div:
    return html.Div([
        page_header("Performance", "Equity, drawdown from peak and fills"),
        dcc.Interval(id="performance-interval", interval=3000),
        dbc.Row([
            dbc.Col(kpi_card("Return since first snapshot", "performance-return"), md=4),
            dbc.Col(kpi_card("Drawdown from peak", "performance-drawdown", "performance-peak"), md=4),
            dbc.Col(kpi_card("Fills", "performance-fills-count", "performance-commission"), md=4),
        ], className="g-2 mb-2"),
        dcc.Graph(id="performance-equity", figure=empty_figure("waiting for account snapshots…")),
        dcc.Graph(id="performance-drawdown-chart", figure=empty_figure("")),
        html.H6("Fills"),
        records_grid("performance-fills", FILL_COLUMNS, height=300),
    ])


@dash.callback(
    Output("performance-equity", "figure"), Output("performance-drawdown-chart", "figure"),
    Output("performance-return", "children"), Output("performance-drawdown", "children"),
    Output("performance-peak", "children"), Output("performance-fills", "rowData"),
    Output("performance-fills-count", "children"), Output("performance-commission", "children"),
    Input("performance-interval", "n_intervals"),
)
@requires(Role.VIEWER)
def refresh_performance(_n: int | None):  # type: ignore[no-untyped-def]
    history = queries.account_history()
    fills = queries.fills()
    fill_rows = [{**f, "ts": fmt.timestamp(f["ts"])} for f in fills]
    commission = f"commission {fmt.money(sum(f['commission'] for f in fills))}"
    if history.empty:
        return no_update, no_update, "—", "—", "", fill_rows, str(len(fills)), commission
    history["peak"] = history["equity"].cummax()
    history["drawdown_pct"] = (history["equity"] / history["peak"] - 1.0) * 100.0
    first, last = history["equity"].iloc[0], history["equity"].iloc[-1]
    return (
        line_figure(history, "ts", ["equity", "peak"], "Equity and running peak"),
        line_figure(history, "ts", ["drawdown_pct"], "Drawdown from peak (%)", height=220),
        fmt.pct((last / first - 1.0) * 100.0), fmt.pct(history["drawdown_pct"].iloc[-1]),
        f"peak {fmt.money(history['peak'].iloc[-1])}", fill_rows, str(len(fills)), commission,
    )
