"""engine.planner.types.copy_with stands in for dataclasses.replace on the planner's hot path: it must build the
same object, and it relies on Action and Sequence having no __post_init__ and no slots (a change to either class
that breaks that must fail here, not silently skip a check)."""
from __future__ import annotations

import dataclasses

from engine.planner.types import Action, Sequence, copy_with


def test_copy_with_equals_dataclasses_replace_for_actions_and_sequences() -> None:
    action = Action("AAA", "buy", 10.0, 101.5, 0.25, "momentum", "above its 20-bar high")
    tagged = copy_with(action, pattern="breakout")
    assert tagged == dataclasses.replace(action, pattern="breakout") and type(tagged) is Action
    assert tagged.pattern == "breakout" and action.pattern == ""  # the original is untouched
    assert hash(tagged) == hash(dataclasses.replace(action, pattern="breakout"))
    seq = Sequence("one", (action,), "greedy", relaxed="max_positions")
    assert copy_with(seq, actions=(tagged,)) == dataclasses.replace(seq, actions=(tagged,))
    assert copy_with(seq, actions=(tagged,)).relaxed == "max_positions"


def test_the_classes_keep_what_copy_with_relies_on() -> None:
    for cls in (Action, Sequence):
        assert not hasattr(cls, "__post_init__"), f"{cls.__name__} gained __post_init__: use dataclasses.replace"
        assert "__slots__" not in cls.__dict__, f"{cls.__name__} gained slots: use dataclasses.replace"
        assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
