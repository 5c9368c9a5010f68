"""Grade a submission for an assignment: one sandboxed run per training seed, scored on the host.

The evaluation set's targets stay in this process: only its inputs go to the
sandbox (see ``session``). With several seeds, the reported score is the median
run's, so a lucky or unlucky initialisation does not decide a grade. A sweep point
is one such grading with its ``params``; with ``restarts``, a run that stalls early
is trained again from a new initialisation and the stalled attempts are reported.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from grader.engine import conventions
from grader.engine.datasets import DataSet, public_files
from grader.engine.diagnosis import Diagnosis, diagnose, gather
from grader.engine.fingerprint import behaviour_print
from grader.engine.grid import Grid, domain_grid, fit_view
from grader.engine.runner.learning import learning_doubts
from grader.engine.runner.measure import within_budget
from grader.engine.runner.restarts import RESTART_STRIDE, stalled_early
from grader.engine.runner.session import (
    RunRequest,
    RunResult,
    early_stopping_settings,
    heldout_loss,
    run_submission,
)
from grader.engine.runner.submission import PreparedSubmission
from grader.engine.sandbox.backend import Backend
from grader.engine.sandbox.limits import Limits, MiB
from grader.engine.sandbox.pool import WarmPool
from grader.engine.scoring import BadPredictions, check_predictions, disclosed, metric, metric_label, points
from grader.engine.spec import Assignment
from grader.engine.verdicts import Verdict


@dataclass
class SeedRun:
    result: RunResult
    metric_value: float | None = None
    score: float | None = None
    values: np.ndarray | None = None  # the checked predictions (regression values or classes)
    public_metric: float | None = None  # on the public part of the evaluation set
    public_score: float | None = None
    grid_predictions: np.ndarray | None = None  # raw predictions on the domain grid
    reading: str | None = None  # the other convention the hidden predictions were read under


@dataclass
class GradeReport:
    assignment: str
    verdict: Verdict
    message: str
    metric_name: str
    metric_value: float | None
    score: float | None
    max_score: float
    passed: bool
    runs: list[SeedRun] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    diagnoses: list[Diagnosis] = field(default_factory=list)
    public_metric: float | None = None
    public_score: float | None = None
    fit: dict[str, Any] | None = None  # the model over its input domain (grid.fit_view)
    behaviour: dict[str, Any] | None = None  # how the chosen run errs (fingerprint.behaviour_print)
    # Runs that stalled early and were trained again from a new seed (``grade(restarts=...)``): each
    # {"seed", "for_seed", "restarted_as", "step", "first_loss", "best_loss", "metric_value", "score"}.
    restarts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def chosen(self) -> SeedRun | None:
        return self.runs[len(self.runs) // 2] if self.runs else None

    def summary(self) -> dict[str, Any]:
        run = self.chosen
        training = run.result.training if run else None
        return {
            "assignment": self.assignment,
            "verdict": self.verdict.value,
            "title": self.verdict.headline,
            "message": self.message,
            "metric": self.metric_name,
            "metric_value": self.metric_value,
            "score": self.score,
            "max_score": self.max_score,
            "passed": self.passed,
            "charged": self.verdict.charged,
            "notes": self.notes,
            "diagnoses": [d.as_dict() for d in self.diagnoses],
            "details": run.result.details if run else {},
            "seeds": [r.result.seed for r in self.runs],
            "seed_scores": [r.score for r in self.runs],
            "trained": training.trained if training else None,
            "counters": training.counters if training else {},
            "probes": training.probes if training else {},
            "model": training.model if training else None,
            "warnings": training.warnings if training else [],
            "usage": vars(run.result.usage) if run else {},
            "settings": training.settings if training else None,
            "early_stopping": training.early_stopping if training else None,
            "restarts": self.restarts,
        }


def limits_for(assignment: Assignment, threads: int) -> Limits:
    budget = assignment.budget
    return Limits(
        wall_seconds=budget.wall_seconds,
        memory_bytes=budget.memory_mb * MiB,
        threads=threads,
    )


def grade(
    assignment: Assignment,
    submission: PreparedSubmission,
    evaluation: DataSet,
    seeds: list[int],
    *,
    threads: int = 1,
    pool: WarmPool | None = None,
    uid: int | None = None,
    jobs_root: Path | None = None,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    gpu_index: int | None = None,
    params: dict[str, Any] | None = None,
    early_stopping: dict[str, Any] | None = None,
    restarts: int = 0,
    backend: Backend | None = None,
) -> GradeReport:
    """Train and score ``submission`` once per seed.

    ``params``: a sweep point's settings (gradekit.params(); applied in module mode). ``early_stopping``:
    patience, min_delta, every and loss (``heldout_loss`` of the task when left out; see
    ``early_stopping_settings``). ``restarts``: how many times a run that stalled early is trained
    again from a new seed (see ``restarts.stalled_early``).
    """
    public = public_files(assignment)
    grid = domain_grid(assignment, public.get("x_val"))
    # The grid rides along with the evaluation inputs (inputs only): one inference call serves both.
    eval_inputs = evaluation.inputs if grid is None else np.concatenate([evaluation.inputs, grid.inputs])
    if early_stopping is not None and "loss" not in early_stopping:
        early_stopping = {**early_stopping, "loss": heldout_loss(assignment.task)}
    runs: list[SeedRun] = []
    stalled: list[dict[str, Any]] = []
    first_run: float | None = None

    def train(seed: int, index: int) -> SeedRun:
        request = RunRequest(
            files=submission.files,
            entry=submission.entry,
            mode=submission.mode,
            eval_inputs=eval_inputs,
            public_data=public,
            seed=seed,
            max_steps=assignment.budget.max_steps,
            train_seconds=assignment.budget.train_seconds,
            eval_seconds=assignment.budget.eval_seconds,
            max_parameters=assignment.budget.max_parameters,
            limits=replace(limits_for(assignment, threads), gpu_index=gpu_index),
            device="cpu" if gpu_index is None else "cuda",
            params=params,
            early_stopping=early_stopping,
        )
        progress = _progress(on_progress, assignment, index, len(seeds), first_run)
        run = SeedRun(
            run_submission(
                request, pool=pool, uid=uid, jobs_root=jobs_root, on_progress=progress, backend=backend
            )
        )
        _split_grid(run, len(evaluation.targets), grid)
        reading = conventions.accepted_reading(
            assignment.task, assignment.grading, run.result.training, public.get("y_val")
        )
        _score(assignment, evaluation, run, reading)
        _heldout_curve(assignment, run, public.get("y_val"))
        doubts = learning_doubts(assignment, run.result.training, run.score)
        if doubts:
            run.result.details["learning_doubt"] = doubts
        return run

    for index, seed in enumerate(seeds):
        started = time.monotonic()
        run = train(seed, index)
        first_run = first_run or time.monotonic() - started
        for k in range(1, restarts + 1):
            stall = stalled_early(assignment, run, params)
            if stall is None:
                break
            again = seed + RESTART_STRIDE * k
            stalled.append({"seed": run.result.seed, "for_seed": seed, "restarted_as": again} | stall)
            run = train(again, index)  # the last attempt is this seed's run, whatever it scores
        runs.append(run)
        if run.result.verdict is not Verdict.SCORED:
            break  # a submission that fails once is not retried with other seeds
    report = _report(assignment, submission, runs)
    report.restarts = stalled
    chosen = report.chosen
    if chosen is not None and chosen.score is not None:
        report.fit = _fit(assignment, grid, chosen, public)
        report.behaviour = behaviour_print(assignment.task, chosen.values, evaluation.targets)
    if chosen is not None:
        try:
            evidence = gather(
                assignment, chosen.result.training, chosen.metric_value, report.passed,
                chosen.values if not assignment.task.classification else None, public.get("y_val"),
                public.get("x_val"),
            )  # fmt: skip
            report.diagnoses = diagnose(evidence)
        except Exception:  # noqa: BLE001 - diagnoses rest on the sandbox's claims: never let them stop a grade
            report.diagnoses = []
    return report


def _progress(
    on_progress: Callable[[dict[str, Any]], None] | None,
    assignment: Assignment,
    index: int,
    runs: int,
    first_run: float | None,
) -> Callable[[dict[str, Any]], None] | None:
    """The harness's progress, placed in the whole grading: which run, how far overall, time left.

    Until one run has finished, its length is unknown (a script stops when it likes), so the time
    left is an upper bound from the training budget; afterwards, the first run's length estimates it.
    """
    if on_progress is None:
        return None
    budget = assignment.budget.train_seconds
    expected = first_run or budget

    def report(record: dict[str, Any]) -> None:
        elapsed = float(record.get("elapsed") or 0.0)
        current = min(elapsed / expected, 0.99) if expected > 0 else 0.0
        left = max(expected - elapsed, 0.0) + expected * (runs - index - 1)
        on_progress(
            record
            | {
                "run": index + 1, "runs": runs, "fraction": round((index + current) / runs, 4),
                "eta_seconds": round(left, 1), "eta_is_bound": first_run is None,
                "step_limit": assignment.budget.max_steps,
            }
        )  # fmt: skip

    return report


def _score(assignment: Assignment, evaluation: DataSet, run: SeedRun, reading: str | None = None) -> None:
    result = run.result
    if result.verdict is not Verdict.SCORED or result.predictions is None:
        return
    if not within_budget(assignment.budget.max_parameters, result):
        result.predictions = None
        return
    try:
        values, run.reading = conventions.checked(
            result.predictions, len(evaluation.targets), assignment.task, reading
        )
    except BadPredictions as exc:
        result.verdict, result.message = Verdict.BAD_PREDICTIONS, f"Bad predictions: {exc}."
        result.predictions = None
        return
    grading = assignment.grading
    run.values = values
    exact = metric(grading.metric, values, evaluation.targets, grading.floor, grading.cap)
    part = public_part(len(evaluation.targets))
    exact_public = metric(grading.metric, values[part], evaluation.targets[part], grading.floor, grading.cap)
    run.metric_value, run.public_metric = disclosed(exact, grading), disclosed(exact_public, grading)
    if grading.disclosure != "exact":
        result.details["exact_metric"] = {"hidden": exact, "public": exact_public}  # staff only
    run.score = points(run.metric_value, grading)
    run.public_score = points(run.public_metric, grading)


PUBLIC_FRACTION = 0.3


def public_part(count: int) -> slice:
    """The evaluation points behind the public score (a leaderboard before the deadline).

    The hidden set is drawn at random, so its first 30% is a fair sample; the ranking after the
    deadline uses all of it, so tuning against the public score alone does not pay.
    """
    return slice(0, max(1, math.ceil(count * PUBLIC_FRACTION)))


def _split_grid(run: SeedRun, count: int, grid: Grid | None) -> None:
    """Keep the evaluation predictions for scoring and the grid's apart (the model saw them together)."""
    predictions = run.result.predictions
    if grid is None or predictions is None or len(predictions) != count + len(grid.inputs):
        return  # a wrong count is reported by the scoring against the inputs the model was given
    run.result.predictions, run.grid_predictions = predictions[:count], predictions[count:]


