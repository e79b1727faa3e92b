"""Settings come from the environment; a bad value fails at start-up with one line naming the variable."""
from __future__ import annotations

import subprocess
import sys

import pytest

from engine.settings import (
    PROJECT_ROOT,
    BrokerName,
    EngineMode,
    MarketSourceName,
    SettingsError,
    load_settings,
)


def test_defaults_are_the_embedded_offline_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("REGIMEDESK_DATABASE_URL", "DATABASE_URL", "REGIMEDESK_BROKER", "REGIMEDESK_MARKET_SOURCE"):
        monkeypatch.delenv(var, raising=False)
    settings = load_settings()
    assert settings.database_url.startswith("sqlite:///") and settings.database_url.endswith("data/regimedesk.db")
    assert settings.market_source is MarketSourceName.SIMULATED
    assert settings.broker is BrokerName.PAPER
    assert settings.engine_mode is EngineMode.EMBEDDED
    assert (settings.host, settings.port) == ("127.0.0.1", 8050)
    assert (settings.rollback_window_bars, settings.rollback_manual_versions) == (390, False)


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGIMEDESK_PORT", "9001")
    monkeypatch.setenv("REGIMEDESK_ENGINE_MODE", "none")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@127.0.0.1/db")
    settings = load_settings()
    assert settings.port == 9001 and settings.engine_mode is EngineMode.NONE
    assert settings.database_url == "postgresql://u@127.0.0.1/db"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("REGIMEDESK_PORT", "abc", "REGIMEDESK_PORT"),
        ("REGIMEDESK_PORT", "70000", "REGIMEDESK_PORT"),
        ("REGIMEDESK_MARKET_SOURCE", "bloomberg", "REGIMEDESK_MARKET_SOURCE"),
        ("REGIMEDESK_BROKER", "ibkr", "REGIMEDESK_BROKER"),
        ("REGIMEDESK_DATABASE_URL", "mysql://x", "REGIMEDESK_DATABASE_URL"),
        ("REGIMEDESK_ENGINE_MODE", "sometimes", "REGIMEDESK_ENGINE_MODE"),
        ("REGIMEDESK_MARKET_SOURCE", "csv", "REGIMEDESK_CSV_DIR"),
        ("REGIMEDESK_BROKER", "alpaca", "APCA_API_KEY_ID"),
        ("REGIMEDESK_ROLLBACK_WINDOW_BARS", "30", "REGIMEDESK_ROLLBACK_WINDOW_BARS"),  # below the 60-bar minimum
        ("REGIMEDESK_ROLLBACK_MANUAL_VERSIONS", "perhaps", "REGIMEDESK_ROLLBACK_MANUAL_VERSIONS"),
    ],
)
def test_bad_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str,
                                        expected: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert expected in str(error.value)
    assert "\n" not in str(error.value)


def test_live_trading_needs_alpaca_for_both_broker_and_market(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGIMEDESK_ALPACA_LIVE", "1")
    monkeypatch.setenv("APCA_API_KEY_ID", "key")
    monkeypatch.setenv("APCA_API_SECRET_KEY", "very-secret-value")
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert "REGIMEDESK_ALPACA_LIVE" in str(error.value)
    monkeypatch.setenv("REGIMEDESK_BROKER", "alpaca")
    with pytest.raises(SettingsError):
        load_settings()  # the simulated market refuses live mode too
    monkeypatch.setenv("REGIMEDESK_MARKET_SOURCE", "alpaca")
    settings = load_settings()
    assert settings.alpaca_live and "very-secret-value" not in repr(settings)


def test_app_start_fails_with_one_clear_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = subprocess.run([sys.executable, "app.py"], env={"REGIMEDESK_PORT": "not-a-port", "PATH": "/usr/bin"},
                            capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "configuration error: REGIMEDESK_PORT: Input should be a valid integer, unable to parse string as an "
        "integer (got 'not-a-port')"
    ]
