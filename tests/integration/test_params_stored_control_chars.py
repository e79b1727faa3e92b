"""A version stored before edits refused control characters must still load: the engine reads the active version
every cycle, and a refusal there would leave it without parameters. Its texts load with U+FFFD in their place, as
the exporter writes them."""
from __future__ import annotations

import json

from sqlalchemy import update

from engine.params import default_params, versions
from engine.params.catalog import apply_edits
from engine.store.migrate import open_store
from engine.store.models import ParamVersion


def test_a_stored_text_with_a_control_character_loads(any_db_url: str) -> None:
    store = open_store(any_db_url, migrate=True)
    try:
        edited = apply_edits(default_params(), values={("Summary", "main", "validation_source"): "abc"})
        assert edited.paramset is not None, edited
        applied = versions.apply_version(store, edited.paramset, "alice", "ui", "a text to corrupt")
        with store.write() as s:  # as an older release could have stored it
            row = s.get(ParamVersion, applied.version_id)
            assert row is not None
            raw = json.loads(row.values_json)
            raw["sheets"]["Summary"]["main"]["validation_source"] = "ab\x01c"
            s.execute(update(ParamVersion).where(ParamVersion.id == row.id).values(values_json=json.dumps(raw)))
        versions._RECENT.clear()  # a fresh process: nothing parsed yet
        with store.read() as s:
            ps = versions.active_params(s)
        assert ps.version_id == applied.version_id
        assert ps.to_canonical()["sheets"]["Summary"]["main"]["validation_source"] == "ab\ufffdc"
    finally:
        store.dispose()
