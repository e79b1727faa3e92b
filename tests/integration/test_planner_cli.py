"""`python -m engine planner plan`: offline plans from CSV files; bad input exits 1 with one line."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.planner.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _write_bars(folder: Path, symbol: str, closes: np.ndarray) -> None:
    index = pd.date_range("2026-01-01", periods=len(closes), freq="D", tz="UTC")
    frame = pd.DataFrame({"timestamp": index.strftime("%Y-%m-%dT%H:%M:%SZ"), "open": closes, "high": closes * 1.01,
                          "low": closes * 0.99, "close": closes, "volume": 1000})
    frame.to_csv(folder / f"{symbol}.csv", index=False)


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    bars = tmp_path / "bars"
    bars.mkdir()
    rng = np.random.default_rng(3)
    n = 200
    _write_bars(bars, "UPP", 50 * np.exp(np.cumsum(0.004 + 0.01 * rng.standard_normal(n))))
    _write_bars(bars, "DWN", 80 * np.exp(np.cumsum(-0.004 + 0.01 * rng.standard_normal(n))))
    _write_bars(bars, "FLT", 30 * np.exp(np.cumsum(0.0005 + 0.01 * rng.standard_normal(n))))
    positions = tmp_path / "positions.csv"
    positions.write_text("symbol,qty,avg_price,opened_at\nDWN,100,80,2026-01-02\n", encoding="utf-8")
    targets = tmp_path / "targets.csv"
    targets.write_text("symbol,weight\nUPP,0.5\nFLT,0.3\n", encoding="utf-8")
    return {"bars": bars, "positions": positions, "targets": targets, "tmp": tmp_path}


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["plan", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_plan_holds_ordered_trades_score_and_timings(inputs: dict[str, Path],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["--csv-dir", str(inputs["bars"]), "--positions", str(inputs["positions"]), "--cash",
                           "10000", "--targets", str(inputs["targets"]), "--regime", "Bullish_Low_Vol", "--json"],
                          capsys)
    assert code == 0, err
    plan = json.loads(out)
    assert plan["preset"] == "default" and plan["regime"] == "Bullish_Low_Vol"
    assert plan["sequences_evaluated"] >= 1 and plan["elapsed_ms"] > 0 and "total" in plan["score"]
    trades = plan["trades"]
    assert trades and set(trades[0]) == {"symbol", "side", "qty", "price", "notional", "calculator", "pattern",
                                         "reason", "cash_after"}
    # sells (if any) come first; buys only of the fixed targets
    sides = [t["side"] for t in trades]
    assert sides == sorted(sides, key=lambda s: s != "sell")
    assert {t["symbol"] for t in trades if t["side"] == "buy"} <= {"UPP", "FLT"}
    assert all(t["cash_after"] >= 0 for t in trades)
    cash = 10000.0
    for t in trades:  # cash_after follows from notional and the default costs (1 + 0.05%)
        cost = 1.0 + 0.0005 * t["notional"]
        cash += (t["notional"] - cost) if t["side"] == "sell" else -(t["notional"] + cost)
        assert t["cash_after"] == pytest.approx(cash, abs=0.02)


@pytest.mark.parametrize("change, expected", [
    (lambda i: ["--csv-dir", str(i["tmp"] / "nope")], "nope: --csv-dir is not a folder"),
    (lambda i: ["--preset", "bold"], "unknown preset 'bold'"),
    (lambda i: ["--positions", str(i["tmp"] / "missing.csv")], "missing.csv: cannot read"),
    (lambda i: ["--cash", "lots"], "--cash: 'lots' is not a number"),
])
def test_bad_input_exits_1_with_one_line(inputs: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                         change, expected: str) -> None:  # type: ignore[no-untyped-def]
    args = {"--csv-dir": str(inputs["bars"]), "--positions": str(inputs["positions"]), "--cash": "1000"}
    extra = change(inputs)
    args.update(dict(zip(extra[::2], extra[1::2], strict=True)))
    code, out, err = _run([x for kv in args.items() for x in kv], capsys)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and expected in err, err


def test_unknown_symbol_and_out_of_range_key_name_file_and_key(inputs: dict[str, Path],
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    bad_pos = inputs["tmp"] / "pos2.csv"
    bad_pos.write_text("symbol,qty,avg_price\nZZZ,1,10\n", encoding="utf-8")
    code, _, err = _run(["--csv-dir", str(inputs["bars"]), "--positions", str(bad_pos), "--cash", "1"], capsys)
    assert code == 1 and "pos2.csv line 2" in err and "unknown symbol 'ZZZ'" in err
    preset = inputs["tmp"] / "mine.toml"
    preset.write_text("[sequences]\nbeam_width = 5000\n", encoding="utf-8")
    code, _, err = _run(["--csv-dir", str(inputs["bars"]), "--positions", str(inputs["positions"]), "--cash", "1",
                         "--preset-file", str(preset)], capsys)
    assert code == 1 and "mine.toml" in err and "sequences.beam_width" in err and "from 1 to 200" in err
    preset.write_text("[sequences\nbeam_width = 5\n", encoding="utf-8")
    code, _, err = _run(["--csv-dir", str(inputs["bars"]), "--positions", str(inputs["positions"]), "--cash", "1",
                         "--preset-file", str(preset)], capsys)
    assert code == 1 and "mine.toml: invalid TOML" in err and err.count("\n") == 1


def test_module_entry_point_runs_the_cli(inputs: dict[str, Path]) -> None:
    done = subprocess.run([sys.executable, "-m", "engine", "planner", "plan", "--csv-dir", str(inputs["bars"]),
                           "--positions", str(inputs["positions"]), "--cash", "5000", "--preset", "conservative",
                           "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["preset"] == "conservative"
    bad = subprocess.run([sys.executable, "-m", "engine", "planner", "plan", "--csv-dir", str(inputs["bars"])],
                         cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "required" in bad.stderr
