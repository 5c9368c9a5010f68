"""``grader run --sweep``: a small sweep trained locally, one run after another, a progress bar each.

Runs on the public validation split like ``grader run``; the server runs the same sweep in parallel
on its workers and grades it on the hidden set. Without a ``[sweep]`` table in the assignment the
local run still works (within ``LOCAL_MAX_RUNS``), with a note that the server would refuse it.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import statistics
import sys
from typing import Any, TextIO

from grader.config import RunnerConfig
from grader.engine import datasets
from grader.engine.runner.grade import GradeReport, grade
from grader.engine.runner.submission import PreparedSubmission
from grader.engine.runner.sweep_runs import run_options
from grader.engine.runner.sweep_upload import raw_sweep
from grader.engine.scoring import metric_label
from grader.engine.spec import Assignment
from grader.engine.sweep_request import SweepPlan, SweepRefused, plan
from grader.engine.sweep_rules import SweepPolicy

LOCAL_MAX_RUNS = 24
BAR = 24


def local_policy(assignment: Assignment) -> SweepPolicy:
    return assignment.sweep or SweepPolicy(max_runs=LOCAL_MAX_RUNS)


def sweep_plan(assignment: Assignment, prepared: PreparedSubmission, content: bytes, text: str) -> SweepPlan:
    raw = raw_sweep(prepared, text)
    if raw is None:
        raise SweepRefused("sweep: give one after --sweep (JSON) or write SWEEP = {...} in the file")
    return plan(raw, local_policy(assignment), hashlib.sha256(content).digest())


def _bar(fraction: float) -> str:
    filled = max(0, min(BAR, round(fraction * BAR)))
    return "#" * filled + "-" * (BAR - filled)


def _settings(point: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in point.items())


def run_sweep(
    args: argparse.Namespace, assignment: Assignment, prepared: PreparedSubmission, content: bytes
) -> int:
    out: TextIO = sys.stdout
    try:
        sweep = sweep_plan(assignment, prepared, content, args.sweep)
    except SweepRefused as exc:
        print(f"grader: {exc}", file=sys.stderr)
        return 2
    if assignment.sweep is None:
        out.write(f"note: {assignment.slug} takes no sweeps on the server; running this one locally only.\n")
    config = RunnerConfig.from_env()
    evaluation = datasets.public_split(assignment, "validation")
    budget = assignment.budget
    label = metric_label(assignment.metric)
    out.write(
        f"Sweep: {len(sweep.points)} point(s) x {sweep.seeds} seed(s) = {sweep.runs} runs, one after another\n"
    )
    results: list[tuple[int, GradeReport]] = []
    number = 0
    for index, point in enumerate(sweep.points):
        for seed_index in range(sweep.seeds):
            number += 1
            head = f"[{number}/{sweep.runs}] {_settings(point)}"

            def show(record: dict[str, Any], head: str = head) -> None:
                step, elapsed = int(record.get("step") or 0), float(record.get("elapsed") or 0.0)
                fraction = step / budget.max_steps if budget.max_steps else elapsed / budget.train_seconds
                loss = record.get("loss")
                loss_text = f"{loss:.3g}" if isinstance(loss, (int, float)) else "-"
                out.write(f"\r{head}  [{_bar(fraction)}] step {step:,} loss {loss_text}   ")
                out.flush()

            report = grade(
                assignment, prepared, evaluation, [args.seed + 1000 * seed_index], threads=config.threads,
                uid=config.sandbox_uid, jobs_root=config.jobs_dir, on_progress=show, **run_options(assignment, point, local_policy(assignment)),
            )  # fmt: skip
            results.append((index, report))
            trained = report.summary().get("trained") or {}
            why = trained.get("reason") if isinstance(trained, dict) else None
            value = (
                f"{label} {report.metric_value:.4g}"
                if report.metric_value is not None
                else report.verdict.value
            )
            stop = f", stopped: {why} at step {trained.get('steps'):,}" if why == "plateau" else ""
            out.write(f"\r{head}  [{_bar(1.0)}] {value}{stop}\n")
    _print_table(sweep, results, assignment, out)
    return 0 if any(r.metric_value is not None for _, r in results) else 1


def _print_table(
    sweep: SweepPlan, results: list[tuple[int, GradeReport]], assignment: Assignment, out: TextIO
) -> None:
    lower = assignment.grading.lower_is_better
    medians: dict[int, float] = {}
    for index in range(len(sweep.points)):
        values = [r.metric_value for i, r in results if i == index and r.metric_value is not None]
        values = [v for v in values if math.isfinite(v)]
        if values:
            medians[index] = statistics.median(values)
    best = min(medians, key=lambda i: medians[i] if lower else -medians[i]) if medians else None
    out.write(f"\n{'':2}{metric_label(assignment.metric):>12}  settings\n")
    for index, point in enumerate(sweep.points):
        mark = "* " if index == best else "  "
        value = f"{medians[index]:.4g}" if index in medians else "-"
        out.write(f"{mark}{value:>12}  {_settings(point)}\n")
    if best is not None:
        out.write(f"\nbest: {_settings(sweep.points[best])}\n")
