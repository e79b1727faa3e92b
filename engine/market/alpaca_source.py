"""Alpaca market data: 1-minute stock bars and option-chain snapshots, polled with timeouts.

Why polling: one HTTP request per tick is simple to reason about, survives restarts via
``resume_after`` and needs no websocket. Bars are requested from just after the last bar seen
per symbol (but never earlier than ``late_bars`` before the previous request, so a symbol with no
trades does not drag every request back days), so a tick returns only new bars; a symbol whose last bar is older than
``stale_after`` is reported stale (data is flagged, never invented).

Requests: every request takes a slot from the key's shared rate limiter (alpaca_limits), and a
poll (bars, every page, the chain) ends by one deadline (``deadline_s``,
REGIMEDESK_ALPACA_DATA_TIMEOUT_S): a slow answer is abandoned, flagged, and the next tick retries.
Bars for all symbols come in one multi-symbol request of up to 10,000 bars per page, so the
warm-up of a fresh store is one poll (``warmup_polls = 1``) of a few pages, not one poll per minute.

Option chains come from ``/v1beta1/options/snapshots/{underlying}``, filtered by Alpaca (expiries
within ``chain_max_days``, strikes within ``chain_strike_pct`` of spot, the configured options feed),
paged, and fetched every ``chain_seconds`` (not every tick). A chain whose spot is unknown (no bar of
the underlying yet) is not requested: it is skipped with a data-quality warning (``chain_errors``),
and the bars of the tick are kept. Snapshots become an OptionChain in alpaca_chain.py (no open
interest or volume: NaN; vega and theta rescaled to per 1.00 of vol and per year).

Market time: the source trades on XNYS (``calendar``, America/New_York).
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from alpaca.data.historical.option import OptionHistoricalDataClient
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.models import BarSet
from alpaca.data.requests import OptionChainRequest, StockBarsRequest
from alpaca.data.timeframe import TimeFrame

from engine.clock import Clock, SystemClock
from engine.market.alpaca_chain import build_chain, expiry_today, parse_occ
from engine.market.exchange import MarketCalendar, alpaca_calendar
from engine.market.types import Bar, MarketDataError, MarketUpdate, OptionChain
from engine.trading.brokers.alpaca_http import classify, describe, harden_client, secret_value
from engine.trading.brokers.alpaca_limits import DEFAULT_PER_MINUTE, RateLimiter, call_budget, limiter_for

__all__ = ["DEFAULT_INDEX", "DEFAULT_SYMBOLS", "AlpacaMarketSource", "build_alpaca_source", "build_chain",
           "data_url_for", "parse_occ"]  # build_chain, parse_occ: re-exported from alpaca_chain

log = logging.getLogger(__name__)
ONE_MINUTE = timedelta(minutes=1)


class AlpacaMarketSource:
    """MarketSource over Alpaca's market data API (bars: /v2/stocks/bars; options: /v1beta1 snapshots)."""

    name = "alpaca"

    def __init__(
        self,
        api_key: str,
        secret_key: str,
        symbols: Sequence[str],
        index_symbol: str,
        url_override: str | None = None,
        timeout_s: float = 5.0,
        option_underlyings: Sequence[str] = (),
        *,
        clock: Clock | None = None,
        stale_after: timedelta = timedelta(minutes=5),
        history: timedelta = timedelta(days=3),
        feed: str | None = None,
        market_open: Callable[[], bool] | None = None,
        sdk_retry_wait_s: float | None = None,
        late_bars: timedelta = timedelta(minutes=2),
        deadline_s: float | None = None,
        limiter: RateLimiter | None = None,
        options_feed: str | None = None,
        chain_seconds: float = 60.0,
        chain_max_days: int = 45,
        chain_strike_pct: float = 10.0,
        max_requests_per_poll: int = 20,
    ) -> None:
        if not api_key or not secret_key:
            raise MarketDataError("Alpaca market data: APCA_API_KEY_ID and APCA_API_SECRET_KEY are required.")
        base = url_override.rstrip("/").removesuffix("/v2") if url_override else None
        self.host = base or "data.alpaca.markets"
        self._symbols = [s.upper() for s in symbols]
        self._index = index_symbol.upper()
        self._all = list(dict.fromkeys([*self._symbols, self._index]))
        self._underlyings = [u.upper() for u in option_underlyings]
        self._clock = clock or SystemClock()
        self._stale_after = stale_after
        self._history = history
        self._feed = feed
        self._market_open = market_open
        self.deadline_s = float(deadline_s) if deadline_s is not None else max(2.0 * timeout_s, 1.0)
        self.limiter = limiter  # None: unlimited (tests); the build_* functions pass the key's shared limiter
        self._options_feed = options_feed
        self.chain_seconds = chain_seconds
        self.chain_max_days = chain_max_days
        self.chain_strike_pct = chain_strike_pct
        self.max_requests_per_poll = max_requests_per_poll
        self._chain_fetched: dict[str, datetime] = {}  # underlying -> when its chain was last fetched (cache)
        self._stocks = StockHistoricalDataClient(api_key, secret_key, url_override=base)
        self._options = OptionHistoricalDataClient(api_key, secret_key, url_override=base)
        for client in (self._stocks, self._options):
            harden_client(client, timeout_s, sdk_retry_wait_s, limiter=self.limiter, default_call_s=self.deadline_s)
        self._last_ts: dict[str, datetime] = {}
        self._last_close: dict[str, float] = {}
        self._resume_from: datetime | None = None
        self._fetched_at: datetime | None = None  # when the last successful bar request was made
        self._late_bars = late_bars
        self.chain_errors: dict[str, str] = {}

    warmup_polls = 1  # one poll fetches the whole history window (multi-symbol, 10,000 bars a page)
    bar_seconds = 60.0  # finished 1-minute bars only: new data arrives once a minute (the dead-man's cadence)
    wall_clock_bars = True  # bar times are real times: the stale-data check also ages a lagging feed by them
    calendar: MarketCalendar = alpaca_calendar()

    def __repr__(self) -> str:
        return f"AlpacaMarketSource(host={self.host!r}, symbols={self._all!r})"

    def option_underlyings(self) -> list[str]:
        return list(self._underlyings)

    def rate_budget(self) -> dict[str, Any]:
        return self.limiter.snapshot() if self.limiter is not None else {}

    def symbols(self) -> list[str]:
        return list(self._symbols)

    def index_symbol(self) -> str:
        return self._index

    def resume_after(self, last_ts: datetime | None) -> None:
        """Continue after the last stored bar (all symbols); None restarts from ``history`` ago."""
        self._last_ts.clear()
        self._fetched_at = None
        self._resume_from = last_ts
        if last_ts is not None:
            for s in self._all:
                self._last_ts[s] = last_ts

    def poll(self) -> MarketUpdate:
        """New bars (and chains when due), all within one deadline and ``max_requests_per_poll`` requests."""
        now = self._clock.now()
        with call_budget(self.deadline_s, self.max_requests_per_poll, label="alpaca market poll"):
            bars = self._new_bars(now)
            for b in bars:  # state moves only after the fetch succeeded
                self._last_ts[b.symbol] = max(self._last_ts.get(b.symbol, b.ts), b.ts)
                self._last_close[b.symbol] = b.close
            update = MarketUpdate(bars=bars, stale_symbols=self._stale(now))
            for u in self._underlyings:
                fetched = self._chain_fetched.get(u)
                if fetched is not None and (now - fetched).total_seconds() < self.chain_seconds:
                    continue  # the stored chain is recent enough: no request
                spot = self._last_close.get(u, math.nan)
                if not math.isfinite(spot) or spot <= 0:
                    self.chain_errors[u] = (f"option chain of {u} skipped: its spot is unknown (no bar of {u} yet); "
                                            "options analytics wait for the first bar")
                    log.warning("%s", self.chain_errors[u])
                    continue
                try:
                    update.chains.append(self._chain(u, now, spot))
                    self._chain_fetched[u] = now
                    self.chain_errors.pop(u, None)
                except MarketDataError as exc:
                    self.chain_errors[u] = str(exc)
                    log.warning("%s", exc)
        return update

    def _new_bars(self, now: datetime) -> list[Bar]:
        default_start = self._resume_from + ONE_MINUTE if self._resume_from else now - self._history
        starts = [self._last_ts[s] + ONE_MINUTE if s in self._last_ts else default_start for s in self._all]
        start = min(starts)
        if self._fetched_at is not None:  # a symbol without trades must not drag every poll back days
            start = max(start, self._fetched_at - self._late_bars)
        feed: dict[str, Any] = {"feed": self._feed} if self._feed else {}
        request = StockBarsRequest(symbol_or_symbols=self._all, timeframe=TimeFrame.Minute, start=start, **feed)
        try:
            barset = self._stocks.get_stock_bars(request)
        except Exception as exc:
            if classify(exc) is None:
                raise
            raise MarketDataError(
                f"Alpaca market data ({self.host}): could not fetch 1-minute bars for {', '.join(self._all)}: "
                f"{describe(exc)}. Check the API keys, the data feed subscription and the network; "
                "the next tick retries."
            ) from exc
        if not isinstance(barset, BarSet):  # the client is never in raw-data mode; a dict here is a library change
            raise MarketDataError(f"Alpaca market data ({self.host}): unexpected bars response {type(barset).__name__}")
        out = []
        for symbol, rows in barset.data.items():
            last = self._last_ts.get(symbol)
            for r in rows:
                ts = r.timestamp.astimezone(UTC)
                if ts + ONE_MINUTE > now:
                    continue  # the minute is still forming: take it next poll, complete
                if last is None or ts > last:
                    out.append(Bar(symbol, ts, float(r.open), float(r.high), float(r.low), float(r.close), float(r.volume)))
        out.sort(key=lambda b: (b.ts, b.symbol))
        self._fetched_at = now
        return out

    def _stale(self, now: datetime) -> list[str]:
        if self._market_open is not None and not self._market_open():
            return []
        limit = now - self._stale_after - ONE_MINUTE  # a bar is stamped at its open
        return [s for s in self._all if self._last_ts.get(s) is None or self._last_ts[s] < limit]

    def chain_request(self, underlying: str, now: datetime, spot: float) -> OptionChainRequest:
        """Only what the regime modules use: expiries within chain_max_days, strikes within chain_strike_pct of spot."""
        today = expiry_today(now)  # New York's date: after 19:00 there UTC's is already tomorrow
        band = spot * self.chain_strike_pct / 100.0
        feed: dict[str, Any] = {"feed": self._options_feed} if self._options_feed else {}
        return OptionChainRequest(
            underlying_symbol=underlying, expiration_date_gte=today,
            expiration_date_lte=today + timedelta(days=self.chain_max_days),
            strike_price_gte=round(spot - band, 2), strike_price_lte=round(spot + band, 2),
            **feed,
        )

    def _chain(self, underlying: str, now: datetime, spot: float) -> OptionChain:
        try:
            snaps = self._options.get_option_chain(self.chain_request(underlying, now, spot))
        except Exception as exc:
            if classify(exc) is None:
                raise
            raise MarketDataError(
                f"Alpaca market data ({self.host}): could not fetch the option chain of {underlying}: "
                f"{describe(exc)}. Options analytics for {underlying} are skipped this tick."
            ) from exc
        return build_chain(underlying, snaps, spot, now)


