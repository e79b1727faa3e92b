"""The Backtest page's inputs -> a BacktestSpec, and the run itself (in a background job).

Data choices are closed lists: the stored history, a folder of CSV files under data/backtest/ (or the
CSV source's own folder, REGIMEDESK_CSV_DIR), or one uploaded CSV within the upload limit; a form can
never name an arbitrary path. The same form builds the same spec in the start callback (which records
the run, audited with the user) and in the background job (which runs it).
"""
from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from engine.backtest import run_jobs, runs
from engine.backtest.inputs import (
    MAX_CASH,
    MIN_CASH,
    BacktestCancelled,
    BacktestError,
    BacktestSpec,
    VolIndex,
    default_index,
    load_csv_folder,
    load_stored_history,
    params_from_version,
    parse_date,
    preset_by_name,
    regime_table_presets,
)
from engine.backtest.outputs import compute
from engine.backtest.runner import run_backtest
from engine.backtest.upload import frames_from_upload
from engine.params import ParamSet, default_params
from engine.params.versions import active_params
from engine.planner.api import load_preset
from engine.settings import PROJECT_ROOT, Settings
from engine.store.db import Store
from webapp.form_ids import FormIdError, parse_id
from webapp.regime_whatif import WhatIfError, apply_edits, merge_edits
from webapp.typed_numbers import blank, typed_decimal

CSV_ROOT = PROJECT_ROOT / "data" / "backtest"  # one sub-folder of SYMBOL.csv files per data set
TABLE = "__table__"  # the preset choice "the regime -> preset table"
CANCEL_CHECK_BARS = 10
CASH_PLACES = 8  # decimal places BacktestRun.cash keeps (engine/store/types.py Money: NUMERIC(24,8))
WARMUP = pd.Timedelta(days=400)  # stored history loaded before the start to warm the indicators up


def csv_choices(settings: Settings) -> dict[str, Path]:
    """Folder label -> folder: sub-folders of data/backtest/ with CSV files, and the CSV source's folder."""
    found: dict[str, Path] = {}
    if CSV_ROOT.is_dir():
        for sub in sorted(p for p in CSV_ROOT.iterdir() if p.is_dir()):
            if any(sub.glob("*.csv")):
                found[f"data/backtest/{sub.name}"] = sub
    if settings.csv_dir is not None and Path(settings.csv_dir).is_dir():
        found[f"CSV source ({Path(settings.csv_dir).name})"] = Path(settings.csv_dir)
    return found


def upload_hint(max_bytes: int) -> str:
    """The static line beside the upload, so a refused file is never a surprise."""
    return f"CSV files (timestamp, open, high, low, close, volume[, symbol]), up to {max_bytes / 1e6:.1f} MB"


def decode_csv_upload(contents: str, max_bytes: int) -> bytes:
    _head, _sep, b64 = (contents or "").partition(",")
    if len(b64) > (max_bytes * 4) // 3 + 8:
        raise BacktestError(f"the file is larger than the {max_bytes / 1e6:.1f} MB upload limit; split it or use a "
                            "CSV folder under data/backtest/")
    try:
        return base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise BacktestError("the upload arrived damaged; try again") from None


def parse_cash(value: Any) -> float:
    """The form's starting cash, as typed (the field is text, so nothing is lost in the browser) -> a float
    within MIN_CASH..MAX_CASH with at most CASH_PLACES decimals (more could not be recorded as typed, and the job
    would find the record differing from the form); a BacktestError says whether it is missing, not a number,
    which bound it breaks or how many decimals it has, quoting what was entered."""
    bounds = f"a number from {MIN_CASH:,.0f} to {MAX_CASH:,.0f}"
    if blank(value):
        raise BacktestError(f"enter the starting cash ({bounds})")
    shown = value.strip()[:40] if isinstance(value, str) else None
    exact = typed_decimal(value, max_len=40)
    cash = float(exact)
    if not math.isfinite(cash):
        raise BacktestError(f"starting cash {shown or str(value)[:40]!r} is not a number; enter {bounds}")
    if shown is None:
        shown = f"{cash:,.0f}" if cash.is_integer() else f"{cash:,}"
    if cash < MIN_CASH:
        raise BacktestError(f"starting cash {shown} is below the minimum of {MIN_CASH:,.0f}; enter {bounds}")
    if cash > MAX_CASH:
        raise BacktestError(f"starting cash {shown} is above the maximum of {MAX_CASH:,.0f}; enter {bounds}")
    places = -int(exact.normalize().as_tuple().exponent)
    if places > CASH_PLACES:  # the run records its cash to CASH_PLACES (NUMERIC(24,8) on PostgreSQL)
        raise BacktestError(f"starting cash {shown} has {places} decimal places; a run records at most "
                            f"{CASH_PLACES}: enter the cash with {CASH_PLACES} decimal places or fewer")
    return cash


@dataclass(frozen=True)
class Built:
    spec: BacktestSpec
    data_source: str
    version_id: int | None
    base_version_id: int | None = None  # pending edits: the version they were written over


