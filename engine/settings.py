"""Settings from environment variables (pydantic-settings); bad values fail fast with one clear line.

Every variable is prefixed REGIMEDESK_ except the Alpaca keys, which use Alpaca's own names
(APCA_API_KEY_ID, APCA_API_SECRET_KEY). Secrets are SecretStr: never printed, never logged.
"""
from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# the dead-man threshold's floor: engine.trading.commands.HEARTBEAT_STALE_S (a beat is live until that old)
DEADMAN_MIN_S = 5.0

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class MarketSourceName(StrEnum):
    SIMULATED = "simulated"
    CSV = "csv"
    ALPACA = "alpaca"


class BrokerName(StrEnum):
    PAPER = "paper"
    ALPACA = "alpaca"


class EngineMode(StrEnum):
    EMBEDDED = "embedded"  # the web process runs the engine's scheduler too (python app.py)
    NONE = "none"  # web only; `python -m engine` runs elsewhere against the same database


class DeadmanAction(StrEnum):
    NONE = "none"  # show it in red on every page and notify; change nothing
    REDUCE = "reduce"  # REDUCING (no new exposure) and cancel the orders that would add exposure
    HALT = "halt"  # the kill switch, run by the web: HALTED and every open order cancelled at the broker


AlpacaFeed = Literal["iex", "sip"]
AlpacaOptionsFeed = Literal["indicative", "opra"]


