"""The audit trail is searched on the server over the whole history: filters, pages, CSV (trader+)."""
from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from engine import audit
from tests import web_requests as wr
from tests.auth_helpers import login_client


@pytest.fixture
def audit_app(test_settings, any_db_url):  # type: ignore[no-untyped-def]
    """An app whose store holds 1,200 automatic planner events and 30 operator events on known days."""
    from app import create_app
    from webapp.context import EXTENSION_KEY

    app = create_app(test_settings(database_url=any_db_url, warmup_polls=10), start_engine=False)
    store = app.server.extensions[EXTENSION_KEY].store
    day = datetime(2026, 11, 2, 12, tzinfo=UTC)
    with store.write() as s:
        for i in range(1200):
            audit.record(s, day + timedelta(seconds=i), "system:planner", "order.submit", target=f"ALFA-{i}",
                         details={"qty": i, "limits": {"gross": 1.5}})
        for i in range(30):
            audit.record(s, day + timedelta(days=1, seconds=i), "web:alice", "control.pause", target="REDUCING",
                         details={"reason": f"test {i}"}, outcome="refused" if i % 3 == 0 else "ok")
    return app


def test_filters_and_pages_reach_the_whole_history(audit_app) -> None:  # type: ignore[no-untyped-def]
    client = login_client(audit_app, "viewer")
    dep = wr.find(wr.dependencies(client), "audit-grid.rowData")

    def fetch(**values: object) -> dict:
        named = {f"audit-filter-{k}.value": v for k, v in values.items() if k in ("user", "action", "kind", "outcome")}
        if "page" in values:
            named["audit-page.data"] = values["page"]
        for k in ("start_date", "end_date"):
            if k in values:
                named[f"audit-filter-dates.{k}"] = values[k]
        response = wr.call(client, dep, named)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        return response.get_json()["response"]

    everything = fetch()
    # 1,230 events (the viewer's creation and own login are users./auth. rows: admins only): newest page first
    assert everything["audit-count"]["children"] == "events 1–100 of 1230"
    assert (everything["audit-prev"]["disabled"], everything["audit-next"]["disabled"]) == (True, False)
    last = fetch(page=12)
    assert last["audit-count"]["children"] == "events 1201–1230 of 1230"
    assert (last["audit-prev"]["disabled"], last["audit-next"]["disabled"]) == (False, True)  # the oldest page
    assert last["audit-grid"]["rowData"][-1]["target"] == "ALFA-0"  # the oldest event is reachable
    automatic = fetch(kind="automatic")
    assert automatic["audit-count"]["children"].endswith("of 1200")
    refused = fetch(user="alice", outcome="refused")
    assert refused["audit-count"]["children"] == "events 1–10 of 10"  # i % 3 == 0 for i in 0..29
    row = refused["audit-grid"]["rowData"][0]
    assert row["details"] == "reason: test 27" and row["kind"] == "operator"
    planner = fetch(action="order.", start_date="2026-11-02", end_date="2026-11-02", page=0)
    assert planner["audit-count"]["children"].endswith("of 1200")
    assert "limits.gross: 1.5" in planner["audit-grid"]["rowData"][0]["details"]
    assert fetch(start_date="2026-11-04")["audit-count"]["children"] == "no events here (0 match)"  # admins' rows


def test_csv_download_is_for_traders_and_holds_every_filtered_row(audit_app) -> None:  # type: ignore[no-untyped-def]
    assert login_client(audit_app, "viewer").get("/audit.csv").status_code == 403
    response = login_client(audit_app, "trader").get("/audit.csv?kind=automatic")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 1200 and {r["actor"] for r in rows} == {"system:planner"}
    assert rows[0]["target"] == "ALFA-1199" and rows[-1]["target"] == "ALFA-0"
    hostile = login_client(audit_app, "admin").get("/audit.csv?since=" + "x" * 5000 + "&kind[]=1")
    assert hostile.status_code == 200  # unusable filters are ignored, never a 500


def test_the_last_date_and_a_forged_page_number_are_answered(audit_app) -> None:  # type: ignore[no-untyped-def]
    """A "to" date of 9999-12-31 (the date picker lets one type it) means no upper bound, in the grid and the
    CSV; a page number past any store (forged) starts again at the newest page instead of failing."""
    client = login_client(audit_app, "trader")
    csv_all = client.get("/audit.csv?until=9999-12-31&kind=automatic")
    assert csv_all.status_code == 200, csv_all.get_data(as_text=True)[:300]
    assert len(list(csv.reader(io.StringIO(csv_all.get_data(as_text=True))))) == 1 + 1200
    dep = wr.find(wr.dependencies(client), "audit-grid.rowData")
    response = wr.call(client, dep, {"audit-filter-dates.end_date": "9999-12-31", "audit-filter-kind.value": "automatic"})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.get_json()["response"]["audit-count"]["children"] == "events 1–100 of 1200"
    turn = wr.find(wr.dependencies(client), "audit-page.data")
    forged = wr.call(client, turn, {"audit-page.data": 10**30}, trigger="audit-next.n_clicks")
    assert forged.status_code == 200, forged.get_data(as_text=True)[:300]
    assert forged.get_json()["response"]["audit-page"]["data"] == 1  # page 0 (the newest), then one older


def test_sign_in_and_user_rows_are_for_admins_only(audit_app) -> None:  # type: ignore[no-untyped-def]
    """auth.* rows (who logged in from where, lockouts, a password typed into the name box) and users.* rows: an
    admin sees them on the page and in the CSV; a viewer's page and a trader's CSV leave them out, also when asked
    for by name."""
    def page_actions(role: str, action: str = "") -> list[str]:
        client = login_client(audit_app, role)
        dep = wr.find(wr.dependencies(client), "audit-grid.rowData")
        response = wr.call(client, dep, {"audit-filter-action.value": action} if action else {})
        assert response.status_code == 200
        body = response.get_json()["response"]
        rows = [r["action"] for r in body["audit-grid"]["rowData"]]
        return rows if action else rows + [o["value"] for o in body.get("audit-filter-action", {}).get("options", [])]

    admin = page_actions("admin")
    assert "auth.login" in admin and "users.add" in admin
    viewer = page_actions("viewer")
    assert not [a for a in viewer if a.startswith(("auth.", "users."))] and "control.pause" in viewer
    assert page_actions("viewer", action="auth.") == []
    trader_csv = login_client(audit_app, "trader").get("/audit.csv?action=auth.").get_data(as_text=True)
    assert trader_csv.strip().splitlines() == [",".join(("id", "ts", "actor", "role", "source", "kind", "action",
                                                         "target", "outcome", "details"))]
    admin_csv = login_client(audit_app, "admin").get("/audit.csv?action=auth.").get_data(as_text=True)
    assert ",auth.login," in admin_csv
