"""The Planner page's send outcome table (webapp.planner_views.outcomes_view) for a plan whose steps went out
sliced: each row says "sliced" with the parent and its schedule, and the summary counts it as sent."""
from __future__ import annotations

from engine.planner.execute import SendOutcome


def test_sliced_steps_show_as_sliced_with_their_parent() -> None:
    from webapp.planner_callbacks import NOT_SENT
    from webapp.planner_views import outcomes_view

    outcomes = [SendOutcome("AAA", "sell", 30.0, "new", "sent (rd-1)"),
                SendOutcome("BBB", "buy", 1000.0, "sliced",
                            "sliced: parent 7 (twap: 6 children over 30 min, 14:31-15:01 UTC)"),
                SendOutcome("CCC", "buy", 5.0, "blocked", "trading is REDUCING: only exits are sent")]
    rows = str(outcomes_view(outcomes))
    assert "Badge(children='sliced', color='info')" in rows
    assert "sliced: parent 7 (twap: 6 children over 30 min, 14:31-15:01 UTC)" in rows
    assert "Td('1,000')" in rows and "Badge(children='new', color='success')" in rows
    assert [o.symbol for o in outcomes if o.status not in NOT_SENT] == ["AAA", "BBB"]  # "2 of 3 order(s) sent"