def _fit(
    assignment: Assignment, grid: Grid | None, run: SeedRun, public: dict[str, np.ndarray]
) -> dict[str, Any] | None:
    if grid is None or run.grid_predictions is None:
        return None
    try:
        predicted = check_predictions(run.grid_predictions, len(grid.inputs), assignment.task)
    except BadPredictions:
        return None  # fine on the evaluation points, wild elsewhere: nothing to draw, nothing to grade
    points_shown = (public["x_val"], public["y_val"]) if "x_val" in public else None
    return fit_view(assignment, grid, predicted, points_shown)


def _heldout_curve(assignment: Assignment, run: SeedRun, targets: np.ndarray | None) -> None:
    """Score the predictions sent at sampled steps on public validation points: a held-out curve.

    They are the student's claims about their own model, so a malformed one is skipped; the
    curve describes, it never scores.
    """
    training = run.result.training
    if targets is None or not training.heldout:
        return
    steps: list[int] = []
    values: list[float | None] = []
    for step, claimed in training.heldout:
        try:
            predictions = np.asarray(claimed, dtype=np.float64)
            count = len(predictions)
            checked = check_predictions(predictions, count, assignment.task)
            value = metric(
                assignment.metric,
                checked,
                targets[:count].astype(np.float64),
                assignment.grading.floor,
                assignment.grading.cap,
            )
        except (ValueError, TypeError, IndexError, OverflowError, BadPredictions):
            continue
        steps.append(int(step))
        values.append(value if np.isfinite(value) else None)
    if steps:
        order = sorted(range(len(steps)), key=steps.__getitem__)  # step 0 is sent after training
        training.curves[f"heldout/{assignment.metric}"] = (
            [steps[i] for i in order],
            [values[i] for i in order],
        )


