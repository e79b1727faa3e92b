"""'Pause entries' reads as what happened: REDUCING (entries paused), in the result line, the banner and the badge."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from components.cards import state_label
from engine.trading.control_types import ControlResult
from engine.trading.state import TradingState
from webapp.banner import banner_content
from webapp.control_actions import describe


def _result(status: str, state: TradingState | None, message: str = "all steps done") -> ControlResult:
    return ControlResult(command_id=7, action="pause", actor="web:alice", status=status, state=state, message=message)


def test_state_label_says_what_reducing_means() -> None:
    assert state_label("REDUCING") == "REDUCING (entries paused)"
    assert state_label(TradingState.REDUCING) == "REDUCING (entries paused)"
    assert state_label("ACTIVE") == "ACTIVE"


def test_pause_result_says_entries_paused() -> None:
    assert describe(_result("done", TradingState.REDUCING)) == (
        "pause done. Trading is now REDUCING (entries paused).", "success")
    assert describe(_result("pending", TradingState.REDUCING, "")) == (
        "pause accepted (pending); its steps update live on the Trading page. "
        "Trading is REDUCING (entries paused) so far.", "info")
    assert describe(_result("done", TradingState.ACTIVE)) == ("pause done. Trading is now ACTIVE.", "success")


def test_banner_names_the_paused_state() -> None:
    now = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    state = {"state": "REDUCING", "reason": "FOMC at 2pm", "changed_by": "web:alice",
             "changed_at": now - timedelta(seconds=30)}
    children, _ = banner_content(state, now)
    assert children[0].children == "Trading REDUCING (entries paused)"
