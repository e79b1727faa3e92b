"""The regime classifies regular-session bars only when the source trades on an exchange (Alpaca: XNYS).

Alpaca's minute bars include pre-market and after-hours trades: a "session" then started at the 07:00 bar and
the previous session's pivots took in thin after-hours prints. The oracle is exchange-calendars' own minute list
(side "left": a bar opening at 09:30 is in, one opening at 16:00 is out), over a DST switch, an early close, a
holiday and a weekend."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import exchange_calendars as xcals
import numpy as np
import pandas as pd

from engine.clock import ManualClock
from engine.market.exchange import MarketCalendar, alpaca_calendar, regular_session_bars
from engine.market.types import Bar, MarketUpdate
from engine.regime_stage import RegimeStage
from engine.runtime import build_context
from engine.settings import load_settings

START = datetime(2026, 10, 29, 8, 0, tzinfo=UTC)  # Thursday before the US DST end (Sunday 1 November)


def _minutes(start: datetime, days: int) -> pd.Series:
    return pd.Series(pd.date_range(start, start + timedelta(days=days), freq="1min", inclusive="left", tz="UTC"))


def test_the_regular_session_mask_agrees_with_exchange_calendars() -> None:
    oracle = xcals.get_calendar("XNYS", side="left")
    for start, days in ((START, 7), (datetime(2026, 11, 24, tzinfo=UTC), 6)):  # DST end; Thanksgiving + early close
        times = _minutes(start, days)
        expected = times.isin(oracle.minutes_in_range(times.iloc[0], times.iloc[-1]))
        got = alpaca_calendar().regular_session_mask(times)
        assert got.sum() > 0 and np.array_equal(got, expected.to_numpy())
    around_the_clock = MarketCalendar(timezone="UTC")
    assert around_the_clock.regular_session_mask(_minutes(START, 1)).all()


class _AlpacaLikeSource:
    """What the regime stage asks of a source: its symbols, its index and its exchange calendar."""

    calendar = alpaca_calendar()

    def symbols(self) -> list[str]:
        return ["IDX"]

    def index_symbol(self) -> str:
        return "IDX"


def _bars(times: pd.Series) -> list[Bar]:
    rng = np.random.default_rng(5)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, len(times))))
    return [Bar("IDX", t.to_pydatetime(), c, c * 1.001, c * 0.999, c, 1_000.0) for t, c in zip(times, close, strict=True)]


def test_the_live_regime_stage_skips_pre_market_and_after_hours_bars(any_db_url: str) -> None:
    ctx = build_context(load_settings(database_url=any_db_url), with_source=False, migrate=True, clock=ManualClock(START))
    ctx.source = _AlpacaLikeSource()  # type: ignore[assignment]  # the stage reads only the three members above
    times = _minutes(START, 2)  # Thursday 04:00 New York to Saturday: pre-market, two sessions, after-hours
    stage = RegimeStage()
    stage.run(ctx, MarketUpdate(bars=_bars(times)))
    assert stage.classifier is not None
    fed = pd.to_datetime(stage.classifier.buf.ts, utc=True)
    regular = regular_session_bars(pd.DataFrame({"timestamp": times}), alpaca_calendar())["timestamp"]
    assert len(fed) == len(regular) == 2 * 390  # two whole sessions, nothing before 09:30 or from 16:00
    assert (fed == pd.DatetimeIndex(regular)).all()