Pinned = Mapping[str, Any] | None  # pin(built) at the click, read back in the job; None: resolve "active" now


def _frames(form: Mapping[str, Any], upload: Mapping[str, Any] | None, store: Store, settings: Settings,
            start: Any, end: Any) -> tuple[dict[str, pd.DataFrame], str, str, str | None, VolIndex | None]:
    """(frames, source, data label, index symbol or None, the CSV folder's implied-volatility index or None)."""
    source = form.get("source") if form.get("source") in ("stored", "csv", "upload") else "stored"
    if source == "csv":
        choices = csv_choices(settings)
        label = str(form.get("csv_dir") or "")
        if label not in choices:
            raise BacktestError("choose a CSV folder from the list (folders of SYMBOL.csv under data/backtest/)")
        frames, vol = load_csv_folder(choices[label])
        return frames, source, f"csv {label}", None, vol
    if source == "upload":
        if not isinstance(upload, Mapping) or not isinstance(upload.get("contents"), str):
            raise BacktestError("upload a CSV file first (timestamp, open, high, low, close, volume[, symbol])")

        name = str(upload.get("filename") or "upload.csv")
        frames = frames_from_upload(decode_csv_upload(str(upload["contents"]), settings.max_upload_bytes), name)
        return frames, source, f"upload {name}", None, None
    frames, index = load_stored_history(store, start, end, WARMUP)
    return frames, "stored", "stored history", index, None


def _active(store: Store, pinned: Pinned) -> ParamSet:
    """The active version; in the job, the one that was active at the click (`pinned`), never a later one."""
    if pinned is None:
        with store.read() as s:
            return active_params(s)
    version_id = pinned.get("version_id")
    if version_id is None:  # nothing was applied at the click: the schema defaults ran then and run now
        return default_params()
    if not isinstance(version_id, int) or isinstance(version_id, bool):
        raise BacktestError("the run's parameter version is unreadable; start it again")
    try:
        return params_from_version(store, version_id)
    except BacktestError as exc:
        raise BacktestError(f"the parameter version {version_id} this run was started with can no longer be read "
                            f"({exc}); start it again") from None


def _pending(store: Store, edits: Any, pinned: Pinned = None) -> tuple[Any, str, int | None]:
    """The Parameters page's pending edits written over the active version (validated as a whole)."""
    pending = merge_edits(edits if isinstance(edits, Mapping) else None)
    if not pending:
        raise BacktestError("there are no pending edits on the Parameters page; edit a value there first")
    base = _active(store, None if pinned is None else {"version_id": pinned.get("base_version_id")})
    try:
        params = apply_edits(base, pending)
    except WhatIfError as exc:
        raise BacktestError(str(exc)) from None
    return params, f"{len(pending)} pending edit(s) over version {base.version_id or 'defaults'}", base.version_id


def _params(version: Any, store: Store, edits: Any, pinned: Pinned = None) -> tuple[Any, str, int | None]:
    """The chosen parameters, their label and the version pending edits go over (else None): the active
    version, a stored one, or the pending edits.
    `pinned`: the job's record of what was active at the click (pin), so a version applied since is not run."""
    if version == "pending":
        return _pending(store, edits, pinned)
    if version in (None, "", "active"):
        params = _active(store, pinned)
        return params, f"version {params.version_id} (active)" if params.version_id else "schema defaults", None
    try:
        version_id = parse_id(version, "the parameter version", "version")
    except FormIdError as exc:
        raise BacktestError(str(exc)) from None
    return params_from_version(store, version_id), f"version {version_id}", None


def build_spec(form: Mapping[str, Any], upload: Mapping[str, Any] | None, store: Store, settings: Settings,
               edits: Any = None, pinned: Pinned = None) -> Built:
    """Validate the form and load its data; BacktestError names the field or the file that is wrong.

    `edits`: the Parameters page's pending edits, used when the form's version is "pending"; `pinned`: in the
    job, the parameters fixed at the click (pin(built)): the job runs exactly those."""
    start = parse_date(form.get("start"), "start")
    end = parse_date(form.get("end"), "end", end_of_day=True)
    if start is not None and end is not None and start > end:  # before any data is read: every source says this
        raise BacktestError(f"the start {start:%Y-%m-%d %H:%M} is after the end {end:%Y-%m-%d %H:%M}; "
                            "enter an end on or after the start")
    cash = parse_cash(form.get("cash"))
    frames, source, data_label, index, vol = _frames(form, upload, store, settings, start, end)
    params, label, base = _params(form.get("version"), store, edits, pinned)
    preset_name = str(form.get("preset") or "default")[:80]
    regime_presets = regime_table_presets(store) if preset_name == TABLE else {}
    preset = load_preset("default") if preset_name == TABLE else preset_by_name(preset_name, store)
    spec = BacktestSpec(frames=frames, index_symbol=index or default_index(frames), params=params, preset=preset,
                        cash=cash, start=start, end=end, data_label=data_label, params_label=label,
                        regime_presets=regime_presets, vol_index=vol)
    return Built(spec, source, params.version_id, base)


