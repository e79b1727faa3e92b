"""What a backtest runs on: market data, a date range, starting cash, a parameter set and a planner preset.

Every loader turns bad input into a BacktestError whose one-line message names the file and where
in it (CSV line and column, workbook Sheet!Cell), so the CLI and the page can show it as is.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from engine.market.csv_source import load_ohlcv_csv, vol_index_key
from engine.market.csv_vol_index import load_vol_index_csv
from engine.market.types import MarketDataError
from engine.params import ParamSet
from engine.params.errors import ParamsError, ValidationError
from engine.params.safety import UploadLimits
from engine.params.versions import get_version
from engine.params.workbook import load_workbook_params
from engine.planner.api import (
    BUILT_IN_PRESETS,
    PlannerPreset,
    PresetError,
    list_presets,
    load_preset,
    regime_preset_table,
)
from engine.store.db import Store
from engine.store.models import BarRow, Instrument

MIN_CASH = 100.0
MAX_CASH = 1e12  # starting cash above this (or not finite) overflows the exact decimal arithmetic of the broker
MIN_BARS = 2  # index bars a run's range must hold
KNOWN_INDEXES = ("SPY", "IDX")


class BacktestError(Exception):
    """Bad backtest input or a run that cannot proceed; the message is one line a trader can act on."""


class BacktestCancelled(Exception):
    """The user cancelled the run (the page's cancel button)."""


@dataclass(frozen=True)
class VolIndex:
    """An implied-volatility index series (timestamp UTC, close in index points) and its symbol (VIX...)."""

    symbol: str
    points: pd.DataFrame


@dataclass(frozen=True)
class BacktestSpec:
    """Everything a run depends on; two runs of equal specs write identical files."""

    frames: dict[str, pd.DataFrame]
    index_symbol: str
    params: ParamSet
    preset: PlannerPreset  # the planner job's preset in every regime without an entry in regime_presets
    cash: float = 1_000_000.0
    start: datetime | None = None  # first bar traded; earlier bars only warm the indicators up
    end: datetime | None = None  # last bar included (inclusive)
    data_label: str = ""
    params_label: str = ""
    slippage_bps: float = 2.0
    commission_per_share: float = 0.005
    participation: float = 0.25
    regime_presets: dict[str, PlannerPreset] = field(default_factory=dict)  # regime name -> preset (the table)
    vol_index: VolIndex | None = None  # the CSV folder's VIX.csv / INDIAVIX.csv, fed to the regime as live

    def __post_init__(self) -> None:
        if self.index_symbol not in self.frames:
            raise BacktestError(f"index symbol {self.index_symbol!r} has no data; have {', '.join(sorted(self.frames))}")
        if not MIN_CASH <= self.cash <= MAX_CASH:  # NaN fails both comparisons
            raise BacktestError(f"starting cash must be a number from {MIN_CASH:,.0f} to {MAX_CASH:,.0f}, "
                                f"got {self.cash:g}")
        if self.start is not None and self.end is not None and self.start > self.end:
            raise BacktestError(f"the start {self.start:%Y-%m-%d %H:%M} is after the end {self.end:%Y-%m-%d %H:%M}")
        index_ts = self.frames[self.index_symbol]["timestamp"]
        first, last = index_ts.iloc[0], index_ts.iloc[-1]
        lo = self.start or first
        hi = self.end or last
        bars = int(((index_ts >= lo) & (index_ts <= hi)).sum())
        if bars == 0:  # the range as requested (an open side as such), beside the data's
            raise BacktestError(_no_bars(self.index_symbol, self.start, self.end, first, last, stored=False))
        if bars < MIN_BARS:  # one bar has no return: nothing to trade on, no curve, no metrics
            raise BacktestError(f"{range_text(lo, hi)} holds {bars} bar{'' if bars == 1 else 's'} of "
                                f"{self.index_symbol}; a backtest needs at least {MIN_BARS}: choose a wider range "
                                f"(the data covers {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC)")


def range_text(lo: datetime, hi: datetime) -> str:
    """A chosen range as typed: whole days as dates (a bare end date means the end of that day), else minutes."""
    lo_ts, hi_ts = pd.Timestamp(lo), pd.Timestamp(hi)
    midnight, day_end = pd.Timestamp(0).time(), (pd.Timestamp(0) + pd.Timedelta(days=1, microseconds=-1)).time()
    if lo_ts.time() == midnight and hi_ts.time() in (midnight, day_end):
        return f"{lo_ts:%Y-%m-%d} to {hi_ts:%Y-%m-%d}"
    return f"{lo_ts:%Y-%m-%d %H:%M} to {hi_ts:%Y-%m-%d %H:%M}"


def parse_date(text: str | None, what: str, end_of_day: bool = False) -> datetime | None:
    """An ISO date or date-time (UTC when no offset) -> aware UTC datetime; None for empty.

    `end_of_day`: a bare date means the last moment of that day (an end date includes the whole day)."""
    if text is None or not str(text).strip():
        return None
    if not isinstance(text, str) or len(text) > 40:
        raise BacktestError(f"{what} {str(text)[:40]!r} is not a date; use ISO-8601 like 2024-03-01")
    try:
        ts = pd.Timestamp(str(text).strip())
    except (ValueError, TypeError):
        raise BacktestError(f"{what} {text!r} is not a date; use ISO-8601 like 2024-03-01 or 2024-03-01T14:30Z") from None
    if pd.isna(ts):
        raise BacktestError(f"{what} {text!r} is not a date; use ISO-8601 like 2024-03-01")
    ts = ts.tz_localize(UTC) if ts.tzinfo is None else ts.tz_convert(UTC)
    if end_of_day and len(str(text).strip()) == 10:
        ts = ts + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    return ts.to_pydatetime()


def _csv_message(exc: MarketDataError) -> str:
    return str(exc).replace(" Fix the file and restart the engine.", " Fix the file and run again.")


def load_csv_dir(folder: str | Path) -> dict[str, pd.DataFrame]:
    """The bar files of a CSV folder, {SYMBOL: frame}: its implied-volatility index file set aside, as the CSV
    source does (load_csv_folder has both)."""
    return load_csv_folder(folder)[0]


def load_csv_folder(folder: str | Path) -> tuple[dict[str, pd.DataFrame], VolIndex | None]:
    """One SYMBOL.csv per symbol, in the CSV source's format (engine/market/csv_source.py), and the
    implied-volatility index (VIX.csv, INDIAVIX.csv) picked and read by the CSV source's own rule and loader,
    so a backtest on a folder classifies regimes as the live engine replaying it does."""
    path = Path(folder)
    if not path.is_dir():
        raise BacktestError(f"{path}: not a folder of SYMBOL.csv files")
    files = {p.stem.upper(): p for p in sorted(path.glob("*.csv"))}
    if not files:
        raise BacktestError(f"{path}: no .csv files; add one SYMBOL.csv per symbol")
    try:
        name = vol_index_key(files, None)
        vol = VolIndex(name, load_vol_index_csv(files.pop(name))) if name else None
    except MarketDataError as exc:
        raise BacktestError(_csv_message(exc)) from None
    if not files:
        raise BacktestError(f"{path}: only an implied-volatility index file; add one SYMBOL.csv per symbol")
    return load_csv_files(files), vol


def load_csv_files(files: dict[str, Path]) -> dict[str, pd.DataFrame]:
    frames = {}
    for symbol, file in sorted(files.items()):
        try:
            frames[symbol] = load_ohlcv_csv(file, symbol)
        except MarketDataError as exc:
            raise BacktestError(_csv_message(exc)) from None
    return frames


def default_index(frames: dict[str, pd.DataFrame], preferred: str | None = None) -> str:
    """The index symbol: the one asked for, else a usual index name present (SPY, the simulated IDX), else the
    CSV source's default (the first symbol in order)."""
    if not frames:
        raise BacktestError("the data holds no bars; upload or choose data with at least one bar")
    if preferred:
        if preferred.upper() not in frames:
            raise BacktestError(f"index symbol {preferred!r} has no data; have {', '.join(sorted(frames))}")
        return preferred.upper()
    return next((s for s in KNOWN_INDEXES if s in frames), sorted(frames)[0])


def load_stored_history(store: Store, start: datetime | None = None, end: datetime | None = None,
                        warmup: pd.Timedelta | None = None) -> tuple[dict[str, pd.DataFrame], str]:
    """The market history stored by the engine (the simulated market's), per symbol, and its index symbol.

    `warmup`: also load this much before `start`, so indicators are warm when trading begins."""
    with store.read() as s:
        instruments = list(s.execute(select(Instrument.symbol, Instrument.kind)).all())
        if not instruments:
            raise BacktestError("the store has no market history yet; run the engine first or choose CSV data")
        index = next((sym for sym, kind in instruments if kind == "index"), sorted(i[0] for i in instruments)[0])
        query = select(BarRow.symbol, BarRow.ts, BarRow.open, BarRow.high, BarRow.low, BarRow.close, BarRow.volume)
        lo = start - warmup if start is not None and warmup is not None else start
        if lo is not None:
            query = query.where(BarRow.ts >= lo)
        if end is not None:
            query = query.where(BarRow.ts <= end)
        rows = s.execute(query.order_by(BarRow.symbol, BarRow.ts)).all()
        if not any(r[0] == index for r in rows):  # what the store does cover, for the message
            first, last = s.execute(select(func.min(BarRow.ts), func.max(BarRow.ts))
                                    .where(BarRow.symbol == index)).one()
            raise BacktestError(_no_bars(index, start, end, first, last))
    df = pd.DataFrame(rows, columns=["symbol", "timestamp", "open", "high", "low", "close", "volume"])
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    frames = {str(sym): g.drop(columns="symbol").reset_index(drop=True) for sym, g in df.groupby("symbol", sort=True)}
    return frames, index


def _utc(ts: datetime) -> str:
    """A stored or chosen time as the form shows it (a naive stored time is UTC)."""
    stamp = pd.Timestamp(ts)
    return f"{stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC):%Y-%m-%d %H:%M}"


def _no_bars(index: str, start: datetime | None, end: datetime | None, first: datetime | None,
             last: datetime | None, stored: bool = True) -> str:
    """Why the chosen range found nothing, with what the data (`stored`: the store's) covers, so the user can
    choose again."""
    if first is None or last is None:
        return f"the store has no bars of the index {index} yet; run the engine first or choose CSV data"
    chosen = f"between {_utc(start) if start else 'the first bar'} and {_utc(end) if end else 'the last bar'}"
    return f"no {'stored ' if stored else ''}{index} bars {chosen}; the data covers {_utc(first)} to {_utc(last)} UTC"


def params_from_workbook(source: str | Path | bytes, name: str = "workbook") -> ParamSet:
    """A parameter workbook (.xlsx) through the importer, within the upload limits; errors name Sheet!Cell."""
    label = Path(source).name if isinstance(source, str | Path) else name
    try:
        return load_workbook_params(source, limits=UploadLimits.from_schema())
    except ValidationError as exc:
        first = exc.issues[0] if exc.issues else None
        more = f" (and {len(exc.issues) - 1} more problem(s))" if len(exc.issues) > 1 else ""
        raise BacktestError(f"{label}: {first}{more}" if first else f"{label}: {exc}") from None
    except ParamsError as exc:
        raise BacktestError(f"{label}: {str(exc).splitlines()[0]}") from None


def params_from_version(store: Store, version_id: int) -> ParamSet:
    """A stored version; an unreadable store (not migrated, unreachable) is one line naming it, password hidden."""
    try:
        with store.read() as s:
            return get_version(s, version_id)
    except ParamsError as exc:
        raise BacktestError(str(exc).splitlines()[0]) from None
    except SQLAlchemyError as exc:
        reason = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__])[0]
        missing = "no such table" in reason or ("relation" in reason and "does not exist" in reason)
        hint = " (not migrated: run python -m engine migrate)" if missing else ""
        raise BacktestError(f"cannot read parameter version {version_id} from the store at {store.safe_url()}: "
                            f"{reason}{hint}") from None