class SettingsError(Exception):
    """A setting is missing or invalid; the message names the environment variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REGIMEDESK_", extra="ignore", frozen=True, validate_by_name=True)

    database_url: str = Field(
        default=f"sqlite:///{PROJECT_ROOT / 'data' / 'regimedesk.db'}",
        validation_alias=AliasChoices("REGIMEDESK_DATABASE_URL", "DATABASE_URL"),
        description="SQLAlchemy URL of the shared store",
    )
    market_source: MarketSourceName = MarketSourceName.SIMULATED
    csv_dir: Path | None = Field(default=None, description="directory of SYMBOL.csv files for market_source=csv")
    csv_index_symbol: str | None = Field(default=None, description="which CSV symbol is the index (default: the first)")
    csv_vol_index_symbol: str | None = Field(
        default=None, description="which CSV file is the implied-volatility index (default: VIX.csv or INDIAVIX.csv)")
    broker: BrokerName = BrokerName.PAPER
    host: str = "127.0.0.1"
    port: int = Field(default=8050, ge=1, le=65535)
    web_threads: int = Field(default=8, ge=1, le=64,
                             description="request threads of `python app.py`'s HTTP worker (gunicorn.conf.py: per worker)")
    engine_mode: EngineMode = EngineMode.EMBEDDED
    secret_key: SecretStr | None = None
    allowed_hosts: str = Field(default="", description="extra Host header values served, comma-separated")
    trusted_proxies: int = Field(default=0, ge=0, le=5, description="reverse proxies whose X-Forwarded-For is trusted")
    session_idle_minutes: float = Field(default=30.0, gt=0, le=24 * 60, description="idle time that ends a login")
    session_max_hours: float = Field(default=12.0, gt=0, le=24 * 30, description="longest a login lasts")
    login_rate_limit: str = Field(default="10 per minute", description="login attempts per client address")
    metrics_token: SecretStr | None = Field(default=None, description="bearer token a Prometheus scrape of /metrics sends")
    cache_url: str = Field(default="", description="'' = in-process cache; redis://host:port/db for several workers")
    cache_ttl_seconds: int = Field(default=1, ge=1, le=3600,
                                   description="how long a cached store query is reused (actions drop theirs at once)")
    tick_seconds: float = Field(default=1.0, gt=0.05, le=3600, description="engine market-data tick period")
    sim_seed: int = 7
    sim_minutes_per_tick: int = Field(default=1, ge=1, le=1440)
    warmup_polls: int = Field(default=600, ge=0, le=1_000_000,
                              description="market polls stored on a fresh store (in chunks, engine/warmup.py)")
    paper_starting_cash: float = Field(default=1_000_000.0, gt=0)
    paper_slippage_bps: float = Field(default=2.0, ge=0, le=500)
    paper_commission_per_share: float = Field(default=0.005, ge=0, le=10)
    paper_participation: float = Field(default=0.25, gt=0, le=1, description="max fraction of a bar's volume one order fills")
    autotrade: bool = Field(default=True, description="the planner submits orders on its own when trading is ACTIVE")
    order_rate_per_second: float | None = Field(default=None, ge=0, le=10_000,
                                                description="orders per second per broker account the gateway sends "
                                                            "(token bucket; 0 = no throttle; default 5 with the Alpaca "
                                                            "broker, off with the paper broker)")
    order_burst: int = Field(default=20, ge=1, le=100_000, description="orders the throttle lets out at once")
    order_throttle_max_wait_s: float = Field(default=5.0, ge=0, le=600,
                                             description="longest an order waits for the throttle before it is refused "
                                                         "(flatten and protective exits always wait)")
    deadman_seconds: float = Field(default=30.0, ge=0, le=86_400,
                                   description="engine heartbeat or market data older than this trips the dead-man's "
                                               "switch (0 = off, else at least 5; the engine beats every 2 s and a "
                                               "standby takes over within 15 s, so keep it above that)")
    engine_blas_threads: int = Field(default=1, ge=1, le=64,
                                     description="threads numpy's BLAS may use in the engine process (1: no spinning "
                                                 "BLAS threads competing with the jobs on a small machine)")
    rollback_window_bars: int = Field(
        default=390, ge=60, le=100_000,
        description="newest live bars of the tuned version and of the version before it that auto-rollback compares")
    rollback_manual_versions: bool = Field(
        default=False, description="auto-rollback may also revert a version a person applied (default: tuned ones only)")
    deadman_action: DeadmanAction = Field(default=DeadmanAction.HALT, description="what the dead-man's switch does")
    notify_urls: SecretStr | None = Field(default=None, description="apprise URLs, separated by whitespace or commas")
    notify_rate_limit: int = Field(default=5, ge=1, le=1000,
                                   description="at most this many notifications per window; the rest are summarised "
                                               "in one message when the window has room (HALT and other failures "
                                               "other than health pages always go at once)")
    notify_rate_window_minutes: float = Field(default=10.0, gt=0, le=1440,
                                              description="the notification rate limit's window, in minutes")
    max_upload_bytes: int = Field(default=5_000_000, ge=10_000, le=100_000_000)
    log_level: str = "INFO"
    alpaca_key_id: SecretStr | None = Field(default=None, validation_alias=AliasChoices("APCA_API_KEY_ID", "REGIMEDESK_ALPACA_KEY_ID"))
    alpaca_secret_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("APCA_API_SECRET_KEY", "REGIMEDESK_ALPACA_SECRET_KEY")
    )
    alpaca_base_url: str | None = Field(default=None, description="URL override, e.g. a local test server")
    alpaca_live: bool = Field(default=False, description="explicit opt-in to live (real money) trading")
    alpaca_data_url: str | None = Field(default=None, description="market-data URL override (default: Alpaca's data host)")
    alpaca_data_feed: AlpacaFeed = Field(default="iex", description="stock bars feed: iex (free) or sip (subscription)")
    alpaca_options_feed: AlpacaOptionsFeed = Field(default="indicative", description="option snapshots: indicative or opra")
    alpaca_order_timeout_s: float = Field(default=10.0, gt=0.2, le=120, description="total deadline of one broker call")
    alpaca_data_timeout_s: float = Field(default=8.0, gt=0.2, le=120, description="total deadline of one market-data poll")
    alpaca_rate_limit_per_minute: float = Field(default=120.0, gt=0, le=10_000,
                                                description="requests per minute per key (Alpaca allows 200)")
    alpaca_extended_hours: bool = Field(default=False, description="send limit orders in pre/after-market sessions")
    alpaca_symbols: str | None = Field(default=None, description="comma-separated symbols (default SPY,QQQ,IWM,AAPL,...)")
    alpaca_index_symbol: str | None = Field(default=None, description="the index the regime engine classifies (SPY)")
    alpaca_option_underlyings: str | None = Field(default=None, description="comma-separated; default the index")
    alpaca_stream: bool = Field(default=True, description="apply Alpaca's trade_updates stream as events arrive")
    alpaca_stream_url: str | None = Field(default=None, description="trade_updates websocket URL override")
    alpaca_poll_seconds: float = Field(default=10.0, ge=1, le=3600, description="market-data poll period with Alpaca")
    alpaca_sync_seconds: float = Field(default=10.0, ge=1, le=3600, description="broker account sync period with Alpaca")
    alpaca_chain_seconds: float = Field(default=60.0, ge=1, le=86_400, description="option chain refresh period")
    alpaca_chain_max_days: int = Field(default=45, ge=1, le=1000, description="option expiries fetched: within N days")
    alpaca_chain_strike_pct: float = Field(default=10.0, gt=0, le=100, description="option strikes fetched: within ±X% of spot")
    market_timezone: str | None = Field(default=None, description="simulated/CSV market's timezone (default: the workbook's)")

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgresql+psycopg2:")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return value

    @field_validator("deadman_seconds")
    @classmethod
    def _deadman_above_a_beat(cls, value: float) -> float:
        if 0 < value < DEADMAN_MIN_S:  # a shorter threshold was accepted but acted on only after 5 s (audit 23)
            raise ValueError(f"must be 0 (off) or at least {DEADMAN_MIN_S:g} seconds: an engine's heartbeat "
                             f"(every 2 s) counts as live until it is {DEADMAN_MIN_S:g} s old, so a shorter "
                             "threshold could not be honoured")
        return value

    @property
    def notify_targets(self) -> list[str]:
        """REGIMEDESK_NOTIFY_URLS split on whitespace and commas (secrets: never log them)."""
        raw = self.notify_urls.get_secret_value() if self.notify_urls else ""
        return [u for u in raw.replace(",", " ").split() if u]

    @field_validator("market_timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        if value:
            from zoneinfo import ZoneInfo

            try:
                ZoneInfo(value)
            except Exception:  # noqa: BLE001 - ZoneInfoNotFoundError, ValueError for odd names
                raise ValueError("must be an IANA timezone name such as America/New_York") from None
        return value or None

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value.upper()

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.market_source is MarketSourceName.CSV and self.csv_dir is None:
            raise ValueError("REGIMEDESK_CSV_DIR: required when REGIMEDESK_MARKET_SOURCE=csv")
        uses_alpaca = BrokerName.ALPACA in (self.broker,) or self.market_source is MarketSourceName.ALPACA
        if uses_alpaca and (self.alpaca_key_id is None or self.alpaca_secret_key is None):
            raise ValueError("APCA_API_KEY_ID / APCA_API_SECRET_KEY: required when the broker or market source is alpaca")
        if self.alpaca_live and (self.broker is not BrokerName.ALPACA or self.market_source is not MarketSourceName.ALPACA):
            raise ValueError(
                "REGIMEDESK_ALPACA_LIVE: live trading needs REGIMEDESK_BROKER=alpaca and REGIMEDESK_MARKET_SOURCE=alpaca; "
                "the simulated market and paper broker refuse to run live"
            )
        return self

    @property
    def extra_allowed_hosts(self) -> frozenset[str]:
        return frozenset(h.strip().lower() for h in self.allowed_hosts.split(",") if h.strip())

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite:")


def _variable_name(loc: tuple) -> str:
    field = str(loc[0]) if loc else ""
    info = Settings.model_fields.get(field)
    if info is not None and isinstance(info.validation_alias, AliasChoices):
        return str(info.validation_alias.choices[0])
    return f"REGIMEDESK_{field.upper()}" if field else ""


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment (overrides win); raise SettingsError with one line per problem.
    Overrides are any field's value in any form the environment could give (pydantic validates them)."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = _variable_name(err.get("loc", ()))
            message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            given = err.get("input")
            shown = "" if name.startswith("APCA_") or isinstance(given, dict) else f" (got {given!r})"
            lines.append(f"{name}: {message}{shown}" if name else message)
        raise SettingsError("; ".join(lines)) from None
