"""`python -m engine planner plan ...`: plan for a given portfolio offline (no store, no broker).

  python -m engine planner plan --csv-dir DIR --positions FILE.csv --cash N
        [--preset NAME | --preset-file FILE.toml] [--regime NAME] [--targets FILE.csv] [--json]

--csv-dir holds one SYMBOL.csv per symbol in the CSV market source's format; the last bar is "now".
Buys are sized as the engine sizes them (ATR, Kelly, the regime's bias, risk limits) under the default
parameters.
Positions CSV: symbol,qty,avg_price[,opened_at]. Targets CSV: symbol,weight (fixed target weights).
Bad input exits 1 with one line naming the file and the key or symbol.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

import pandas as pd

from engine.market.csv_source import load_ohlcv_csv
from engine.market.types import MarketDataError
from engine.params.paramset import default_params
from engine.planner.planner import build_planner
from engine.planner.portfolio import atr_of, size_caps
from engine.planner.preset import PresetError, load_preset
from engine.planner.types import Holding, PlanResult, PortfolioState
from engine.trading.risk_limits import RiskLimits


class InputError(ValueError):
    """Bad command-line input; the message is the one line printed."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise InputError(f"planner plan: {message}")


def _history(folder: Path) -> tuple[pd.DataFrame, dict[str, float]]:
    if not folder.is_dir():
        raise InputError(f"{folder}: --csv-dir is not a folder of SYMBOL.csv files")
    files = sorted(folder.glob("*.csv"))
    if not files:
        raise InputError(f"{folder}: no .csv files in --csv-dir")
    closes, atr = {}, {}
    for path in files:
        frame = load_ohlcv_csv(path)
        symbol = path.stem.upper()
        closes[symbol] = pd.Series(frame["close"].to_numpy(dtype=float), index=frame["timestamp"])
        value = atr_of(*(frame[c].to_numpy(dtype=float) for c in ("high", "low", "close")))
        if value is not None:
            atr[symbol] = value
    return pd.DataFrame(closes).sort_index(), atr


def _rows(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip().lower() for h in reader.fieldnames or []]
            missing = [c for c in required if c not in header]
            if missing:
                raise InputError(f"{path.name}: missing column '{missing[0]}' (need {', '.join(required)})")
            return [(i + 2, {k.strip().lower(): (v or "").strip() for k, v in row.items() if k})
                    for i, row in enumerate(reader)]
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _number(path: Path, line: int, column: str, text: str, minimum: float = 0.0) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{path.name} line {line}, column '{column}': {text!r} is not a number") from None
    if not math.isfinite(value) or value < minimum:
        raise InputError(f"{path.name} line {line}, column '{column}': {text} must be a number >= {minimum:g}")
    return value


def _symbol(path: Path, line: int, text: str, known: pd.Index) -> str:
    symbol = text.upper()
    if symbol not in known:
        raise InputError(f"{path.name} line {line}, column 'symbol': unknown symbol '{text}' (no {symbol}.csv)")
    return symbol


def _positions(path: Path, known: pd.Index) -> dict[str, Holding]:
    out = {}
    for line, row in _rows(path, ("symbol", "qty", "avg_price")):
        symbol = _symbol(path, line, row["symbol"], known)
        opened = None
        if row.get("opened_at"):
            try:
                opened = datetime.fromisoformat(row["opened_at"])
            except ValueError:
                raise InputError(f"{path.name} line {line}, column 'opened_at': {row['opened_at']!r} is not an "
                                 "ISO date") from None
            opened = opened if opened.tzinfo else opened.replace(tzinfo=UTC)
        out[symbol] = Holding(symbol, _number(path, line, "qty", row["qty"]),
                              _number(path, line, "avg_price", row["avg_price"]), opened)
    return out


def _targets(path: Path, known: pd.Index) -> dict[str, float]:
    out = {}
    for line, row in _rows(path, ("symbol", "weight")):
        weight = _number(path, line, "weight", row["weight"])
        if weight > 1:
            raise InputError(f"{path.name} line {line}, column 'weight': {weight:g} must be from 0 to 1")
        out[_symbol(path, line, row["symbol"], known)] = weight
    if sum(out.values()) > 1 + 1e-9:
        raise InputError(f"{path.name}: column 'weight' sums to {sum(out.values()):g}; must be at most 1")
    return out


