"""The Planner page under an uncertain regime (RiskControls regime_uncertainty_handling CONSERVATIVE): its header
says why no new exposure is planned, read from the newest stored snapshot's effective regime."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from plotly.utils import PlotlyJSONEncoder

from engine.context import EngineContext
from engine.store.models import RegimeSnapshot
from tests.planner_page_fixtures import NOW, trader_page
from webapp import planner_ids as ids


@pytest.fixture()
def page(tmp_path: Path) -> Iterator[EngineContext]:
    """The app's request context for the trader "tess", on a seeded portfolio."""
    with trader_page(tmp_path) as (app, ctx):
        yield ctx


def _snapshot(ctx: EngineContext, effective: int | None, status: str, reason: str) -> None:
    with ctx.store.write() as s:
        s.add(RegimeSnapshot(ts=NOW, symbol="IDX", regime_id=5, regime_name="Bullish_Low", confidence=0.6,
                             raw_score=0.1, volatility_value=0.1, volatility_class="Low", trend_value=0.01,
                             trend_class="Bullish", time_in_regime_s=60.0, is_transition=False, transition_rule=None,
                             param_version_id=None, modules={}, effective_regime_id=effective,
                             effective_regime_name=None if effective is None else "Bullish_Low",
                             regime_status=status, regime_reason=reason))


def _hold(tree: object) -> object:
    """The children of the REGIME_HOLD element in a layout's JSON form."""
    def walk(node: object) -> object:
        if isinstance(node, dict):
            if node.get("props", {}).get("id") == ids.REGIME_HOLD:
                return node["props"].get("children")
            for v in node.values():
                if (found := walk(v)) is not None:
                    return found
        if isinstance(node, list):
            for v in node:
                if (found := walk(v)) is not None:
                    return found
        return None
    return walk(tree)


def _json(component: object) -> object:
    """A layout as the browser receives it (Dash serialises it with Plotly's JSON encoder)."""
    return json.loads(json.dumps(component, cls=PlotlyJSONEncoder))


def test_the_header_says_why_no_new_exposure_while_uncertain(page: EngineContext) -> None:
    from pages.planner import layout  # local import: needs the app's request context

    _snapshot(page, 5, "agree", "firm")
    assert _hold(_json(layout())) is None  # a regime in force: nothing to say
    _snapshot(page, None, "uncertain", "ensemble says 7, rules say 5, confidence 60% < 85%; CONSERVATIVE handling")
    text = _hold(_json(layout()))
    assert isinstance(text, str) and text.startswith("regime uncertain (rules say Bullish_Low")
    assert "ensemble says 7" in text and "CONSERVATIVE - no new exposure" in text
    assert "regime uncertain" in str(layout().children[0])  # the header's "In force now: default (...)"
