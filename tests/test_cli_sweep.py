"""``grader run --sweep``: a small sweep trained locally in the real sandbox, a table and the best."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.cli import main

pytestmark = pytest.mark.slow

MODULE = """
import torch.nn as nn

def build_model(hidden=16):
    return nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, 1))

TRAINING = {"optimizer": "adam", "lr": 0.01, "steps": 300}
"""


def test_a_local_sweep_trains_each_point_and_marks_the_best(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    file = tmp_path / "model.py"
    file.write_text(MODULE + "SWEEP = {'grid': {'lr': [0.01, 0.00001]}}\n")
    assert main(["run", "paraboloid", str(file), "--sweep"]) == 0
    out = capsys.readouterr().out
    assert "Sweep: 2 point(s) x 1 seed(s) = 2 runs" in out
    assert "[1/2] lr=0.01" in out and "[2/2] lr=1e-05" in out
    best = [line for line in out.splitlines() if line.startswith("* ")]
    assert len(best) == 1 and "lr=0.01" in best[0], out
    assert out.rstrip().endswith("best: lr=0.01")


def test_a_bad_local_sweep_is_refused_naming_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    file = tmp_path / "model.py"
    file.write_text(MODULE)
    assert main(["run", "paraboloid", str(file), "--sweep", json.dumps({"grid": {"lr": ["fast"]}})]) == 2
    assert "sweep.grid.lr[0]: 'fast' is not a number" in capsys.readouterr().err
    assert main(["run", "paraboloid", str(file), "--sweep"]) == 2
    assert "write SWEEP = {...} in the file" in capsys.readouterr().err