def pin(built: Built) -> dict[str, Any]:
    """What the job must run, fixed at the click: the version (or the base of pending edits) and the
    parameters' content hash; it travels in the job's data with the run id."""
    return {"version_id": built.version_id, "base_version_id": built.base_version_id,
            "params_hash": built.spec.params.content_hash}


def matches(row: runs.RunSummary, built: Built, pinned: Pinned = None) -> None:
    """BacktestError unless `built` is what run `row` recorded at the click: data, cash, parameters and the
    preset(s), which the job reads from the store again and another user may have saved since."""
    if row.data_label != built.spec.data_label or row.cash != built.spec.cash:
        raise BacktestError(f"backtest run {row.id} does not match the form any more; start it again")
    if row.param_version_id != built.version_id or row.params_label != built.spec.params_label:
        raise BacktestError(f"backtest run {row.id} was started with {row.params_label}, but the job would run "
                            f"{built.spec.params_label}; start it again")
    if pinned is not None and pinned.get("params_hash") != built.spec.params.content_hash:
        raise BacktestError(f"backtest run {row.id}: the parameters changed since it was started; start it again")
    recorded = (row.preset_record or {}).get("hash")  # absent from runs recorded before the hash was
    if recorded is not None and recorded != runs.preset_hash(built.spec):
        raise BacktestError(f"backtest run {row.id}: its preset ({row.preset_name}) was changed since it was started "
                            "(saved again, or the regime → preset table edited), so the job would not run what the "
                            "run records; start it again")


def execute(run_id: int, built: Built, store: Store, progress: Callable[[float, str], None],
            pinned: Pinned = None) -> str:
    """Run a recorded backtest, storing progress and its result; returns the outcome line. `pinned`: the
    parameters fixed at the click (pin); the job refuses to run any others. Called inside run_jobs.heartbeat
    (run_pinned): should this process die, the page ends the run as failed."""
    row = runs.get_run(store, run_id)
    if row.status != "running":
        raise BacktestError(f"backtest run {run_id} is {row.status}" + (f" ({row.message})" if row.message else ""))
    matches(row, built, pinned)
    last = [0.0]

    def report(done: int, total: int) -> None:
        fraction = done / max(total, 1)
        progress(fraction, f"{done:,} of {total:,} bars")
        if fraction - last[0] >= 0.05 or done == total:
            last[0] = fraction
            runs.set_progress(store, run_id, fraction)

    asked = [0]

    def cancelled() -> bool:  # the cancel button marks the run; read every CANCEL_CHECK_BARS bars, not every bar
        asked[0] += 1
        return asked[0] % CANCEL_CHECK_BARS == 0 and runs.get_run(store, run_id).status == "cancelled"

    try:
        result = run_backtest(built.spec, progress=report, cancelled=cancelled)
        finished = runs.finish_run(store, run_id, result, compute(result))
    except BacktestCancelled as exc:
        runs.fail_run(store, run_id, str(exc), cancelled=True)
        raise
    except BacktestError as exc:
        runs.fail_run(store, run_id, str(exc))
        raise
    except Exception as exc:  # noqa: BLE001 - stored as the run's failure, shown to the user in one line
        runs.fail_run(store, run_id, f"the backtest failed: {type(exc).__name__}: {exc}")
        raise BacktestError(f"the backtest failed: {type(exc).__name__}: {exc}") from exc
    if not finished:
        raise runs.ended_early(runs.get_run(store, run_id))
    outcome = f"run #{run_id}: {result.bars:,} bars, {len(result.orders)} orders, {len(result.fills)} fills"
    why = "; ".join(filter(None, (nothing_to_trade(built.spec.frames, built.spec.index_symbol), *result.notes)))
    return f"{outcome} ({why})" if why else outcome


def run_pinned(run_id: int, pinned: Mapping[str, Any], form: Mapping[str, Any], upload: Mapping[str, Any] | None,
               store: Store, settings: Settings, edits: Any, progress: Callable[[float, str], None]) -> str:
    """The background job: rebuild the spec with the parameters fixed at the click and run the recorded
    run; a refusal (that version deleted, the form changed) ends the run as failed with the reason."""
    with run_jobs.heartbeat(store, run_id):  # this process runs it now, its liveness stamped every few seconds
        try:
            built = build_spec(form, upload, store, settings, edits, pinned)
            matches(runs.get_run(store, run_id), built, pinned)
        except BacktestError as exc:
            if runs.get_run(store, run_id).status == "running":
                runs.fail_run(store, run_id, str(exc))
            raise
        return execute(run_id, built, store, progress, pinned)


def nothing_to_trade(frames: Mapping[str, Any], index_symbol: str) -> str | None:
    """Why a run can place no order: its data holds only the index, which the regime is read from and the
    planner does not trade (it trades the other symbols). A single-symbol CSV is the common case."""
    if set(frames) - {index_symbol}:
        return None
    return (f"the data holds only {index_symbol}, the index the regime is read from; the planner trades the "
            "other symbols, so no order can be placed: add the stocks to trade (a CSV with a symbol column, "
            "or one file per symbol)")
