"""Layout of the Regime page's factories: the transitions heatmap is as tall as its rows need (no blank band under
it), and the what-if pending-edits table wraps long names and values inside its column instead of spilling out.

The expected heights are worked out by hand from the rule: 40 px of title, 30 px per regime shown, and under the
cells either one line of level names (36 px, up to 3 regimes) or 45-degree names (34 px + 3.9 px per character
of the longest name, rounded)."""
from __future__ import annotations

import pandas as pd

from components import regime_views as views
from components import regime_whatif_views as wv

CATALOGUE = ["Strong_Bearish_High_Vol", "Bearish_Med_Vol", "Neutral_Low_Vol", "Bullish_Low_Vol", "Bullish_Med_Vol",
             "Sideways_High_Vol", "Strong_Bullish_Low_Vol"]


def ring(names: list[str]) -> pd.DataFrame:
    """A transition matrix over CATALOGUE in which each of `names` changes once to the next one (a cycle)."""
    m = pd.DataFrame(0, index=CATALOGUE, columns=CATALOGUE, dtype=int)
    for a, b in zip(names, names[1:] + names[:1], strict=True):
        m.loc[a, b] += 1
    return m


def test_heatmap_height_for_three_regimes_keeps_level_names() -> None:
    names = ["Bearish_Med_Vol", "Neutral_Low_Vol", "Bullish_Low_Vol"]
    fig = views.transition_heatmap(ring(names))
    assert fig.layout.height == 166  # 40 title + 3 x 30 cells + 36 one line of names and "to"
    assert fig.layout.margin.t == 40 and fig.layout.margin.b == 36
    assert fig.layout.xaxis.tickangle is None  # level names: plotly tilts them only if a narrow window needs it
    assert list(fig.data[0].y) == ["Bearish_Med_Vol", "Neutral_Low_Vol", "Bullish_Low_Vol"]


def test_heatmap_height_for_six_regimes_follows_the_longest_tilted_name() -> None:
    names = ["Strong_Bearish_High_Vol", "Bearish_Med_Vol", "Neutral_Low_Vol", "Bullish_Low_Vol", "Bullish_Med_Vol",
             "Sideways_High_Vol"]
    fig = views.transition_heatmap(ring(names))
    # "Strong_Bearish_High_Vol" has 23 characters: 34 + round(3.9 * 23) = 34 + 90 = 124 under the cells
    assert fig.layout.margin.b == 124
    assert fig.layout.height == 344  # 40 + 6 x 30 + 124
    assert fig.layout.xaxis.tickangle == -45
    assert fig.layout.xaxis.automargin and fig.layout.yaxis.automargin  # a label longer than planned is not cut
    assert fig.layout.yaxis.autorange == "reversed"
    assert len(fig.data[0].x) == 6 and "(6)" in fig.layout.title.text


def test_heatmap_grows_with_each_regime_and_never_keeps_the_old_fixed_height() -> None:
    six = views.transition_heatmap(ring(CATALOGUE[:6])).layout.height
    seven = views.transition_heatmap(ring(CATALOGUE)).layout.height
    assert seven - six == 30  # same longest name: one more row of cells
    assert views.transition_heatmap(ring(["Bullish_Low_Vol", "Neutral_Low_Vol"])).layout.height == 136  # 40+60+36


def test_heatmap_without_transitions_is_a_short_note() -> None:
    fig = views.transition_heatmap(pd.DataFrame(0, index=CATALOGUE, columns=CATALOGUE, dtype=int))
    assert fig.layout.height == 100  # the title and the note, not a 360 px empty plot
    assert "no regime change" in fig.layout.annotations[0].text
    assert fig.layout.xaxis.visible is False and fig.layout.yaxis.visible is False


def _find(node: object, type_name: str) -> list[dict]:
    """Every component of type `type_name` in a to_plotly_json() tree."""
    found: list[dict] = []
    if isinstance(node, dict):
        if node.get("type") == type_name:
            found.append(node)
        for value in node.values():
            found += _find(value, type_name)
    elif isinstance(node, list | tuple):
        for item in node:
            found += _find(item, type_name)
    elif hasattr(node, "to_plotly_json"):
        found += _find(node.to_plotly_json(), type_name)
    return found


def test_edits_table_wraps_inside_its_column() -> None:
    long_value = "MULTI_FACTOR_" + "X" * 120
    rows = [{"label": "TransitionManagement · transition_detection_method", "old": "MULTI_FACTOR", "new": long_value},
            {"label": "StabilityConfiguration · hysteresis_buffer", "old": 0.05, "new": 0.1}]
    out = wv.edits_table(rows)
    tables = _find(out, "Table")
    assert len(tables) == 1
    props = tables[0]["props"]
    style = props["style"]
    assert style["tableLayout"] == "fixed" and style["width"] == "100%"  # widths from the colgroup, not the cells
    assert style["overflowWrap"] == "anywhere"  # an unbroken value breaks inside its cell
    assert not props.get("responsive")  # nothing to scroll sideways: it fits
    widths = [c["props"]["style"]["width"] for c in _find(out, "Col")]
    assert widths == ["46%", "27%", "27%"]
    text = str(out.to_plotly_json())
    # the text itself is untouched (no inserted break characters): tests and copy-paste read the real key
    assert long_value in text and "transition_detection_method" in text and "0.05" in text and "0.1" in text
    assert [h["props"]["children"] for h in _find(out, "Th")] == ["Parameter", "Active", "Pending"]


def test_edits_table_without_rows_is_a_line_of_text() -> None:
    assert _find(wv.edits_table([]), "Table") == []
    assert "no pending edits" in str(wv.edits_table([]).to_plotly_json())
    assert "no edits" in str(wv.edits_table([], "x.xlsx").to_plotly_json())
