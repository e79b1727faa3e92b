"""Chart titles, legends and mode bars placed apart (issue 10, point 6): title top-left in the top margin,
mode bar upright in the right margin, legend in one row below the plot; no plotly logo."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from components.charts import CONFIG, LAYOUT, line_figure
from webapp.performance_display import figure_layout


def test_house_figures_keep_title_legend_and_mode_bar_apart() -> None:
    fig = line_figure(pd.DataFrame({"t": [1, 2, 3], "a": [1.0, 2.0, 1.5], "b": [2.0, 1.0, 0.5]}), "t", ["a", "b"],
                      "Regime durations against RegimeParameters (minutes)")
    layout = go.Figure(fig).layout
    template = layout.template.layout
    assert (template.title.x, template.title.xanchor, template.title.yref, template.title.yanchor) == \
        (0, "left", "container", "top")
    assert template.modebar.orientation == "v"
    assert (layout.legend.orientation, layout.legend.yref, layout.legend.y, layout.legend.yanchor) == \
        ("h", "container", 0, "bottom")
    assert layout.margin.r >= 30 and layout.margin.t >= 40 and layout.margin.b >= 60  # room for bar, title, legend
    assert layout.title.text == "Regime durations against RegimeParameters (minutes)"


def test_performance_dict_figures_use_the_same_house_template() -> None:
    layout = figure_layout("Equity", "market time")
    assert layout["template"]["layout"]["title"]["xanchor"] == "left"
    assert layout["template"]["layout"]["modebar"]["orientation"] == "v"
    assert layout["legend"] == LAYOUT["legend"] and layout["title"] == {"text": "Equity"}


def test_graphs_show_no_plotly_logo() -> None:
    assert CONFIG == {"displaylogo": False}


def test_time_labels_of_an_empty_range_are_empty() -> None:
    from webapp.performance_display import time_labels

    assert time_labels(pd.Series([], dtype=object)) == []  # a symbol with no bars in range: no AttributeError
    stamps = pd.Series(pd.to_datetime(["2026-01-05 19:30:00", "2026-01-05 19:37:05"], utc=True))
    assert time_labels(stamps) == ["2026-01-05 19:30:00", "2026-01-05 19:37:05"]
    assert time_labels(pd.Series(["2026-01-05 19:30:00"], dtype=object)) == ["2026-01-05 19:30:00"]


def test_no_round_trip_yet_gives_no_grid_rows() -> None:
    """A fresh account (snapshots, no closed trip) rendered an AttributeError alert instead of an empty grid."""
    from webapp.performance_data import PerformanceView
    from webapp.performance_display import trip_rows

    empty = pd.DataFrame(columns=["symbol", "direction", "qty", "entry_ts", "entry_price", "exit_ts", "exit_price",
                                  "pnl", "commission", "return"])
    view = PerformanceView(span=None, sample=pd.DataFrame(), chart=pd.DataFrame(), daily=pd.DataFrame(),  # type: ignore[arg-type]
                           metrics={}, definitions={}, trips=empty, fills=[], fill_count=0, commission=0.0,
                           stored_peak=None, latest_equity=None, sample_rows=0)
    assert trip_rows(view) == []
