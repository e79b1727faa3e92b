"""User preset names a trader cannot tell apart (audit 24, finding 3), on SQLite and PostgreSQL: a name with a blank
Hangul filler or a braille blank, one mixing Cyrillic or Greek letters into a Latin name, or a look-alike of a built-in
or of another user preset is refused; whitespace is normalised ("my  preset" is "my preset"); a preset stored under
such a name before these rules keeps working (a new version, a rename to a clean name)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.planner.preset import PresetError
from engine.planner.preset_store import list_presets, rename_user_preset, save_user_preset
from engine.planner.synthetic import NOW
from engine.store.db import Store
from engine.store.models import PlannerPresetVersion

BUILT_INS = ["aggressive", "conservative", "default"]
REFUSED = {
    "default\u3164": "character 8 \\(U\\+3164\\) shows as a blank",  # HANGUL FILLER
    "swing\u2800": "character 6 \\(U\\+2800\\) shows as a blank",  # BRAILLE PATTERN BLANK
    "swing\u115f": "character 6 \\(U\\+115F\\) shows as a blank",  # HANGUL CHOSEONG FILLER
    "my\u3164preset": "character 3 \\(U\\+3164\\) shows as a blank",
    "d\u0435fault": "mixes Cyrillic and Latin letters",  # Cyrillic е
    "\u0455wing": "mixes Cyrillic and Latin letters",  # Cyrillic ѕ
    "\u03bfne": "mixes Greek and Latin letters",  # Greek ο
    "\u0430ggr\u0435ssiv\u0435": "mixes Cyrillic and Latin letters",
    "DEFAUIT": "looks like the built-in preset 'default'",  # capital I for l
}


def user_names(store: Store) -> list[str]:
    with store.read() as s:
        return sorted(n for n in list_presets(s) if n not in BUILT_INS)


@pytest.mark.parametrize("name", list(REFUSED))
def test_blank_mixed_script_and_built_in_lookalike_names_are_refused(store: Store, name: str) -> None:
    with pytest.raises(PresetError, match=REFUSED[name]):
        save_user_preset(store, NOW, "tess", name, "default", {}, {})
    assert user_names(store) == []


def test_whitespace_is_normalised_and_lookalikes_of_user_presets_refused(store: Store) -> None:
    assert save_user_preset(store, NOW, "tess", "my preset", "default", {}, {}) == 1
    assert save_user_preset(store, NOW, "tess", "my  preset", "default", {"risk_appetite": 0.3}, {}) == 2
    assert save_user_preset(store, NOW, "tess", " my \u2003 preset ", "default", {}, {}) == 3
    assert save_user_preset(store, NOW, "tess", "set", "default", {}, {}) == 1
    with pytest.raises(PresetError, match="mixes Cyrillic and Latin letters"):
        save_user_preset(store, NOW, "tess", "\u0455\u0435t", "default", {}, {})  # Cyrillic ѕ е + Latin t
    with pytest.raises(PresetError, match="reads the same as user preset 'set'"):
        save_user_preset(store, NOW, "tess", "\u0405\u0415\u0422", "default", {}, {})  # all Cyrillic "SET"
    with pytest.raises(PresetError, match="reads the same as user preset 'my preset'"):
        rename_user_preset(store, NOW, "tess", "set", "MY PRESET")
    assert user_names(store) == ["my preset", "set"]


def test_names_stored_before_the_rules_keep_working(store: Store) -> None:
    with store.write() as s:  # stored by an earlier release, as the audit found them
        for name in ("d\u0435fault", "my  preset", "swing\u2800"):
            s.add(PlannerPresetVersion(name=name, version=1, created_at=NOW, author="old", base="default",
                                       sliders={}, overrides={}, note=""))
    assert user_names(store) == ["d\u0435fault", "my  preset", "swing\u2800"]
    # a new version under the exact stored name, even though the name rules refuse the name for a new preset
    assert save_user_preset(store, NOW, "tess", "my  preset", "default", {"risk_appetite": 0.2}, {}) == 2
    assert save_user_preset(store, NOW, "tess", "d\u0435fault", "default", {}, {}) == 2
    # a rename to a clean name migrates it; a rename to another look-alike is refused
    with pytest.raises(PresetError, match="shows as a blank"):
        rename_user_preset(store, NOW, "tess", "swing\u2800", "swing\u3164")
    assert rename_user_preset(store, NOW + timedelta(minutes=1), "tess", "d\u0435fault", "cautious") == "cautious"
    assert rename_user_preset(store, NOW + timedelta(minutes=1), "tess", "swing\u2800", "swing") == "swing"
    assert user_names(store) == ["cautious", "my  preset", "swing"]
    with store.read() as s:
        assert [v for (v,) in s.execute(select(PlannerPresetVersion.version)
                                        .where(PlannerPresetVersion.name == "cautious")
                                        .order_by(PlannerPresetVersion.version))] == [1, 2]


def test_the_page_saves_under_the_normalised_name_and_keeps_a_stored_one(store: Store, any_db_url: str) -> None:
    """The page's Save: a typed "my  preset" is saved (and selected) as "my preset"; a name stored before the rules
    gets a new version under its exact spelling instead of "Not saved"."""
    from engine.clock import ManualClock  # local import: only this test builds the web app
    from tests.planner_page_fixtures import trader_request  # local import: builds the app on its own store
    from webapp.planner_preset_callbacks import save_outputs  # local import: needs the app

    with store.write() as s:
        s.add(PlannerPresetVersion(name="d\u0435fault", version=1, created_at=NOW, author="old", base="default",
                                   sliders={}, overrides={}, note=""))
    with trader_request(any_db_url, ManualClock(NOW)):
        message, _options, _users, selected = save_outputs("my  preset", "default", [0.5] * 6, [], None, None)
        assert "Saved 'my preset' version 1" in str(message) and selected == "my preset"
        message, _options, _users, selected = save_outputs("d\u0435fault", "default", [0.5] * 6, [], None, None)
        assert "Saved 'd\u0435fault' version 2" in str(message) and selected == "d\u0435fault"
        message, *_rest = save_outputs("d\u0435fault\u3164", "default", [0.5] * 6, [], None, None)
        assert "Not saved" in str(message) and "shows as a blank" in str(message)
    assert user_names(store) == ["d\u0435fault", "my preset"]
