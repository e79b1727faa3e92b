"""`python -m engine params ...`: exit codes and Sheet!Cell lines, on a real SQLite and a real PostgreSQL store."""
import subprocess
import sys
from pathlib import Path

import pytest

from engine.params import default_params
from engine.params.cli import main
from engine.params.testing import REFERENCE, edit_cells, hostile, reference_bytes
from engine.params.versions import active_params, apply_version
from engine.store.migrate import open_store
from engine.trading.risk_limits import RiskLimits
from engine.tuning.edit import edited

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def db(monkeypatch, any_db_url):
    monkeypatch.setenv("REGIMEDESK_DATABASE_URL", any_db_url)
    return any_db_url


@pytest.fixture
def broken(tmp_path) -> Path:
    p = tmp_path / "broken.xlsx"
    p.write_bytes(edit_cells(reference_bytes(), {"ATRIndicatorsConfig!B2": 99, "IntradaySettings!B4": "09:20"}))
    return p


def test_validate_valid_and_invalid(capsys, broken):
    assert main(["validate", str(REFERENCE)]) == 0
    out = capsys.readouterr().out
    assert "valid" in out and "values mapped: 1522" in out and "errors: 0" in out
    assert main(["validate", str(broken)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("ATRIndicatorsConfig!B2: ") for line in lines)
    assert any(line.startswith("IntradaySettings!B4: ") for line in lines)


def test_validate_refused_file_and_usage(capsys, tmp_path):
    bad = tmp_path / "macro.xlsx"
    bad.write_bytes(hostile("xlsm_macro"))
    assert main(["validate", str(bad)]) == 1
    assert "macros" in capsys.readouterr().out
    assert main(["frobnicate"]) == 2


def test_import_export_diff_list_rollback(capsys, db, tmp_path, broken):
    assert main(["import", str(REFERENCE), "--note", "from git"]) == 0
    assert "active parameter version: 1" in capsys.readouterr().out
    assert main(["import", str(broken)]) == 1  # invalid: nothing applied
    capsys.readouterr()
    edited = tmp_path / "edited.xlsx"
    edited.write_bytes(edit_cells(reference_bytes(), {"ATRIndicatorsConfig!B2": 20}))
    assert main(["import", str(edited)]) == 0
    assert "active parameter version: 2" in capsys.readouterr().out
    out1 = tmp_path / "v1.xlsx"
    assert main(["export", "--version", "1", "--out", str(out1)]) == 0 and out1.stat().st_size > 10_000
    assert main(["diff", "1", "2"]) == 0
    out = capsys.readouterr().out
    assert "ATRIndicatorsConfig!B2 main.atr_period: 14 -> 20" in out and "1 difference" in out
    assert main(["diff", str(out1), "2"]) == 0  # a file against a version
    assert "1 difference" in capsys.readouterr().out
    assert main(["rollback", "1", "--note", "undo"]) == 0
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "rollback" in out and "cli:" in out
    assert main(["export", "--version", "42", "--out", str(tmp_path / "x.xlsx")]) == 1
    assert main(["export", "--template", "--out", str(tmp_path / "template.xlsx")]) == 0
    assert main(["validate", str(tmp_path / "template.xlsx")]) == 0


def test_dispatch_through_python_m_engine(tmp_path, broken):
    ok = subprocess.run([sys.executable, "-m", "engine", "params", "validate", str(REFERENCE)], cwd=ROOT,
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = subprocess.run([sys.executable, "-m", "engine", "params", "validate", str(broken)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "ATRIndicatorsConfig!B2:" in bad.stdout


def test_import_keeps_the_sheets_the_file_lacks_from_the_active_version(capsys, db):
    """The user's 31-sheet workbook has no TradingRisk sheet (RegimeDesk adds it): `params import` keeps the
    active version's trading limits (1,000 notional, 10 shares, 0.5% daily loss, set by hand) instead of resetting
    them to the schema defaults (250,000 / 10,000 / 3%)."""
    store = open_store(db, migrate=True)
    try:
        tight = edited(default_params(), {("TradingRisk", "main", "max_order_notional"): 1000,
                                          ("TradingRisk", "main", "max_order_qty"): 10,
                                          ("TradingRisk", "main", "daily_loss_limit_pct"): 0.5})
        apply_version(store, tight, "test", "cli")
        assert main(["import", str(REFERENCE)]) == 0
        assert "kept from the active version 1 (not in the file): TradingRisk" in capsys.readouterr().out
        with store.read() as s:
            limits = RiskLimits.from_params(active_params(s))
        assert (limits.max_order_notional, limits.max_order_qty, limits.daily_loss_limit_pct) == (1000, 10, 0.5)
    finally:
        store.dispose()


def test_rollback_if_active_refuses_when_another_version_is_active(capsys, db, tmp_path):
    """Versions 1 (the reference) and 2 (atr_period 20). `rollback 1 --if-active 1` decided on version 1, but 2 is
    active: exit 1, nothing applied (2 stays active), the refusal audited. `--if-active 2` rolls back: version 3,
    equal to 1, and it says it replaced version 2."""
    from sqlalchemy import select  # local import: only this test reads the audit table

    from engine.store.models import AuditEvent  # local import: only this test reads the audit table

    assert main(["import", str(REFERENCE)]) == 0
    edited_file = tmp_path / "edited.xlsx"
    edited_file.write_bytes(edit_cells(reference_bytes(), {"ATRIndicatorsConfig!B2": 20}))
    assert main(["import", str(edited_file)]) == 0
    capsys.readouterr()
    assert main(["rollback", "1", "--if-active", "1"]) == 1
    assert "version 2 became active after you started from version 1; nothing was applied" in capsys.readouterr().out
    store = open_store(db, migrate=True)
    try:
        with store.read() as s:
            assert active_params(s).version_id == 2
            refused = s.scalars(select(AuditEvent).where(AuditEvent.action == "params.rollback",
                                                         AuditEvent.outcome == "refused")).all()
        assert len(refused) == 1
        assert main(["rollback", "1", "--if-active", "2"]) == 0
        assert "active parameter version: 3 (equal to version 1; it replaced version 2)" in capsys.readouterr().out
        with store.read() as s:
            assert active_params(s).version_id == 3
    finally:
        store.dispose()
