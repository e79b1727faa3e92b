"""audit1 defects 3 and 4: user preset names that impersonate a built-in or another preset (case, fullwidth,
invisible characters) or break PostgreSQL (NUL) are refused with a message; simultaneous saves of one preset
on PostgreSQL each get the next version instead of an IntegrityError."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from engine.planner.preset import PresetError
from engine.planner.preset_store import list_presets, preset_versions, rename_user_preset, save_user_preset
from engine.planner.synthetic import NOW
from engine.store.db import Store

REFUSED = {
    "Default": "is a built-in preset \\('default'\\)",
    "DEFAULT": "is a built-in preset \\('default'\\)",
    "Conservative": "is a built-in preset \\('conservative'\\)",
    "ｄｅｆａｕｌｔ": "is a built-in preset \\('default'\\)",  # fullwidth: NFKC folds it to "default"
    "default\u200b": "character 8 \\(U\\+200B\\) is an invisible format character",
    "a\nb": "character 2 \\(U\\+000A\\) is a control character",
    "a\x00b": "character 2 \\(U\\+0000\\) is a control character",
    "a\u2028b": "character 2 \\(U\\+2028\\) is a line break",
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_impersonating_or_invisible_names_are_refused(store: Store, name: str) -> None:
    with pytest.raises(PresetError, match=REFUSED[name]):
        save_user_preset(store, NOW, "tess", name, "default", {}, {})
    with store.read() as s:
        assert sorted(list_presets(s)) == ["aggressive", "conservative", "default"]  # nothing stored


def test_a_name_reading_as_another_user_preset(store: Store) -> None:
    assert save_user_preset(store, NOW, "tess", "Mine", "default", {}, {}) == 1
    for lookalike in ("mine", "MINE", "ｍｉｎｅ"):
        with pytest.raises(PresetError, match=f"'{lookalike}' reads the same as user preset 'Mine'"):
            save_user_preset(store, NOW, "tess", lookalike, "default", {}, {})
    # saving under the exact name adds a version, as before; a visible, distinct unicode name is fine
    assert save_user_preset(store, NOW, "bob", "Mine", "default", {"risk_appetite": 0.2}, {}) == 2
    assert save_user_preset(store, NOW, "tess", "Défaut ✓ 📈", "default", {}, {}) == 1
    assert save_user_preset(store, NOW, "tess", "other", "default", {}, {}) == 1
    with pytest.raises(PresetError, match="'MINE' reads the same as user preset 'Mine'"):
        rename_user_preset(store, NOW + timedelta(minutes=1), "tess", "other", "MINE")
    # renaming a preset to another spelling of its own name is allowed (the old name is marked deleted)
    assert rename_user_preset(store, NOW + timedelta(minutes=2), "tess", "Mine", "MINE") == "MINE"
    with store.read() as s:
        assert sorted(n for n in list_presets(s) if n not in ("aggressive", "conservative", "default")) == [
            "Défaut ✓ 📈", "MINE", "other"]


def test_web_save_says_why(store: Store, any_db_url: str) -> None:
    """The page's save goes through the same rules and answers with a message, never a traceback."""
    from engine.clock import ManualClock  # local import: only this test builds the web app
    from tests.planner_page_fixtures import trader_request  # local import: builds the app on its own store
    from webapp.planner_preset_callbacks import save_user_preset as web_save  # local import: needs the app

    with trader_request(any_db_url, ManualClock(NOW)):
        for name in ("DEFAULT", "a\x00b", "ｄｅｆａｕｌｔ"):
            message, options, users = web_save(name, "default", [0.5] * 6, [], None, None)
            assert "Not saved" in str(getattr(message, "children", message)), name
    with store.read() as s:
        assert sorted(list_presets(s)) == ["aggressive", "conservative", "default"]


def test_concurrent_saves_get_consecutive_versions(store: Store) -> None:
    """Four traders save a version of one preset at the same moment: versions 1-4, each once, no error."""
    errors: list[str] = []
    barrier = threading.Barrier(4, timeout=30)

    def save(i: int) -> None:
        try:
            barrier.wait()
            save_user_preset(store, NOW, f"t{i}", "shared", "default", {"risk_appetite": 0.1 * i}, {})
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(f"{type(exc).__name__}: {str(exc)[:160]}")

    threads = [threading.Thread(target=save, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "a save hung"
    assert errors == []
    with store.read() as s:
        versions = preset_versions(s, "shared")
    assert [v.version for v in versions] == [1, 2, 3, 4]
    assert sorted(v.author for v in versions) == ["t0", "t1", "t2", "t3"]
