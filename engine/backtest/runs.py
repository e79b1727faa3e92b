"""Stored backtest runs: created (audited) when a user starts one, progress while it runs, outputs when done.

A run keeps its inputs (data source and label, range, cash, parameter version and the workbook of the
parameters it used, the preset's knobs) so it can be reopened, compared and downloaded later; its
tables are stored as gzip-compressed CSV, exactly the files the command line writes.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, cast

import pandas as pd
from sqlalchemy import CursorResult, delete, desc, select, update

from engine import audit
from engine.backtest import run_jobs
from engine.backtest.inputs import BacktestCancelled, BacktestError, BacktestSpec
from engine.backtest.outputs import csv_texts, metrics_json, prices_csv
from engine.backtest.runner import BacktestResult
from engine.clock import Clock, SystemClock
from engine.params.exporter import export_workbook
from engine.params.typed import Parameters
from engine.params.workbook import load_workbook_params
from engine.planner.api import PlannerPreset
from engine.store.db import Store
from engine.store.db_clock import server_now
from engine.store.models import BacktestFile, BacktestRun

STATUSES = ("running", "done", "failed", "cancelled")
TABLES = ("equity.csv", "orders.csv", "fills.csv", "prices.csv")
PRESET_NAME_MAX = 64  # BacktestRun.preset_name
INDEX_SYMBOL_MAX = 32  # BacktestRun.index_symbol


@dataclass(frozen=True)
class RunSummary:
    id: int
    created_at: datetime
    author: str
    name: str
    status: str
    progress: float
    message: str | None
    data_label: str
    params_label: str
    preset_name: str
    cash: float
    start_ts: datetime | None
    end_ts: datetime | None
    bars: int
    metrics: dict | None
    param_version_id: int | None = None  # the stored parameter version the run was started with (None: not one)
    preset_record: dict | None = None  # preset_record() as stored at the click (what the job must run)

    @property
    def label(self) -> str:
        return f"#{self.id} {self.name} ({self.status})"


def _summary(r: BacktestRun) -> RunSummary:
    record = r.preset if isinstance(r.preset, dict) else None
    return RunSummary(r.id, r.created_at, r.author, r.name, r.status, float(r.progress or 0.0), r.message, r.data_label,
                      r.params_label, _recorded_label(r.preset_name, record), float(r.cash), r.start_ts, r.end_ts,
                      int(r.bars or 0), r.metrics, r.param_version_id, record)


def _recorded_label(name: str, record: dict | None) -> str:
    """The preset as preset_label words it in full (the record's "label"); a table run recorded before the label
    was (under its plain preset name) is worded from its record's table."""
    label, table = (record or {}).get("label"), (record or {}).get("regime_presets")
    if isinstance(label, str) and label:
        return label
    if not isinstance(table, dict) or not table:
        return name
    return table_label(name, {str(k): str(v) for k, v in table.items()}, None)


def _preset_content(preset: PlannerPreset) -> dict[str, Any]:
    return {"name": preset.name, "base": preset.base, "flat": preset.to_flat()}


def preset_hash(spec: BacktestSpec) -> str:
    """The content of every preset the run plans with (the preset and each regime's from the table): the job
    compares it with the one recorded at the click, so a preset saved again in between is never run unnoticed."""
    content = {"preset": _preset_content(spec.preset),
               "regime_presets": {r: _preset_content(p) for r, p in sorted(spec.regime_presets.items())}}
    text = json.dumps(content, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def preset_label(spec: BacktestSpec, limit: int | None = PRESET_NAME_MAX) -> str:
    """The run's preset in words: its name, or for the regime -> preset table its mappings and the preset of the
    other regimes, so a table run is never shown as a plain preset run. `limit`: at most that many characters
    (the preset_name column), mappings left out as "+N more"; None: every mapping (the record and the page)."""
    return table_label(spec.preset.name, {regime: p.name for regime, p in spec.regime_presets.items()}, limit)


def table_label(name: str, table: Mapping[str, str], limit: int | None = PRESET_NAME_MAX) -> str:
    """`name`, or with a regime -> preset `table`: "regime table (Bullish→aggressive, +1 more; else default)"."""
    if not table:
        return name if limit is None else name[:limit]
    pairs = [f"{regime}→{preset}" for regime, preset in sorted(table.items())]
    tail = f"; else {name})"
    for shown in range(len(pairs), 0, -1):
        more = f", +{len(pairs) - shown} more" if shown < len(pairs) else ""
        text = f"regime table ({', '.join(pairs[:shown])}{more}{tail}"
        if limit is None or len(text) <= limit:
            return text
    return f"regime table ({len(pairs)} regimes{tail}"[:limit]


def preset_record(spec: BacktestSpec) -> dict[str, object]:
    """The preset(s) a run used, as JSON: name, sliders, every parameter, the regime table if any, and the
    content hash (preset_hash) the job checks."""
    return {"name": spec.preset.name, "description": spec.preset.description, "sliders": dict(spec.preset.sliders),
            "params": {k: v for k, v in spec.preset.to_flat().items() if isinstance(v, int | float | str | bool)},
            "regime_presets": {regime: p.name for regime, p in spec.regime_presets.items()},
            "label": preset_label(spec, None), "hash": preset_hash(spec)}


def create_run(store: Store, spec: BacktestSpec, *, author: str, data_source: str, name: str = "",
               param_version_id: int | None = None, clock: Clock | None = None) -> int:
    """Record a new run (status running) with its inputs, audited as backtest.run by `author`, marked queued at the
    database's time until its job claims it (run_jobs: a run no job takes is ended after NO_WORKER_S). BacktestError
    when the index symbol is longer than the record keeps (a long file name), before anything is written."""
    if len(spec.index_symbol) > INDEX_SYMBOL_MAX:
        raise BacktestError(f"the index symbol {spec.index_symbol[:40]!r} is longer than {INDEX_SYMBOL_MAX} "
                            "characters, the most a stored run keeps; rename its file to SYMBOL.csv (e.g. SPY.csv)")
    now = (clock or SystemClock()).now()
    workbook = export_workbook(spec.params)
    preset = preset_label(spec, None)
    label = name.strip() or f"{preset} / {spec.params_label or 'parameters'}"
    with store.write() as s:
        row = BacktestRun(created_at=now, finished_at=None, author=author[:64], name=label[:120], status="running",
                          progress=0.0, message=run_jobs.queued_mark(server_now(s)), data_source=data_source[:16], data_label=spec.data_label,
                          index_symbol=spec.index_symbol, start_ts=spec.start, end_ts=spec.end,
                          cash=Decimal(str(spec.cash)), param_version_id=param_version_id,
                          params_label=spec.params_label, params_workbook=workbook, preset_name=preset_label(spec),
                          preset=preset_record(spec), bars=0, metrics=None)
        s.add(row)
        s.flush()
        audit.record(s, now, author, "backtest.run", target=f"backtest:{row.id}",
                     details={"name": label, "data": spec.data_label, "params": spec.params_label,
                              "preset": preset, "cash": spec.cash,
                              **({"regime_presets": {r: p.name for r, p in sorted(spec.regime_presets.items())}}
                                 if spec.regime_presets else {}),
                              "start": spec.start.isoformat() if spec.start else None,
                              "end": spec.end.isoformat() if spec.end else None})
        return row.id


def set_progress(store: Store, run_id: int, fraction: float) -> None:
    with store.write() as s:
        s.execute(update(BacktestRun).where(BacktestRun.id == run_id).values(progress=float(fraction)))


def finish_run(store: Store, run_id: int, result: BacktestResult, metrics: dict[str, object],
               clock: Clock | None = None) -> bool:
    """Store the run's tables and metrics; status done. False, and nothing stored, when the run is no longer
    running: a cancel that landed after the job's last look (the last bars, the metrics) stays a cancel."""
    now = (clock or SystemClock()).now()
    files = [BacktestFile(run_id=run_id, name=name, data=gzip.compress(text.encode("utf-8"), mtime=0))
             for name, text in {**csv_texts(result), "prices.csv": prices_csv(result)}.items()]
    with store.write() as s:
        claimed = s.execute(update(BacktestRun).where(BacktestRun.id == run_id, BacktestRun.status == "running")
                            .values(status="done", progress=1.0, finished_at=now, bars=result.bars, message=None,
                                    metrics=json.loads(metrics_json(metrics))))
        if not cast(CursorResult[Any], claimed).rowcount:  # an UPDATE's result is a CursorResult
            return False
        s.execute(delete(BacktestFile).where(BacktestFile.run_id == run_id))
        s.add_all(files)
    return True


def fail_run(store: Store, run_id: int, message: str, *, cancelled: bool = False, clock: Clock | None = None) -> None:
    now = (clock or SystemClock()).now()
    with store.write() as s:
        s.execute(update(BacktestRun).where(BacktestRun.id == run_id).values(
            status="cancelled" if cancelled else "failed", message=message[:2000], finished_at=now))


def ended_early(row: RunSummary) -> Exception:
    """Why a run that reached its last bar kept no results: it was cancelled (or ended otherwise) meanwhile."""
    why = f"backtest run {row.id} was {row.status} before it finished" + (f" ({row.message})" if row.message else "")
    if row.status == "cancelled":
        return BacktestCancelled(f"{why}; its results were not kept")
    return BacktestError(f"{why}; its results were not kept")


def cancel_run(store: Store, run_id: int, actor: str, clock: Clock | None = None) -> bool:
    """Mark a running run cancelled (its job stops at the next bar), audited; False when it was not running."""
    now = (clock or SystemClock()).now()
    with store.write() as s:
        row = s.get(BacktestRun, run_id)
        if row is None or row.status != "running":
            return False
        row.status, row.message, row.finished_at = "cancelled", f"cancelled by {actor}", now
        audit.record(s, now, actor, "backtest.cancel", target=f"backtest:{run_id}")
    return True


def list_runs(store: Store, limit: int = 100, status: str | None = None) -> list[RunSummary]:
    """The newest `limit` runs, only those with `status` when given (filtered in the query, so older runs of
    that status are not hidden behind newer runs of another)."""
    query = select(BacktestRun)
    if status is not None:
        query = query.where(BacktestRun.status == status)
    with store.read() as s:
        return [_summary(r) for r in s.scalars(query.order_by(desc(BacktestRun.id)).limit(limit))]


def market_timezone(store: Store, run_id: int) -> str | None:
    """The MasterConfiguration market_timezone of the parameters the run used (its stored workbook): the zone its
    risk engine counted the daily-loss day in. None when the run has no readable workbook."""
    with store.read() as s:
        data = s.scalar(select(BacktestRun.params_workbook).where(BacktestRun.id == run_id))
    return None if data is None else _workbook_timezone(bytes(data))


@lru_cache(maxsize=32)
def _workbook_timezone(workbook: bytes) -> str | None:
    """Cached: a run's workbook never changes, and the page reads it on every pick (about 0.1 s a parse)."""
    try:
        return str(Parameters(load_workbook_params(workbook)).master_configuration.market_timezone) or None
    except Exception:  # noqa: BLE001 - an unreadable old workbook: the page falls back to UTC days
        return None


def get_run(store: Store, run_id: int) -> RunSummary:
    with store.read() as s:
        row = s.get(BacktestRun, run_id)
        if row is None:
            raise BacktestError(f"backtest run {run_id} does not exist; pick one from the list of stored runs")
        return _summary(row)


def file_text(store: Store, run_id: int, name: str) -> str:
    """One stored table as CSV text (equity.csv, orders.csv, fills.csv) or metrics.json."""
    if name == "metrics.json":
        return metrics_json(get_run(store, run_id).metrics or {})
    if name not in TABLES:
        raise BacktestError(f"a backtest run has no file {name!r}; one of {', '.join((*TABLES, 'metrics.json'))}")
    with store.read() as s:
        row = s.get(BacktestFile, (run_id, name))
        if row is None:
            raise BacktestError(f"backtest run {run_id} has no {name} (it did not finish)")
        return gzip.decompress(row.data).decode("utf-8")


def load_table(store: Store, run_id: int, name: str) -> pd.DataFrame:
    """A stored table as a frame, timestamps parsed (aware UTC)."""
    frame = pd.read_csv(io.StringIO(file_text(store, run_id, name)), keep_default_na=False, na_values=[""])
    for col in ("timestamp", "ts", "updated_at"):
        if col in frame.columns:
            frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


def workbook(store: Store, run_id: int) -> bytes:
    """The parameter workbook (.xlsx) the run used."""
    with store.read() as s:
        data = s.scalar(select(BacktestRun.params_workbook).where(BacktestRun.id == run_id))
    if data is None:
        raise BacktestError(f"backtest run {run_id} has no stored parameter workbook")
    return bytes(data)
