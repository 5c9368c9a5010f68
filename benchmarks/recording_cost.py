"""The cost of the harness's recording per training step, on the reference model, on the CPU.

Whole-run timings on a shared 2-core machine vary by more than the 5% being
measured, so this alternates short blocks of the reference solution's training
step (Adam, batch 64, the 2-25-10-1 ReLU network, the student's own
``float(loss)`` included) with the recorder installed and not, in one process,
and reports the median ratio of neighbouring blocks.

    .venv/bin/python benchmarks/recording_cost.py [--blocks 400] [--steps 50]
    .venv/bin/python benchmarks/recording_cost.py --smoke      # a few blocks: tests/test_benchmarks.py
"""

from __future__ import annotations

import argparse
import statistics

from reference_step import reference_training

from grader.engine.harness.instrument import Recorder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--blocks", type=int, default=400)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--smoke", action="store_true", help="a few blocks, to check it still runs")
    args = parser.parse_args()
    if args.smoke:
        args.blocks = 4
    _, run = reference_training()
    records = 0

    def send(*_: object, **__: object) -> None:
        nonlocal records
        records += 1

    def block() -> float:
        return run(args.steps)

    recorder = Recorder(
        send, None, None, probes=False
    )  # the probes have their own benchmark (diagnosis_cost)
    block()  # warm-up
    on: list[float] = []
    off: list[float] = []
    for index in range(args.blocks):
        first_on = index % 2 == 0  # alternate the order so drift does not favour one side
        for enabled in (first_on, not first_on):
            if enabled:
                recorder.install()
                on.append(block())
                recorder.uninstall()
            else:
                off.append(block())
    recorder.flush()
    step_on, step_off = statistics.median(on), statistics.median(off)
    # Neighbouring blocks share the machine's load at that moment: their ratio cancels the drift.
    ratios = sorted(a / b for a, b in zip(on, off, strict=True))
    low, high = ratios[len(ratios) // 4], ratios[3 * len(ratios) // 4]
    print(f"{args.blocks} blocks of {args.steps} steps each way; {records} records sent")
    print(f"  step time, recording off  {step_off * 1e6:8.1f} us")
    print(f"  step time, recording on   {step_on * 1e6:8.1f} us")
    print(
        f"  ratio on / off            {statistics.median(ratios):8.3f}   (paired blocks; quartiles "
        f"{low:.3f} to {high:.3f}; target <= 1.05)"
    )


if __name__ == "__main__":
    main()
