"""A sweep's runs side by side: who may see it, each point's runs and their spread, the best point."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from grader.accounts.models import User
from grader.assignments.models import AssignmentVersion
from grader.courses.access import is_staff
from grader.engine.sweep_settings import SETTINGS
from grader.extensions import db
from grader.submissions.models import Curve, Result, Submission, Sweep


def sweep_for(user: User, sweep_id: int) -> Sweep | None:
    """The sweep if it is the user's own, or the user is staff of its course (as submissions)."""
    sweep = db.session.get(Sweep, sweep_id)
    if sweep is None:
        return None
    if sweep.user_id == user.id:
        return sweep
    version = db.session.get(AssignmentVersion, sweep.assignment_version_id)
    assert version is not None
    return sweep if is_staff(user, version.assignment.course_id) else None


@dataclass
class Run:
    submission_id: int
    point: int
    seed_index: int
    state: str
    result_id: int | None
    seed: int | None
    metric_value: float | None
    score: float | None
    verdict: str | None
    stopped: str | None  # why training ended: finished, plateau, step_budget, time_budget
    steps: int | None
    best_heldout: float | None  # the lowest held-out loss seen while it trained (early stopping's)
    restarts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Point:
    index: int
    settings: dict[str, Any]
    runs: list[Run]
    median: float | None = None  # of the metric over its seeds' finished runs
    low: float | None = None
    high: float | None = None
    best: bool = False

    @property
    def final(self) -> bool:
        return all(r.state in ("scored", "failed", "error") for r in self.runs)


@dataclass
class Comparison:
    sweep: Sweep
    metric: str
    lower_is_better: bool
    points: list[Point]
    settings: list[str]  # the settings that vary, in the order asked
    log_settings: list[str]  # those drawn or plotted on a log axis
    graded_seeds: int = 1  # the seeds per point the sweep needs to be graded (the assignment's)
    # Settings that runs reported never reaching the student's code (diagnosis sweep_settings_ignored),
    # and how many runs said so: the page warns that those runs trained alike.
    ignored: list[str] = field(default_factory=list)
    ignoring_runs: int = 0

    @property
    def gradable(self) -> bool:
        return int(self.sweep.plan["seeds"]) >= self.graded_seeds

    @property
    def done(self) -> int:
        return sum(1 for p in self.points for r in p.runs if r.state in ("scored", "failed", "error"))

    @property
    def total(self) -> int:
        return sum(len(p.runs) for p in self.points)

    @property
    def best(self) -> Point | None:
        return next((p for p in self.points if p.best), None)


def compare(sweep: Sweep) -> Comparison:
    """Every point with its runs, the spread of the metric across seeds, and the best point marked."""
    version = db.session.get(AssignmentVersion, sweep.assignment_version_id)
    assert version is not None
    spec = version.spec()
    rows = db.session.scalars(
        select(Submission)
        .where(Submission.sweep_id == sweep.id)
        # Not the runs' output or logs: the page polls this while the sweep runs.
        .options(
            selectinload(Submission.result).load_only(
                Result.seed, Result.metric_value, Result.score, Result.verdict, Result.details
            )
        )
        .order_by(Submission.sweep_point, Submission.sweep_seed)
    ).all()
    plan = sweep.plan
    points = [Point(i, settings, []) for i, settings in enumerate(plan["points"])]
    ignored: set[str] = set()
    ignoring = 0
    for row in rows:
        result = row.result
        details = (result.details or {}) if result is not None else {}
        unread = _unread(details)
        if unread:
            ignoring += 1
            ignored.update(unread)
        trained = details.get("trained") or {}
        stopping = details.get("early_stopping") or {}
        points[row.sweep_point or 0].runs.append(
            Run(
                submission_id=row.id, point=row.sweep_point or 0, seed_index=row.sweep_seed or 0,
                state=row.state.value, result_id=result.id if result is not None else None,
                seed=result.seed if result is not None else None,
                metric_value=result.metric_value if result is not None else None,
                score=result.score if result is not None else None,
                verdict=result.verdict if result is not None else None,
                stopped=trained.get("reason") if isinstance(trained, dict) else None,
                steps=trained.get("steps") if isinstance(trained, dict) else None,
                best_heldout=stopping.get("best") if isinstance(stopping, dict) else None,
                restarts=list(details.get("restarts") or []),
            )
        )  # fmt: skip
    lower = spec.grading.lower_is_better
    for point in points:
        values = [r.metric_value for r in point.runs if r.metric_value is not None]
        if values:
            point.median, point.low, point.high = statistics.median(values), min(values), max(values)
    graded = next((p for p in points for r in p.runs if r.submission_id == sweep.graded_submission_id), None)
    ranked = [p for p in points if p.median is not None]
    if graded is not None:
        graded.best = True  # the settled grade's point (settle.py), the same rule as below
    elif ranked:
        best = min(ranked, key=lambda p: (p.median if lower else -(p.median or 0.0), p.index))
        best.best = True
    varying = [name for name in plan["space"] if name != "fixed"]
    logs = [n for n in varying if n in SETTINGS and SETTINGS[n].log_scale]
    return Comparison(
        sweep,
        spec.grading.metric,
        lower,
        points,
        varying,
        logs,
        spec.grading.seeds,
        sorted(ignored),
        ignoring,
    )


def _unread(details: dict[str, Any]) -> list[str]:
    """The settings a run's diagnosis says never reached the code (its own record, read defensively)."""
    for diagnosis in details.get("diagnoses") or []:
        if isinstance(diagnosis, dict) and diagnosis.get("code") == "sweep_settings_ignored":
            numbers = diagnosis.get("numbers")
            unread = numbers.get("unread") if isinstance(numbers, dict) else None
            return [name for name in unread if isinstance(name, str)] if isinstance(unread, list) else []
    return []


def curves(
    sweep: Sweep, series: tuple[str, ...], have: frozenset[int] = frozenset()
) -> dict[int, dict[str, dict[str, list[Any]]]]:
    """The stored (downsampled) curves of each run, by submission id, then series name; none of the
    results in ``have`` (a result's curves never change, so a polling page asks for the new ones only)."""
    rows = db.session.execute(
        select(Result.submission_id, Curve.series, Curve.steps, Curve.values)
        .join(Curve, Curve.result_id == Result.id)
        .join(Submission, Submission.id == Result.submission_id)
        .where(Submission.sweep_id == sweep.id, Curve.series.in_(series), Result.id.not_in(have))
    ).all()
    out: dict[int, dict[str, dict[str, list[Any]]]] = {}
    for submission_id, name, steps, values in rows:
        out.setdefault(int(submission_id), {})[name] = {"steps": steps, "values": values}
    return out