def plan_json(plan: PlanResult) -> dict[str, object]:
    return {
        "preset": plan.preset, "regime": plan.regime, "sequences_evaluated": plan.sequences_evaluated,
        "elapsed_ms": round(plan.elapsed_ms, 3), "score": plan.score, "costs": round(plan.costs, 4),
        "trades": [{"symbol": s.symbol, "side": s.side, "qty": s.qty, "price": s.price,
                    "notional": round(s.notional, 2), "calculator": s.calculator, "pattern": s.pattern,
                    "reason": s.reason, "cash_after": s.cash_after} for s in plan.steps],
        "runner_ups": [{"label": r.label, "score_total": r.score_total, "steps": r.steps, "relaxed": r.relaxed}
                       for r in plan.runner_ups],
        "notes": plan.notes, "weights_before": plan.weights_before, "weights_after": plan.weights_after,
    }


def _text(plan: PlanResult) -> str:
    lines = [f"preset {plan.preset}, regime {plan.regime or '-'}: {len(plan.steps)} trades, "
             f"{plan.sequences_evaluated} sequences in {plan.elapsed_ms:.0f} ms, score {plan.score['total']:.3f}"]
    for s in plan.steps:
        lines.append(f"  {s.side:4} {s.qty:>10,.0f} {s.symbol:<8} @ {s.price:>10,.2f} = {s.notional:>12,.2f}  "
                     f"cash after {s.cash_after:>12,.2f}  [{s.calculator}/{s.pattern}] {s.reason}")
    lines.extend(f"  note: {n}" for n in plan.notes)
    return "\n".join(lines)


def run(argv: list[str]) -> int:
    parser = _Parser(prog="python -m engine planner plan", description=__doc__.splitlines()[0])
    parser.add_argument("--csv-dir", required=True, type=Path)
    parser.add_argument("--positions", required=True, type=Path)
    parser.add_argument("--cash", required=True)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--preset", default=None)
    group.add_argument("--preset-file", type=Path, default=None)
    parser.add_argument("--regime", default=None)
    parser.add_argument("--targets", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    cash = _cash(args.cash)
    preset = load_preset(args.preset_file if args.preset_file else (args.preset or "default"))
    if preset.params.get("targets.method") == "fixed" and args.targets is None:
        raise InputError(f"preset '{preset.name}': key 'targets.method' = 'fixed' needs --targets FILE.csv "
                         "(symbol,weight); without it every target would be 0% and the plan would sell everything")
    history, atr = _history(args.csv_dir)
    positions = _positions(args.positions, history.columns)
    state = PortfolioState(positions=positions, cash=cash, history=history,
                           now=history.index[-1].to_pydatetime(), regime=args.regime,
                           fixed_targets=_targets(args.targets, history.columns) if args.targets else None)
    # the engine's position sizing under the default parameters (ATR, Kelly, the regime's bias), as live
    params = default_params()
    state = replace(state, limits=RiskLimits.from_params(params),
                    size_caps=size_caps(params, state.equity, state.prices, atr,
                                        {s: h.qty for s, h in positions.items()}, args.regime, False,
                                        RiskLimits.from_params(params)))
    plan = build_planner(preset).plan(state, "chosen on the command line")
    print(json.dumps(plan_json(plan), indent=2) if args.json else _text(plan))
    return 0


def _cash(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"--cash: {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise InputError(f"--cash: {text} must be a number >= 0")
    return value


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__)
        return 0
    if argv[0] != "plan":
        print(f"planner: unknown command {argv[0]!r}; use: python -m engine planner plan --help", file=sys.stderr)
        return 1
    if any(a in ("-h", "--help") for a in argv[1:]):
        print(__doc__)
        return 0
    try:
        return run(argv[1:])
    except (InputError, PresetError, MarketDataError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
