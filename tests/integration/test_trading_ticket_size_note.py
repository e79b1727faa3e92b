"""The ticket's Size note speaks of the symbol and side it was asked for: changing either clears it."""
from __future__ import annotations

from tests import web_requests as wr
from tests.auth_helpers import login_client


def test_a_new_symbol_or_side_clears_the_size_note(test_settings, any_db_url) -> None:  # type: ignore[no-untyped-def]
    from app import create_app

    app = create_app(test_settings(database_url=any_db_url, warmup_polls=0), start_engine=False)
    client = login_client(app, "trader")
    dep = wr.find(wr.dependencies(client), "trading-ticket-size-note.children")
    values = {"trading-ticket-size.n_clicks": 1, "trading-ticket-symbol.value": "ALFA",
              "trading-ticket-side.value": "buy"}
    sized = wr.call(client, dep, values, trigger="trading-ticket-size.n_clicks").get_json()["response"]
    assert "ALFA" in str(sized["trading-ticket-size-note"]["children"])  # Size answered for ALFA
    for changed in ("trading-ticket-symbol.value", "trading-ticket-side.value"):
        got = wr.call(client, dep, {**values, "trading-ticket-symbol.value": "BRVO"}, trigger=changed).get_json()
        assert got["response"]["trading-ticket-size-note"]["children"] == ""
        assert "trading-ticket-qty" not in got["response"]  # the typed quantity stays
