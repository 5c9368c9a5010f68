"""How much the runner costs, measured side by side in one run (the machine is shared and noisy).

Runs the paraboloid reference solution, interleaved, ROUNDS times each way:

* bare   ``python reference.py`` in a subprocess (same interpreter, same thread count);
* cold   through the runner with a freshly started sandbox (torch imported inside);
* warm   through the runner with a warm sandbox that imported torch beforehand;

and, inside warm sandboxes, training with the harness's recording on and off (whole
runs are noisy here: ``recording_cost.py`` measures the same thing block by block).
Prints medians and the ratios the runner issue sets as targets:
warm <= 0.9 x bare, cold <= 1.15 x bare, recording <= 1.05 x.

    .venv/bin/python benchmarks/runner_overhead.py [--rounds 3]
    .venv/bin/python benchmarks/runner_overhead.py --smoke     # one round: tests/test_benchmarks.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grader.assignments import datasets
from grader.assignments.spec import find
from grader.config import RunnerConfig
from grader.runner.grade import limits_for
from grader.runner.session import RunRequest, run_submission
from grader.sandbox.pool import WarmPool

ROOT = Path(__file__).resolve().parents[1]


def bare(script: Path, threads: int) -> float:
    env = {"PATH": os.environ.get("PATH", "/usr/bin"), "OMP_NUM_THREADS": str(threads), "HOME": "/tmp"}
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        subprocess.run([sys.executable, str(script)], cwd=folder, env=env, check=True, capture_output=True)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="one round, to check it still runs")
    args = parser.parse_args()
    if args.smoke:
        args.rounds = 1
    config = RunnerConfig.from_env()
    assignment = find("paraboloid")
    assert assignment.folder is not None
    script = assignment.folder / "reference.py"
    hidden = datasets.hidden_set(assignment, b"benchmark-secret-0123456789abcdef")
    limits = limits_for(assignment, config.threads)

    def request(instrument: bool = True) -> RunRequest:
        return RunRequest(
            files={"reference.py": script.read_bytes()}, entry="reference.py", mode="script",
            eval_inputs=hidden.inputs, public_data=datasets.public_files(assignment), seed=0,
            limits=limits, instrument=instrument,
        )  # fmt: skip

    def through_runner(pool: WarmPool | None, instrument: bool = True) -> tuple[float, float]:
        started = time.perf_counter()
        result = run_submission(
            request(instrument), pool=pool, uid=config.sandbox_uid, jobs_root=config.jobs_dir
        )
        elapsed = time.perf_counter() - started
        assert result.verdict.value == "scored", result.message
        assert (pool is not None) == result.warm
        return elapsed, float((result.training.trained or {})["seconds"])

    pool = WarmPool(limits, config.sandbox_uid, size=1, jobs_root=config.jobs_dir).start()
    times: dict[str, list[float]] = {"bare": [], "cold": [], "warm": [], "train_on": [], "train_off": []}
    try:
        bare(script, config.threads)  # warm the file cache once, untimed
        for round_ in range(args.rounds):
            times["bare"].append(bare(script, config.threads))
            times["cold"].append(through_runner(None)[0])
            # Recording on and off both in warm sandboxes, in alternating order.
            for instrument in (True, False) if round_ % 2 == 0 else (False, True):
                pool.wait_ready(120)  # measure a ready pool, as a worker between submissions has
                elapsed, training = through_runner(pool, instrument)
                times["train_on" if instrument else "train_off"].append(training)
                if instrument:
                    times["warm"].append(elapsed)
            print(
                f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()),
                flush=True,
            )
    finally:
        pool.close()
    median = {k: statistics.median(v) for k, v in times.items()}
    print(f"\nmedians over {args.rounds} rounds (threads={config.threads}):")
    for key, value in median.items():
        print(f"  {key:<10} {value:6.2f} s")
    print("\nratios (target):")
    print(f"  cold / bare          {median['cold'] / median['bare']:.3f}   (<= 1.15)")
    print(f"  warm / bare          {median['warm'] / median['bare']:.3f}   (<= 0.90)")
    print(f"  recording on / off   {median['train_on'] / median['train_off']:.3f}   (<= 1.05)")


if __name__ == "__main__":
    main()
