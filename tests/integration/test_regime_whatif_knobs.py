"""The Regime page's what-if knobs on a real app: each bad box says what is wrong (the typed text and the
schema's allowed range) and the run is refused until it is fixed; valid knob values become pending edits."""
from __future__ import annotations

from typing import Any

import pytest

from engine.auth import principal
from engine.clock import ManualClock
from engine.runtime import build_context
from engine.settings import load_settings

MRD = "StabilityConfiguration|main|minimum_regime_duration"
HYST = "StabilityConfiguration|main|hysteresis_buffer"
MARGIN = "StabilityConfiguration|main|transition_margin"
WINDOW = "StabilityConfiguration|main|confirmation_window"
REVERSALS = "TransitionManagement|main|allow_direct_reversals"


@pytest.fixture()
def app(tmp_path):  # type: ignore[no-untyped-def]
    from app import create_app

    settings = load_settings(database_url=f"sqlite:///{tmp_path}/web.db", engine_mode="none")
    ctx = build_context(settings, with_source=False, migrate=True, clock=ManualClock())
    application = create_app(settings, context=ctx)
    yield application
    ctx.store.dispose()


def _ids(*keys: str) -> list[dict[str, str]]:
    return [{"type": "regime-knob-num", "key": k} for k in keys]


def test_bad_knob_text_is_named_under_its_box_and_adds_no_edit(app) -> None:  # type: ignore[no-untyped-def]
    from webapp.regime_whatif_page import collect_edits

    with app.server.test_request_context("/"), principal.acting_as(principal.Principal("v", "viewer", "x")):
        edits, table, errors, invalid = collect_edits(
            ["-5", "abc", "7", "4"], [True], None, None, None, _ids(MRD, HYST, MARGIN, WINDOW),
            [{"type": "regime-knob-bool", "key": REVERSALS}])
    assert edits == {WINDOW: 4.0, REVERSALS: True}  # confirmation_window active 5, reversals active FALSE
    assert errors == ["'-5' is below the allowed range: enter a number from 15 to 120 (minutes)",
                      "'abc' is not a number: enter a number from 0.02 to 0.15 (ratio)",
                      "'7' is above the allowed range: enter a number from 0.05 to 0.2 (ratio)", None]
    assert invalid == [True, True, True, False]
    text = str(table.to_plotly_json())
    assert "3 knob value(s) to fix before a run" in text and "minimum regime duration: '-5' is below" in text
    assert "confirmation_window" in text


def test_valid_knob_text_becomes_a_typed_edit_and_the_active_value_none(app) -> None:  # type: ignore[no-untyped-def]
    from webapp.regime_whatif_page import collect_edits

    with app.server.test_request_context("/"), principal.acting_as(principal.Principal("v", "viewer", "x")):
        edits, table, errors, invalid = collect_edits(["0.1", "30"], [], {"edits": {MARGIN: 0.1}}, None, None,
                                                      _ids(HYST, MRD), [])
    assert edits == {MARGIN: 0.1, HYST: 0.1}  # 30 is the active minimum_regime_duration
    assert errors == [None, None] and invalid == [False, False]
    assert "to fix" not in str(table.to_plotly_json())


def test_the_run_is_refused_while_a_knob_is_bad(app) -> None:  # type: ignore[no-untyped-def]
    from webapp.regime_whatif_page import run_whatif_preview

    progress: list[Any] = []
    with app.server.test_request_context("/"), principal.acting_as(principal.Principal("v", "viewer", "x")):
        body, fig, style = run_whatif_preview(progress.append, 1, {}, "390", None, None,
                                              ["-5", "abc", "7", "0.1"], _ids(MRD, HYST, MARGIN, WINDOW))
        assert body.id == "regime-whatif-error" and style == {"display": "none"}
        text = str(body.children)
        assert text.startswith("Fix the knob values first (nothing was run)")
        for part in ("minimum regime duration: '-5' is below the allowed range: enter a number from 15 to 120",
                     "hysteresis buffer: 'abc' is not a number", "transition margin: '7' is above the allowed range",
                     "confirmation window: '0.1' is below the allowed range: enter a number from 3 to 15"):
            assert part in text, part
        # fixed: the knob check passes and the run goes on to the history (none stored in this app)
        body, _fig, _style = run_whatif_preview(progress.append, 1, {}, "390", None, None, ["40", "0.1", "0.1"],
                                                _ids(MRD, HYST, MARGIN))
    assert "Fix the knob values" not in str(body.children) and "no index instrument stored yet" in str(body.children)


def test_a_parameters_table_edit_kept_by_its_row_key_reaches_the_what_if(app) -> None:  # type: ignore[no-untyped-def]
    """The Parameters page keys a table cell by its row's key (=LONG_AGGRESSIVE): the what-if writes it by the row's
    place in the active version (defaults: LONG_AGGRESSIVE is the 4th row, index 3); an edit whose row is gone is
    left out instead of failing the page."""
    from webapp.regime_whatif_page import collect_edits

    stored = {"TradingRisk|bias_size_multipliers|=LONG_AGGRESSIVE|size_multiplier": "0.5",
              "TradingRisk|bias_size_multipliers|=NO_SUCH_BIAS|size_multiplier": "0.7", MARGIN: 0.1}
    with app.server.test_request_context("/"), principal.acting_as(principal.Principal("v", "viewer", "x")):
        edits, table, errors, invalid = collect_edits([], [], stored, None, None, [], [])
    assert edits == {"TradingRisk|bias_size_multipliers|3|size_multiplier": "0.5", MARGIN: 0.1}
    assert "row 4" in str(table.to_plotly_json())
