"""Plotly figure factories with one house style."""
from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from dash import dcc


def _house_template() -> go.layout.Template:
    """plotly_white with the parts that must never overlap placed apart: the title top-left in the top margin,
    the mode bar upright in the right margin, the legend in one row below the plot (LAYOUT leaves room)."""
    template = go.layout.Template(pio.templates["plotly_white"])
    template.layout.title = {"x": 0, "xref": "container", "xanchor": "left", "y": 1, "yref": "container",
                             "yanchor": "top", "pad": {"t": 8, "l": 8}, "font": {"size": 14}}
    template.layout.modebar = {"orientation": "v"}
    return template


pio.templates["regimedesk"] = _house_template()
CONFIG: dcc.Graph.Config = {"displaylogo": False}  # dcc.Graph(config=CONFIG): no plotly logo in the mode bar
LAYOUT = {"margin": {"l": 40, "r": 36, "t": 40, "b": 70}, "template": "regimedesk", "height": 320,
          "uirevision": "keep", "legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": 0, "yref": "container",
                                           "yanchor": "bottom"}}


def graph(graph_id: str, figure: go.Figure, **options: Any) -> dcc.Graph:
    """The house graph: a dcc.Graph whose mode bar never shows the plotly logo (CONFIG)."""
    return dcc.Graph(id=graph_id, figure=figure, config=CONFIG, **options)


def price_figure(frame: pd.DataFrame, title: str, bands: list[dict] | None = None) -> go.Figure:
    """Candles of an OHLC frame (timestamp, open, high, low, close); optional coloured regime bands."""
    fig = go.Figure(go.Candlestick(x=frame["timestamp"], open=frame["open"], high=frame["high"],
                                   low=frame["low"], close=frame["close"], name=title))
    for band in bands or []:
        fig.add_vrect(x0=band["x0"], x1=band["x1"], fillcolor=band["color"], opacity=0.18, line_width=0,
                      layer="below")
    fig.update_layout(title=title, xaxis_rangeslider_visible=False, **LAYOUT)
    return fig


def line_figure(frame: pd.DataFrame, x: str, ys: list[str], title: str, height: int = 320) -> go.Figure:
    fig = go.Figure([go.Scatter(x=frame[x], y=frame[y], mode="lines", name=y) for y in ys])
    fig.update_layout(title=title, **{**LAYOUT, "height": height})
    return fig


def empty_figure(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(xaxis_visible=False, yaxis_visible=False, **LAYOUT)
    return fig
