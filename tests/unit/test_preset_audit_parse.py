"""audit1 defect 2: a preset whose `sliders` is not a table (a number, a list, text) or a composition given a list of
sliders crashed with AttributeError; now a PresetError names the file (or preset) and `sliders`."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.planner.cli import main
from engine.planner.preset import PresetError, compose_preset, load_preset, parse_preset


@pytest.mark.parametrize("text", ["sliders = 5\n", "sliders = [0.5]\n", "sliders = 'x'\n", "sliders = true\n"])
def test_sliders_not_a_table(text: str) -> None:
    with pytest.raises(PresetError, match=r"^bad\.toml: key 'sliders' = .* must be a \[sliders\] table"):
        parse_preset(text, "bad.toml", "bad")


@pytest.mark.parametrize("text, key", [
    ("[buckets.\"\"]\nshare = 0.5\n", r'\[buckets\.""\] needs a name'),  # an empty bucket name
    ("buckets = 3\n", "key 'buckets' must be a table"),
    ("targets = 1\n", "unknown key 'targets'"),
    ("name = ['a']\n", "key 'name'/'description' must be text"),
    ("[sliders.risk_appetite]\nx = 1\n", "key 'sliders.risk_appetite'"),
])
def test_other_sections_of_the_wrong_shape(text: str, key: str) -> None:
    with pytest.raises(PresetError, match=key):
        parse_preset(text, "bad.toml", "bad")


def test_compose_with_sliders_or_overrides_not_a_table() -> None:
    base = load_preset("default")
    with pytest.raises(PresetError, match=r"preset 'mine': key 'sliders' = \[\('risk_appetite', 0\.5\)\] must be"):
        compose_preset(base, [("risk_appetite", 0.5)], {}, name="mine")  # type: ignore[arg-type]  # forged input
    with pytest.raises(PresetError, match="preset 'mine': the overrides must be a table"):
        compose_preset(base, {}, [("targets.max_weight", 0.1)], name="mine")  # type: ignore[arg-type]  # forged


def test_cli_bad_sliders_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    preset = tmp_path / "bad_sliders.toml"
    preset.write_text('name = "bad"\nsliders = 0.5\n', encoding="utf-8")
    code = main(["plan", "--csv-dir", str(tmp_path), "--positions", str(tmp_path / "x.csv"), "--cash", "1000",
                 "--preset-file", str(preset)])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: bad_sliders.toml: key 'sliders' = 0.5 must be a [sliders] table")
