"""Stored backtest runs: created (audited) when a user starts one, progress while it runs, outputs when done.

A run keeps its inputs (data source and label, range, cash, parameter version and the workbook of the
parameters it used, the preset's knobs) so it can be reopened, compared and downloaded later; its
tables are stored as gzip-compressed CSV, exactly the files the command line writes.
"""
from __future__ import annotations

import gzip
import io
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import pandas as pd
from sqlalchemy import delete, desc, select, update

from engine import audit
from engine.backtest.inputs import BacktestError, BacktestSpec
from engine.backtest.outputs import csv_texts, metrics_json, prices_csv
from engine.backtest.runner import BacktestResult
from engine.clock import Clock, SystemClock
from engine.params.exporter import export_workbook
from engine.store.db import Store
from engine.store.models import BacktestFile, BacktestRun

STATUSES = ("running", "done", "failed", "cancelled")
TABLES = ("equity.csv", "orders.csv", "fills.csv", "prices.csv")


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

    @property
    def label(self) -> str:
        return f"#{self.id} {self.name} ({self.status})"


def _summary(r: BacktestRun) -> RunSummary:
    return RunSummary(r.id, r.created_at, r.author, r.name, r.status, float(r.progress or 0.0), r.message, r.data_label,
                      r.params_label, r.preset_name, float(r.cash), r.start_ts, r.end_ts, int(r.bars or 0), r.metrics,
                      r.param_version_id)


def preset_record(spec: BacktestSpec) -> dict[str, object]:
    """The preset(s) a run used, as JSON: name, sliders, every parameter, and the regime table if any."""
    return {"name": spec.preset.name, "description": spec.preset.description, "sliders": dict(spec.preset.sliders),
            "params": {k: v for k, v in spec.preset.to_flat().items() if isinstance(v, int | float | str | bool)},
            "regime_presets": {regime: p.name for regime, p in spec.regime_presets.items()}}


def create_run(store: Store, spec: BacktestSpec, *, author: str, data_source: str, name: str = "",
               param_version_id: int | None = None, clock: Clock | None = None) -> int:
    """Record a new run (status running) with its inputs, audited as backtest.run by `author`."""
    now = (clock or SystemClock()).now()
    workbook = export_workbook(spec.params)
    label = name.strip() or f"{spec.preset.name} / {spec.params_label or 'parameters'}"
    with store.write() as s:
        row = BacktestRun(created_at=now, finished_at=None, author=author[:64], name=label[:120], status="running",
                          progress=0.0, message=None, data_source=data_source[:16], data_label=spec.data_label,
                          index_symbol=spec.index_symbol, start_ts=spec.start, end_ts=spec.end,
                          cash=Decimal(str(spec.cash)), param_version_id=param_version_id,
                          params_label=spec.params_label, params_workbook=workbook, preset_name=spec.preset.name[:64],
                          preset=preset_record(spec), bars=0, metrics=None)
        s.add(row)
        s.flush()
        audit.record(s, now, author, "backtest.run", target=f"backtest:{row.id}",
                     details={"name": label, "data": spec.data_label, "params": spec.params_label,
                              "preset": spec.preset.name, "cash": spec.cash,
                              "start": spec.start.isoformat() if spec.start else None,
                              "end": spec.end.isoformat() if spec.end else None})
        return row.id


def set_progress(store: Store, run_id: int, fraction: float) -> None:
    with store.write() as s:
        s.execute(update(BacktestRun).where(BacktestRun.id == run_id).values(progress=float(fraction)))


def finish_run(store: Store, run_id: int, result: BacktestResult, metrics: dict[str, object],
               clock: Clock | None = None) -> None:
    """Store the run's tables and metrics; status done."""
    import json

    now = (clock or SystemClock()).now()
    files = [BacktestFile(run_id=run_id, name=name, data=gzip.compress(text.encode("utf-8"), mtime=0))
             for name, text in {**csv_texts(result), "prices.csv": prices_csv(result)}.items()]
    with store.write() as s:
        s.execute(delete(BacktestFile).where(BacktestFile.run_id == run_id))
        s.add_all(files)
        s.execute(update(BacktestRun).where(BacktestRun.id == run_id).values(
            status="done", progress=1.0, finished_at=now, bars=result.bars,
            metrics=json.loads(metrics_json(metrics))))


def fail_run(store: Store, run_id: int, message: str, *, cancelled: bool = False, clock: Clock | None = None) -> None:
    now = (clock or SystemClock()).now()
    with store.write() as s:
        s.execute(update(BacktestRun).where(BacktestRun.id == run_id).values(
            status="cancelled" if cancelled else "failed", message=message[:2000], finished_at=now))


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


def list_runs(store: Store, limit: int = 100) -> list[RunSummary]:
    with store.read() as s:
        return [_summary(r) for r in s.scalars(select(BacktestRun).order_by(desc(BacktestRun.id)).limit(limit))]


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
