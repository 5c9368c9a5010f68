"""Every benchmark still runs: each one's smoke mode, as a new user would start it (figures in notes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# The benchmarks' smoke modes start stacks and sandboxes: CI's, not the inner loop's.
pytestmark = pytest.mark.long

ROOT = Path(__file__).resolve().parents[1]


SMOKES = [
    ("recording_cost.py", "ratio on / off"),
    ("diagnosis_cost.py", "diagnosis share of the run"),
    ("runner_overhead.py", "recording on / off"),
    ("deadline_burst.py", "watchers:"),
    ("scoreboard.py", "SQL statements/request"),
    ("similarity.py", "pairs compared: done"),
]


def test_every_benchmark_has_its_smoke_run_here():
    scripts = {
        path.name
        for path in (ROOT / "benchmarks").glob("*.py")
        if '__name__ == "__main__"' in path.read_text()
    }
    assert scripts == {script for script, _ in SMOKES}  # the others are modules the benchmarks share


@pytest.mark.parametrize("script, printed", SMOKES)
def test_the_benchmark_runs_in_its_smoke_mode(script, printed):
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--smoke"],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert printed in done.stdout, done.stdout
