"""`python -m engine backtest ...`: run a backtest on CSV files and write its results to a folder.

  python -m engine backtest --csv-dir DIR [--params FILE.xlsx | --version N]
                            [--preset NAME | --preset-file FILE.toml] [--start DATE] [--end DATE]
                            [--cash N] [--index SYMBOL] --out DIR

Writes equity.csv (timestamp,equity,cash,gross_exposure,regime_name; one row per bar of the index),
orders.csv, fills.csv and metrics.json. Progress goes to standard error. Bad input exits 1 with one line
naming the file and where in it (CSV line and column, workbook Sheet!Cell). Without --params or --version
the schema defaults (the reference workbook's values) are used; --version reads the shared store.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import NoReturn

from sqlalchemy.engine import make_url

from engine.backtest.inputs import (
    BacktestError,
    BacktestSpec,
    default_index,
    load_csv_folder,
    params_from_version,
    params_from_workbook,
    parse_date,
    preset_by_name,
    preset_from_file,
)
from engine.params import ParamSet, default_params
from engine.settings import load_settings
from engine.store.migrate import open_store


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"backtest: {message} (see python -m engine backtest --help)", file=sys.stderr)
        raise SystemExit(1)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m engine backtest", description=__doc__.split("\n\n")[0])
    p.add_argument("--csv-dir", required=True, help="folder of SYMBOL.csv files (the CSV source's format)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--params", help="parameter workbook (.xlsx) to run with")
    which.add_argument("--version", type=int, help="stored parameter version to run with")
    preset = p.add_mutually_exclusive_group()
    preset.add_argument("--preset", default="default", help="planner preset name (default: default)")
    preset.add_argument("--preset-file", help="planner preset TOML file")
    p.add_argument("--start", help="first traded bar (ISO date/time, UTC); earlier bars warm the indicators up")
    p.add_argument("--end", help="last bar included (a bare date includes that whole day)")
    p.add_argument("--cash", type=float, default=1_000_000.0, help="starting cash (default 1,000,000)")
    p.add_argument("--index", help="index symbol the regime is classified on (default SPY/IDX if present, else the first)")
    p.add_argument("--out", required=True, help="folder the result files are written to")
    return p


def _params(a: argparse.Namespace) -> tuple[ParamSet, str]:
    if a.params:
        return params_from_workbook(a.params), f"workbook {Path(a.params).name}"
    if a.version is not None:
        return _version_params(a.version), f"version {a.version}"

    return default_params(), "schema defaults"


def _version_params(version: int) -> ParamSet:
    """A stored version from the configured store; a missing SQLite file is refused, not created empty."""
    url = load_settings().database_url
    parsed = make_url(url)
    db = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if db and db != ":memory:" and not parsed.query.get("uri") and not Path(db).exists():
        raise BacktestError(f"the store at {parsed.render_as_string(hide_password=True)} does not exist, so it has "
                            "no parameter versions; check REGIMEDESK_DATABASE_URL or run python -m engine migrate")
    store = open_store(url)
    try:
        return params_from_version(store, version)
    finally:
        store.dispose()


def build_spec(a: argparse.Namespace) -> BacktestSpec:
    frames, vol = load_csv_folder(a.csv_dir)
    params, label = _params(a)
    preset = preset_from_file(a.preset_file) if a.preset_file else preset_by_name(a.preset)
    return BacktestSpec(frames=frames, index_symbol=default_index(frames, a.index), params=params, preset=preset,
                        cash=a.cash, start=parse_date(a.start, "--start"), end=parse_date(a.end, "--end", True),
                        data_label=f"csv {a.csv_dir}", params_label=label, vol_index=vol)


def main(argv: list[str]) -> int:
    a = _parser().parse_args(argv)
    # local import: the runner (sklearn, hmmlearn) loads after the arguments parse: --help and argument errors answer at once
    from engine.backtest.outputs import compute, write_outputs

    # local import: the runner (sklearn, hmmlearn) loads after the arguments parse: --help and argument errors answer at once
    from engine.backtest.runner import run_backtest

    started = time.monotonic()

    def progress(done: int, total: int) -> None:
        print(f"backtest: {done}/{total} bars ({100.0 * done / max(total, 1):.0f}%), "
              f"{time.monotonic() - started:.1f}s", file=sys.stderr, flush=True)

    try:
        spec = build_spec(a)
        result = run_backtest(spec, progress=progress)
        for note in result.notes:  # e.g. the run stopped at the index's last bar
            print(f"backtest: {note}", file=sys.stderr)
        metrics = compute(result)
        if metrics.get("note"):  # e.g. equity wiped out: the files are written, the return metrics blank
            print(f"backtest: metrics: {metrics['note']}", file=sys.stderr)
        written = write_outputs(result, metrics, a.out)
    except BacktestError as exc:
        print(f"backtest: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"backtest: {exc.filename or a.out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"backtest: {result.bars} bars, {len(result.orders)} orders, {len(result.fills)} fills; wrote "
          f"{', '.join(p.name for p in written)} to {a.out}", file=sys.stderr)
    return 0
