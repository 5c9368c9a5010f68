"""scripts/gpu-check, as far as a machine without a GPU can run it (the GPU part runs on a GPU machine)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from grader.engine.spec import find
from grader.ops import gpu_check

ROOT = Path(__file__).resolve().parents[1]


def test_the_gpu_copy_of_the_paraboloid_is_a_gpu_assignment(tmp_path):
    paraboloid = find("paraboloid")
    assert paraboloid.folder is not None and paraboloid.budget.device == "cpu"
    shutil.copytree(paraboloid.folder, tmp_path / "p")
    variant = gpu_check._gpu_variant(tmp_path / "p", "gpu")
    assert variant.budget.device == "gpu" and variant.budget.max_steps == paraboloid.budget.max_steps


@pytest.mark.slow
def test_training_times_come_from_the_harness_with_recording_on_and_off(runner_config):
    paraboloid = find("paraboloid")
    on = gpu_check._training(paraboloid, runner_config.sandbox_uid, None, True)
    off = gpu_check._training(paraboloid, runner_config.sandbox_uid, None, False)
    assert on is not None and off is not None
    assert on[1] is not None and on[1] > 100 and off[1] is None  # steps are counted by the recording
    assert 0.5 < on[0] / off[0] < 2


@pytest.mark.slow
def test_without_a_gpu_it_grades_on_the_cpu_and_says_the_gpu_checks_did_not_run(tmp_path):
    done = subprocess.run(
        ["scripts/gpu-check"], cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={"PATH": f"{ROOT / '.venv' / 'bin'}:/usr/bin:/bin", "PYTHON": str(ROOT / ".venv" / "bin" / "python")},
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert 'paraboloid (device = "cpu")  scored' in done.stdout and "passed True" in done.stdout
    assert "no GPU is visible to torch here: the GPU checks did not run" in done.stdout


def test_prepare_carries_a_bubblewrap_that_runs_through_its_wrapper(tmp_path):
    copy = tmp_path / "repo"
    (copy / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "gpu-check", copy / "scripts" / "gpu-check")
    subprocess.run(["scripts/gpu-check", "--prepare"], cwd=copy, check=True, capture_output=True, timeout=60)
    wrapper = copy / "build" / "gpu-check" / "bin" / "bwrap"
    version = subprocess.run([str(wrapper), "--version"], env={}, capture_output=True, text=True, timeout=30)
    assert version.returncode == 0 and version.stdout.startswith("bubblewrap")
