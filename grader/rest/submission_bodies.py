"""The API's submission, result and curve bodies, and how they are made from the rows."""

from __future__ import annotations

from typing import Any, Literal

from flask import url_for
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from grader.engine.diagnosis.base import SEVERITIES, stored_in_order
from grader.engine.scoring import metric_label
from grader.engine.verdicts import Verdict
from grader.submissions.models import Curve, Result, State, Submission
from grader.workers import queue_estimate

from .schemas import Id, Model, Number, Page, PageQuery, UtcDateTime

StateName = State  # the schema's enum: received, queued, running, scored, failed, error


class StudentRef(Model):
    id: int
    name: str
    email: str


class Progress(BaseModel):
    """The ~1 Hz snapshot of a running grading (as the worker last stored it)."""

    model_config = ConfigDict(extra="allow")

    run: int | None = Field(None, description="The training run under way, from 1.")
    runs: int | None = Field(None, description="Training runs in all (one per seed).")
    fraction: Number = Field(None, description="How far the whole grading is, 0 to 1.")
    eta_seconds: Number = Field(None, description="Seconds left (an estimate, or an upper bound).")
    eta_is_bound: bool | None = Field(None, description="True while eta_seconds is only an upper bound.")
    step: int | None = Field(None, description="Training steps done in this run.")
    step_limit: int | None = None
    loss: Number = None
    elapsed: Number = Field(None, description="Seconds this run has trained.")
    budget_seconds: Number = Field(None, description="The training time budget of one run.")


class CurveOut(Model):
    steps: list[int]
    values: list[Number]
    points_total: int = Field(description="Points recorded; at most ~500 are kept here.")


class DiagnosisOut(Model):
    code: str
    severity: str = Field(description=f"One of {', '.join(SEVERITIES)}.")
    title: str
    where: str = Field(description="file.py:line in your code, when known.")
    seen: str
    why: str
    fix: str


class ResultOut(Model):
    submission_id: int
    verdict: str
    title: str = Field(description="The verdict in words.")
    message: str
    metric: str
    metric_label: str
    metric_value: Number
    score: Number
    max_score: float
    passed: bool
    seed: int
    wall_seconds: Number
    late_days: int
    late_penalty_percent: float
    diagnoses: list[DiagnosisOut]
    details: dict[str, Any] = Field(description="Everything else recorded: notes, warnings, counters, model.")
    graded_at: UtcDateTime
    url: str
    curves_url: str


class ResultWithCurves(ResultOut):
    curves: dict[str, CurveOut]


class SweepRef(Model):
    id: int
    url: str
    page_url: str
    point: int = Field(description="Which point of the sweep this run is (an index into its points).")
    seed_index: int
    settings: dict[str, Any] = Field(description="The point's settings, passed into the run.")


class SubmissionOut(Model):
    id: int
    url: str
    page_url: str = Field(description="The submission's page on the website.")
    assignment_id: int
    assignment_version: int
    student: StudentRef
    state: StateName
    final: bool = Field(description="True once scored, failed or error: it will not change unless regraded.")
    filename: str
    created_at: UtcDateTime
    attempts: int
    charged: bool = Field(description="Counts against the limits (a platform error does not).")
    late: bool
    progress: Progress | None
    score: Number = Field(description="The score once graded (null before, or if it failed).")
    verdict: str | None
    sweep: SweepRef | None = Field(None, description="Present when this submission is a run of a sweep.")


class QueuePlace(Model):
    """Where a waiting submission stands in its grading queue and when its grading should start and
    end; for a running one, when it should end. Estimates: the queue's worker slots and its recent
    run times, as measured now, draining the queue in the order the slots take it."""

    queue: str = Field(description="The queue that grades it: cpu, gpu or gpu-<kind>.")
    position: int | None = Field(
        description="1 for the next submission a free worker slot takes (fair turns between students, "
        "then the oldest first); null once running."
    )
    ahead: int | None = Field(description="How many are graded before it; null once running.")
    length: int = Field(description="How many wait in the queue, every course's.")
    slots: int = Field(description="Worker slots grading this queue now (at least 1).")
    run_seconds: float = Field(description="How long grading this assignment typically takes, in seconds.")
    run_seconds_from: Literal["assignment", "queue", "budget"] = Field(
        description="What run_seconds is measured from: this assignment's recent gradings, the queue's, "
        "or (none yet) its time budget, which errs long."
    )
    starts_in_seconds: int | None = Field(
        description="Estimated seconds until a worker slot starts grading it; null once running."
    )
    ends_in_seconds: int = Field(description="Estimated seconds until its result.")
    summary: str = Field(description="The same in words, as the status page says it.")


