"""The Regime what-if replays the Parameters page's row deletions and additions as Apply makes them, counts
them as row changes, and reads "per day" over the market's session (XNYS 390 minutes, 210 on an early close;
the workbook's 09:15-15:30 = 375 minutes without an exchange), never a 1,440-minute day."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from engine.market.exchange import MarketCalendar, alpaca_calendar
from engine.params import default_params
from webapp import param_rows
from webapp import param_views as pv
from webapp import regime_whatif as rw
from webapp.regime_whatif import WhatIfError, apply_edits

PS = default_params()
RULES = "TransitionRules|main"
HYST = "StabilityConfiguration|main|hysteresis_buffer"


def _rule_ids(ps) -> list[int]:  # type: ignore[no-untyped-def]
    return [int(r["rule_id"]) for r in ps.to_canonical()["sheets"]["TransitionRules"]["main"]]


def test_deleted_rows_are_deleted_in_the_candidate() -> None:
    # the defaults hold rules 1..25; deleting rules 1-5 (by their keys) leaves 6..25
    edits = {RULES: {"deleted": ["=1", "=2", "=3", "=4", "=5"], "added": []}, HYST: 0.1}
    cand = apply_edits(PS, edits)
    assert _rule_ids(cand) == list(range(6, 26))
    assert cand.sheet("StabilityConfiguration").hysteresis_buffer == 0.1


def test_an_added_row_is_filled_by_its_place_in_the_table_as_edited() -> None:
    blank = dict.fromkeys(PS.to_canonical()["sheets"]["TransitionRules"]["main"][0], "")
    row = {"rule_id": 99, "from_regime": "Neutral_Low_Vol", "to_regime": "Neutral_Med_Vol", "min_confidence": 0.5,
           "max_duration": 30, "required_signals": 2, "priority": 3, "description": "mine"}
    edits = {RULES: {"deleted": ["=25"], "added": [blank]}}
    edits |= {f"{RULES}|24|{name}": value for name, value in row.items()}  # 24 rules kept, the new one is index 24
    assert _rule_ids(apply_edits(PS, edits)) == [*range(1, 25), 99]


def test_the_candidate_is_what_apply_would_store() -> None:
    origin = pv.origin_sheets(PS, None)
    stored: dict = {}
    for _ in range(5):
        stored = param_rows.delete_row(pv.schema(), origin, stored, "TransitionRules", "main", 0)
    applied, issues = pv.validate_candidate(PS.schema, pv.candidate_sheets(PS, stored))
    assert issues == [] and applied is not None
    assert apply_edits(PS, stored).content_hash == applied.content_hash


def test_a_deleted_row_that_is_gone_refuses_the_run_by_name() -> None:
    with pytest.raises(WhatIfError, match="deleting NO_SUCH_RULE: that row is no longer in the table"):
        apply_edits(PS, {RULES: {"deleted": ["=NO_SUCH_RULE"], "added": []}})


def test_row_changes_are_counted_as_rows_not_as_one_edit() -> None:
    edits = {RULES: {"deleted": ["=1", "=2", "=3", "=4", "=5"], "added": [{}]}, HYST: 0.1}
    assert rw.edits_words(edits) == "1 pending edit(s) + TransitionRules: 5 row(s) deleted, 1 row(s) added"
    assert rw.edits_words({HYST: 0.1, "StabilityConfiguration|main|confirmation_window": 4}) == "2 pending edit(s)"


def _times(*starts: datetime, n: int = 3) -> pd.Series:
    return pd.Series([s + timedelta(minutes=i) for s in starts for i in range(n)])


def test_session_minutes_of_an_exchange_are_its_regular_session() -> None:
    # Tue 2026-03-03 09:30-16:00 ET = 390 min; Fri 2026-11-27 (after Thanksgiving) closes 13:00 = 210 min
    assert rw.session_minutes_for(alpaca_calendar(), _times(datetime(2026, 3, 3, 14, 30, tzinfo=UTC)), PS) == 390.0
    assert rw.session_minutes_for(alpaca_calendar(), _times(datetime(2026, 11, 27, 14, 30, tzinfo=UTC)), PS) == 210.0
    # three sessions, one early: the median, 390
    three = _times(datetime(2026, 11, 24, 15, tzinfo=UTC), datetime(2026, 11, 25, 15, tzinfo=UTC),
                   datetime(2026, 11, 27, 15, tzinfo=UTC))
    assert rw.session_minutes_for(alpaca_calendar(), three, PS) == 390.0


def test_session_minutes_without_an_exchange_are_the_workbooks() -> None:
    # MasterConfiguration defaults: open 09:15, close 15:30 -> 375 minutes (what max_transitions_per_day counts in)
    utc = MarketCalendar(timezone="UTC")
    assert rw.session_minutes_for(utc, _times(datetime(2026, 3, 3, 14, 30, tzinfo=UTC)), PS) == 375.0
    assert rw.session_minutes_for(None, pd.Series([], dtype="datetime64[ns, UTC]"), PS) == 375.0