def _report(assignment: Assignment, submission: PreparedSubmission, runs: list[SeedRun]) -> GradeReport:
    notes = list(submission.warnings)
    scored = [r for r in runs if r.score is not None]
    failed = next((r for r in runs if r.score is None), None)
    public_value: float | None = None
    public_score: float | None = None
    if failed is not None:
        runs = [failed]
        result = failed.result
        verdict, message, value, score = result.verdict, result.message, None, None
    else:
        scored.sort(key=lambda r: r.score or 0.0)
        runs = scored
        chosen = scored[len(scored) // 2]
        value, score = chosen.metric_value, statistics.median(r.score or 0.0 for r in scored)
        public_value = chosen.public_metric
        public_score = statistics.median(r.public_score or 0.0 for r in scored)
        verdict = Verdict.SCORED
        message = (
            f"{metric_label(assignment.metric)} {value:.3g} on the evaluation set: "
            f"{score:g}/{assignment.points:g}."
        )
    reading = next((r.reading for r in runs if r.reading), None)
    if reading is not None:
        notes.append(
            f"Graded reading your model's outputs as {conventions.WORDS[reading]}: that is what they "
            "clearly are on the public split, and this assignment accepts it (see the diagnosis)."
        )
    trained = runs[0].result.training.trained if runs else None
    if trained and trained.get("reason") == "step_budget":
        notes.append(
            f"Training was stopped at the step budget ({assignment.budget.max_steps} optimizer steps)."
        )
    elif trained and trained.get("reason") == "time_budget":
        notes.append(f"Training was stopped at the time budget ({assignment.budget.train_seconds:g} s).")
    elif trained and trained.get("reason") == "plateau":
        notes.append(
            f"Training was stopped early, after {trained.get('steps')} optimizer steps: the loss on the "
            "public validation set had stopped improving (early stopping)."
        )
    passed = score is not None and score >= assignment.points
    report = GradeReport(
        assignment.slug,
        verdict,
        message,
        assignment.metric,
        value,
        score,
        assignment.points,
        passed,
        runs,
        notes,
    )
    report.public_metric, report.public_score = public_value, public_score
    return report


__all__ = ["GradeReport", "SeedRun", "early_stopping_settings", "grade", "heldout_loss"]