DEFAULT_SYMBOLS = ("SPY", "QQQ", "IWM", "AAPL", "MSFT", "NVDA", "AMZN", "JPM")
DEFAULT_INDEX = "SPY"


def _names(value: Any, default: Sequence[str]) -> list[str]:
    """A symbol list from a setting that may be a comma-separated string, a sequence or missing."""
    if value is None or value == "":
        return list(default)
    items = value.split(",") if isinstance(value, str) else list(value)
    return [str(x).strip().upper() for x in items if str(x).strip()]


def data_url_for(settings: Any) -> str | None:
    """The market-data URL: REGIMEDESK_ALPACA_DATA_URL, else the trading override only when it is not an Alpaca host.

    One override used to serve both, so pointing trading at paper-api.alpaca.markets sent market data
    there too. A local test server (any non-alpaca.markets host) still serves both.
    """
    explicit = getattr(settings, "alpaca_data_url", None)
    if explicit:
        return str(explicit)
    trading = getattr(settings, "alpaca_base_url", None)
    if trading and not (urlsplit(str(trading)).hostname or "").endswith("alpaca.markets"):
        return str(trading)
    return None


def build_alpaca_source(settings: Any, symbols: Sequence[str] | None = None, index_symbol: str | None = None,
                        option_underlyings: Sequence[str] | None = None, clock: Clock | None = None) -> AlpacaMarketSource:
    """AlpacaMarketSource from engine settings, read with getattr so absent settings fall back to defaults.

    Reads alpaca_key_id, alpaca_secret_key (SecretStr or str), alpaca_data_url / alpaca_base_url,
    alpaca_data_timeout_s, alpaca_rate_limit_per_minute, alpaca_symbols, alpaca_index_symbol,
    alpaca_option_underlyings (comma strings or lists), alpaca_data_feed ("iex" for free accounts,
    "sip" with a subscription), alpaca_options_feed ("indicative" free, "opra" subscribed),
    alpaca_chain_seconds, alpaca_chain_max_days, alpaca_chain_strike_pct.
    """
    index = (index_symbol or getattr(settings, "alpaca_index_symbol", None) or DEFAULT_INDEX).upper()
    key = secret_value(getattr(settings, "alpaca_key_id", None)) or ""
    deadline = float(getattr(settings, "alpaca_data_timeout_s", None) or 8.0)
    feed = getattr(settings, "alpaca_data_feed", None)
    options_feed = getattr(settings, "alpaca_options_feed", None)
    return AlpacaMarketSource(
        key,
        secret_value(getattr(settings, "alpaca_secret_key", None)) or "",
        symbols if symbols is not None else _names(getattr(settings, "alpaca_symbols", None), DEFAULT_SYMBOLS),
        index,
        url_override=data_url_for(settings),
        timeout_s=float(getattr(settings, "alpaca_timeout_s", None) or max(0.5, deadline / 2)),
        option_underlyings=option_underlyings if option_underlyings is not None
        else _names(getattr(settings, "alpaca_option_underlyings", None), (index,)),
        clock=clock, feed=str(getattr(feed, "value", feed)) if feed else None, deadline_s=deadline,
        limiter=limiter_for(key, float(getattr(settings, "alpaca_rate_limit_per_minute", DEFAULT_PER_MINUTE))),
        options_feed=str(getattr(options_feed, "value", options_feed)) if options_feed else None,
        chain_seconds=float(getattr(settings, "alpaca_chain_seconds", 60.0)),
        chain_max_days=int(getattr(settings, "alpaca_chain_max_days", 45)),
        chain_strike_pct=float(getattr(settings, "alpaca_chain_strike_pct", 10.0)),
    )