def preset_by_name(name: str, store: Store | None = None) -> PlannerPreset:
    """A built-in preset, or (with `store`) a user preset saved there."""
    try:
        if name in BUILT_IN_PRESETS:
            return load_preset(name)
        if store is not None:
            with store.read() as s:
                found = list_presets(s)
            if name in found:
                return found[name]
    except PresetError as exc:
        raise BacktestError(str(exc).replace("\n", " ")) from None
    raise BacktestError(f"unknown planner preset {name!r}; choose one of {', '.join(BUILT_IN_PRESETS)}"
                        + (" or a user preset" if store is not None else " or give --preset-file"))


def preset_from_file(path: str | Path) -> PlannerPreset:
    """A preset TOML file; every problem (not .toml, unreadable, not UTF-8, invalid) is one BacktestError line
    naming the file, as the command line promises."""
    p = Path(path)
    if p.suffix != ".toml":
        raise BacktestError(f"{p.name}: a planner preset file must be a .toml file")
    try:
        return load_preset(p)
    except PresetError as exc:
        raise BacktestError(str(exc).replace("\n", " ")) from None
    except UnicodeDecodeError as exc:  # e.g. saved as UTF-16 by Notepad: the loader reads UTF-8 only
        raise BacktestError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start}); save the preset file as "
                            "UTF-8") from None


def regime_table_presets(store: Store) -> dict[str, PlannerPreset]:
    """The shared store's regime -> preset table, resolved to presets (built-in or user)."""
    with store.read() as s:
        presets = list_presets(s)
        table = regime_preset_table(s)
    return {regime: presets[name] for regime, name in table.items() if name in presets}
