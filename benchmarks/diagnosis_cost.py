"""What the diagnoses cost a graded run: the probes while training, the final-model probe, the rules.

Three parts, measured side by side in one run (the machine is shared and noisy):

1. per training step: short blocks of the paraboloid reference's step with the recorder
   installed, probes on (with the held-out predictions of each sampled step) and off, alternating;
   the median ratio of neighbouring blocks;
2. once per run: the checks on the final model (an observed call on 256 public inputs, the affine
   test, what training did to its weights);
3. once per run, on the host: the rules over the evidence of a real graded run.

The total is put against the wall time of that real graded run (sandbox, training, scoring).

    .venv/bin/python benchmarks/diagnosis_cost.py [--blocks 200] [--steps 250]
    .venv/bin/python benchmarks/diagnosis_cost.py --smoke      # a few blocks: tests/test_benchmarks.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from reference_step import reference_training

from grader.config import RunnerConfig
from grader.engine import datasets
from grader.engine.diagnosis import diagnose, gather
from grader.engine.harness import calls
from grader.engine.harness.instrument import Recorder
from grader.engine.runner.grade import grade
from grader.engine.runner.submission import prepare_submission
from grader.engine.spec import BUILTIN, find

REFERENCE = BUILTIN / "paraboloid" / "reference.py"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--blocks", type=int, default=200)
    parser.add_argument("--steps", type=int, default=250)  # a sampled step (every 250) in every block
    parser.add_argument("--smoke", action="store_true", help="a few blocks, to check it still runs")
    args = parser.parse_args()
    if args.smoke:
        args.blocks, args.steps = 2, 30
    model, run = reference_training()

    def block(recorder: Recorder) -> float:
        recorder.install()
        elapsed = run(args.steps)
        recorder.uninstall()
        return elapsed

    with_probes = Recorder(lambda *a, **k: None, None, None, probes=True, heldout=torch.rand(256, 2))
    without = Recorder(lambda *a, **k: None, None, None, probes=False)
    block(without)  # warm-up
    on: list[float] = []
    off: list[float] = []
    for index in range(args.blocks):
        order = (with_probes, without) if index % 2 == 0 else (without, with_probes)
        for recorder in order:
            (on if recorder is with_probes else off).append(block(recorder))
    ratios = sorted(a / b for a, b in zip(on, off, strict=True))
    step_ratio = statistics.median(ratios)

    inputs = torch.rand(256, 2)
    finals = []
    for _ in range(20):
        started = time.perf_counter()
        with_probes.check_final(model, inputs, calls.NONE)
        finals.append(time.perf_counter() - started)
    final_seconds = statistics.median(finals)

    config = RunnerConfig.from_env()
    spec = find("paraboloid")
    hidden = datasets.hidden_set(spec, b"benchmark-secret-0123456789abcdef")
    submission = prepare_submission(REFERENCE.name, REFERENCE.read_bytes())
    started = time.perf_counter()
    report = grade(spec, submission, hidden, [0], uid=config.sandbox_uid, jobs_root=config.jobs_dir)
    run_seconds = time.perf_counter() - started
    run = report.chosen
    assert run is not None
    rules = []
    for _ in range(20):
        started = time.perf_counter()
        diagnose(
            gather(spec, run.result.training, run.metric_value, report.passed, run.values, hidden.targets)
        )
        rules.append(time.perf_counter() - started)
    rules_seconds = statistics.median(rules)
    steps = run.result.training.counters.get("steps", 0)
    train_seconds = float((run.result.training.trained or {}).get("seconds", 0.0))
    per_step_extra = (step_ratio - 1) * train_seconds
    total = per_step_extra + final_seconds + rules_seconds
    print(f"{args.blocks} paired blocks of {args.steps} steps; reference run: {steps:,} steps")
    print(f"  per step, probes on / off        {step_ratio:8.4f}   (quartiles {ratios[len(ratios) // 4]:.4f} "
          f"to {ratios[3 * len(ratios) // 4]:.4f})")  # fmt: skip
    print(f"  checks on the final model        {final_seconds * 1e3:8.2f} ms")
    print(f"  rules on the host                {rules_seconds * 1e3:8.2f} ms")
    print(f"  graded run (wall)                {run_seconds:8.2f} s   (training {train_seconds:.2f} s)")
    print(
        f"  diagnosis share of the run       {total / run_seconds:8.2%}   "
        f"(= ({step_ratio - 1:+.4f} x {train_seconds:.2f} s + {final_seconds * 1e3:.1f} ms + "
        f"{rules_seconds * 1e3:.1f} ms) / {run_seconds:.2f} s; target < 2%)"
    )


if __name__ == "__main__":
    main()