class SubmissionStatus(SubmissionOut):
    queue: QueuePlace | None = Field(
        None, description="While it waits or trains: its place in the queue and the time estimates."
    )
    result: ResultWithCurves | None = Field(description="Present once the submission is final.")


class SubmissionPage(Page):
    items: list[SubmissionOut]


class CurvesOut(Model):
    submission_id: int
    curves: dict[str, CurveOut] = Field(description="Each series (loss, lr, grad_norm/<layer>, heldout/...).")


class SubmissionQuery(PageQuery):
    student: Id | None = Field(None, description="Staff: only this student's submissions (a user id).")
    state: StateName | None = Field(None, description="Only submissions in this state.")


def progress_of(raw: Any) -> Progress | None:
    """The stored snapshot; a member of an unexpected type is left out rather than failing the request."""
    if not isinstance(raw, dict):
        return None
    snapshot = dict(raw)
    for _ in range(len(snapshot) + 1):
        try:
            return Progress.model_validate(snapshot)
        except ValidationError as error:
            for item in error.errors():
                snapshot.pop(str(item["loc"][0]), None)
    return None


def curves_of(result: Result) -> dict[str, CurveOut]:
    ordered: list[Curve] = sorted(result.curves, key=lambda c: (c.series != "loss", c.series))
    return {c.series: CurveOut(steps=c.steps, values=c.values, points_total=c.points_total) for c in ordered}


def _diagnoses(details: dict[str, Any]) -> list[DiagnosisOut]:
    found = stored_in_order(details.get("diagnoses"))
    fields = ("code", "severity", "title", "where", "seen", "why", "fix")
    return [DiagnosisOut(**{name: str(d.get(name) or "") for name in fields}) for d in found]


def _result_fields(result: Result) -> dict[str, Any]:
    details = result.details if isinstance(result.details, dict) else {}
    late = details.get("late")
    late = late if isinstance(late, dict) else {}
    try:
        title = Verdict(result.verdict).headline
    except ValueError:
        title = result.verdict.replace("_", " ").capitalize()
    return {
        "submission_id": result.submission_id, "verdict": result.verdict, "title": title,
        "message": result.message, "metric": result.metric_name, "metric_label": metric_label(result.metric_name),
        "metric_value": result.metric_value, "score": result.score, "max_score": result.max_score,
        "passed": result.passed, "seed": result.seed, "wall_seconds": result.wall_seconds,
        "late_days": int(late.get("days") or 0), "late_penalty_percent": float(late.get("penalty_percent") or 0),
        "diagnoses": _diagnoses(details), "details": details, "graded_at": result.created_at,
        "url": url_for("submissions_api.get_result", submission_id=result.submission_id),
        "curves_url": url_for("submissions_api.get_curves", submission_id=result.submission_id),
    }  # fmt: skip


def result_of(result: Result) -> ResultOut:
    return ResultOut(**_result_fields(result))


def submission_of(submission: Submission) -> dict[str, Any]:
    result = submission.result
    return {
        "id": submission.id,
        "url": url_for("submissions_api.get_submission", submission_id=submission.id),
        "page_url": url_for("web.status", submission_id=submission.id),
        "assignment_id": submission.assignment_version.assignment_id,
        "assignment_version": submission.assignment_version.number,
        "student": StudentRef(id=submission.user.id, name=submission.user.name, email=submission.user.email),
        "state": submission.state,
        "final": submission.state.final,
        "filename": submission.filename,
        "created_at": submission.created_at,
        "attempts": submission.attempts,
        "charged": submission.charged,
        "late": submission.late,
        "progress": progress_of(submission.progress),
        "score": result.score if result is not None else None,
        "verdict": result.verdict if result is not None else None,
        "sweep": _sweep_ref(submission),
    }


def _sweep_ref(submission: Submission) -> SweepRef | None:
    if submission.sweep_id is None:
        return None
    return SweepRef(
        id=submission.sweep_id,
        url=url_for("sweeps_api.get_sweep", sweep_id=submission.sweep_id),
        page_url=url_for("sweeps.page", sweep_id=submission.sweep_id),
        point=submission.sweep_point or 0,
        seed_index=submission.sweep_seed or 0,
        settings=submission.params or {},
    )


def status_of(submission: Submission) -> SubmissionStatus:
    result = submission.result
    body = submission_of(submission)
    full = (
        ResultWithCurves(**_result_fields(result), curves=curves_of(result)) if result is not None else None
    )
    place = queue_estimate.place(submission.id, submission.state, submission.queue)
    queue = QueuePlace(**place.as_payload()) if place is not None else None
    return SubmissionStatus(**body, queue=queue, result=full)
