"""Audit 21, defect 6: `python -m engine backtest --preset-file` with a file that is not UTF-8 (Notepad's "Unicode",
UTF-16) ended in a Python traceback; the command line promises one line naming the file, exit status 1."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.integration import backtest_data

ROOT = Path(__file__).resolve().parents[2]


def test_a_preset_file_that_is_not_utf8_is_one_line_naming_it(tmp_path: Path) -> None:
    folder = backtest_data.csv_dir(tmp_path / "csv", bars=20)
    preset = tmp_path / "notepad.toml"
    preset.write_bytes(backtest_data.QUICK_PRESET.encode("utf-16"))  # starts with the byte order mark FF FE
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "engine", "backtest", "--csv-dir", str(folder), "--preset-file",
                           str(preset), "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 1, done.stderr[-2000:]
    assert done.stderr == (f"backtest: {preset}: not UTF-8 text (invalid start byte at byte 0); save the preset file "
                           "as UTF-8\n")
    assert not out.exists()
