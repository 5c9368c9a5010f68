"""The GPU worker's path, checked on a machine with an NVIDIA GPU (``scripts/gpu-check`` runs this).

With the bubblewrap backend and only the slot's GPU bound into each sandbox, it grades:

1. the paraboloid reference as published (``device = "cpu"``), on the CPU;
2. the same assignment with ``[budget] device = "gpu"``: training must run on CUDA and pass;
3. that reference again with the recording off, then on the CPU: the recording must add no
   per-step device synchronisation (a sync per step would show as a slower step with it on),
   and the step times on GPU and CPU are printed side by side.

Exit status 0 when every check held, 1 when one failed, 2 when no GPU is visible (only the first
grading then runs). Nothing here is downloaded; nothing is written outside a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from grader.engine import datasets
from grader.engine.runner.grade import GradeReport, grade, limits_for
from grader.engine.runner.session import RunRequest, run_submission
from grader.engine.runner.submission import prepare_submission
from grader.engine.sandbox.backend import BwrapBackend
from grader.engine.spec import Assignment, find, load

SECRET = b"gpu-check-secret-not-a-real-one-0123"
SYNC_TOLERANCE = 1.10  # recording on / off, per step: a sync per step costs far more on a GPU


def _gpu_variant(folder: Path, device: str) -> Assignment:
    spec = (folder / "assignment.toml").read_text()
    (folder / "assignment.toml").write_text(spec.replace("[budget]\n", f'[budget]\ndevice = "{device}"\n', 1))
    return load(folder)


def _grade(assignment: Assignment, uid: int | None, gpu_index: int | None) -> GradeReport:
    """Graded as a worker slot grades: on the slot's GPU when it has one, else on the CPU."""
    assert assignment.folder is not None
    script = assignment.folder / "reference.py"
    submission = prepare_submission(script.name, script.read_bytes())
    hidden = datasets.hidden_set(assignment, SECRET)
    return grade(assignment, submission, hidden, [0], uid=uid, gpu_index=gpu_index, backend=BwrapBackend(uid))


def _training(
    assignment: Assignment, uid: int | None, gpu_index: int | None, instrument: bool
) -> tuple[float, int | None] | None:
    """Seconds the reference trained for and its steps (counted only with the recording on), or None.

    The reference's step count is fixed by its seed, so runs with the recording on and off compare
    by their training time, and the count from a run with it on turns that into a step time.
    """
    assert assignment.folder is not None
    script = assignment.folder / "reference.py"
    request = RunRequest(
        files={script.name: script.read_bytes()}, entry=script.name, mode="script",
        eval_inputs=datasets.hidden_set(assignment, SECRET).inputs, public_data=datasets.public_files(assignment),
        max_steps=assignment.budget.max_steps, train_seconds=assignment.budget.train_seconds,
        limits=replace(limits_for(assignment, 1), gpu_index=gpu_index),
        device="cpu" if gpu_index is None else "cuda", instrument=instrument, probes=instrument,
    )  # fmt: skip
    result = run_submission(request, uid=uid, backend=BwrapBackend(uid))
    trained = result.training.trained or {}
    steps, seconds = trained.get("steps"), trained.get("seconds")
    if not isinstance(seconds, (int, float)) or seconds <= 0:
        print(f"    did not train: {result.verdict.value} {result.message[:200]}")
        return None
    return float(seconds), steps if isinstance(steps, int) and steps > 0 else None


def _line(name: str, report: GradeReport, seconds: float) -> dict[str, Any]:
    run = report.runs[0].result
    device = (run.training.started or {}).get("device")
    print(
        f"{name:<28} {report.verdict.value:<14} score {report.score!s:<6} passed {report.passed!s:<5} "
        f"trained on {device!s:<5} {seconds:5.1f} s"
    )
    if run.message:
        print(f"    {run.message[:300]}")
    return {"device": device, "passed": report.passed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu-index", type=int, default=int(os.environ.get("GRADER_GPU_INDEX", "0")))
    args = parser.parse_args(argv)
    uid = 61000 if os.geteuid() == 0 else None
    print(
        f"python {sys.version.split()[0]}, bubblewrap {shutil.which('bwrap')}, running as uid {os.geteuid()}"
    )
    smi = shutil.which("nvidia-smi")
    print(
        subprocess.run([smi, "-L"], capture_output=True, text=True).stdout.strip() if smi else "no nvidia-smi"
    )
    torch_line = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.__version__, torch.cuda.is_available(), torch.cuda.device_count())"],
        capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    has_gpu = len(torch_line) == 3 and torch_line[1] == "True"
    print(f"torch {' '.join(torch_line) or '(not importable)'}; the slot's GPU: index {args.gpu_index}\n")
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as scratch:
        paraboloid = find("paraboloid")
        assert paraboloid.folder is not None
        started = time.monotonic()
        cpu_spec = _line(
            'paraboloid (device = "cpu")', _grade(paraboloid, uid, None), time.monotonic() - started
        )
        if not cpu_spec["passed"]:
            failures.append("the reference did not pass on its own assignment")
        if not has_gpu:
            print("\nno GPU is visible to torch here: the GPU checks did not run")
            return 2 if not failures else 1
        folder = Path(scratch) / "paraboloid-gpu"
        shutil.copytree(paraboloid.folder, folder)
        on_gpu = _gpu_variant(folder, "gpu")
        started = time.monotonic()
        gpu_spec = _line(
            'paraboloid (device = "gpu")', _grade(on_gpu, uid, args.gpu_index), time.monotonic() - started
        )
        if gpu_spec["device"] != "cuda" or not gpu_spec["passed"]:
            failures.append(f"the device = gpu assignment trained on {gpu_spec['device']} or did not pass")
        timed = {
            "gpu on": _training(on_gpu, uid, args.gpu_index, True),
            "gpu off": _training(on_gpu, uid, args.gpu_index, False),
            "cpu on": _training(on_gpu, uid, None, True),
        }
    gpu_on, gpu_off, cpu_on = timed["gpu on"], timed["gpu off"], timed["cpu on"]
    if gpu_on is not None and gpu_off is not None:
        ratio = gpu_on[0] / gpu_off[0]
        print(
            f"\nrecording on / off, GPU training time: {ratio:.3f} (at most {SYNC_TOLERANCE}: no per-step sync)"
        )
        if ratio > SYNC_TOLERANCE:
            failures.append(f"recording slows GPU training {ratio:.2f}x: a device sync per step?")
    else:
        failures.append("no training time on the GPU")
    if gpu_on is not None and cpu_on is not None and gpu_on[1] and cpu_on[1]:
        print(
            f"step time: GPU {1000 * gpu_on[0] / gpu_on[1]:.3f} ms, CPU {1000 * cpu_on[0] / cpu_on[1]:.3f} ms"
        )
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
