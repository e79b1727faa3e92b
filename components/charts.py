"""Plotly figure factories with one house style."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

LAYOUT = {"margin": {"l": 40, "r": 10, "t": 30, "b": 30}, "template": "plotly_white", "height": 320,
          "uirevision": "keep", "legend": {"orientation": "h", "y": 1.1}}


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
