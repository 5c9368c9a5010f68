"""Read-only queries behind the pages only. Nothing here writes or commits. What the API reads too
lives in the domains (grader/assignments/queries.py, grader/submissions/access.py and scoreboard.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup
from sqlalchemy import select

from grader.accounts.models import Role, User
from grader.assignments.models import Assignment
from grader.courses.access import STAFF_ROLES
from grader.courses.models import Course, Enrollment, current_member
from grader.engine.diagnosis.base import NO_KNOWN_MISTAKE, stored_in_order, unexplained
from grader.engine.verdicts import Verdict
from grader.extensions import db, utcnow
from grader.submissions.credit import owned_by
from grader.submissions.models import Attempt, Result, State, Submission
from grader.submissions.services import submissions_today
from grader.workers import queue_estimate

from .fits import fit_caption
from .kept import Kept, kept

STATE_LABELS = {
    State.RECEIVED: "Received",
    State.QUEUED: "Waiting in the queue",
    State.RUNNING: "Training",
    State.SCORED: "Scored",
    State.FAILED: "Failed",
    State.ERROR: "Platform error (not charged)",
}


@dataclass
class AssignmentRow:
    assignment: Assignment
    used: int  # charged submissions in the last 24 hours
    last: Submission | None
    staff: bool


def visible_assignments(user: User) -> list[AssignmentRow]:
    """The assignments of the user's courses (every one for an admin), by course then deadline;
    hidden ones only in the courses the user teaches."""
    query = (
        select(Assignment)
        .join(Course, Course.id == Assignment.course_id)
        .order_by(Course.code, Assignment.deadline.is_(None), Assignment.deadline, Assignment.id)
    )
    staff_courses: set[int] | None = None
    if user.role is not Role.ADMIN:
        query = query.join(Enrollment, Enrollment.course_id == Assignment.course_id).where(
            Enrollment.user_id == user.id, current_member()
        )
        staff_courses = set(
            db.session.scalars(
                select(Enrollment.course_id).where(
                    Enrollment.user_id == user.id, Enrollment.role.in_(STAFF_ROLES), current_member()
                )
            )
        )
        query = query.where(Assignment.hidden.is_(False) | Assignment.course_id.in_(staff_courses))
    now = utcnow()
    return [
        AssignmentRow(
            assignment=assignment,
            used=submissions_today(user, assignment, now),
            last=latest_submission(user, assignment),
            staff=staff_courses is None or assignment.course_id in staff_courses,
        )
        for assignment in db.session.scalars(query)
    ]


def taught_courses(user: User) -> list[Course]:
    """The courses the user may publish assignments in (every course for an admin)."""
    query = select(Course).order_by(Course.code)
    if user.role is not Role.ADMIN:
        query = query.join(Enrollment, Enrollment.course_id == Course.id).where(
            Enrollment.user_id == user.id, Enrollment.role.in_(STAFF_ROLES), current_member()
        )
    return list(db.session.scalars(query))


def latest_submission(user: User, assignment: Assignment) -> Submission | None:
    return db.session.scalar(
        select(Submission)
        .where(owned_by(user.id), Submission.assignment_version_id.in_(assignment.version_ids))
        .order_by(Submission.created_at.desc(), Submission.id.desc())
        .limit(1)
    )


def user_submissions(user: User, assignment: Assignment, limit: int = 20) -> list[Submission]:
    return list(
        db.session.scalars(
            select(Submission)
            .where(owned_by(user.id), Submission.assignment_version_id.in_(assignment.version_ids))
            .order_by(Submission.created_at.desc(), Submission.id.desc())
            .limit(limit)
        )
    )


def attempts_of(submission_id: int) -> list[Attempt]:
    """Every grading attempt of a submission, in order (who ran it, when, how it ended)."""
    return list(
        db.session.scalars(
            select(Attempt).where(Attempt.submission_id == submission_id).order_by(Attempt.number)
        )
    )


def status_of(submission_id: int) -> dict[str, Any] | None:
    """A fresh read of the state and progress snapshot (columns, not the identity map's copy), and
    the place in the queue while it waits or trains (from the queue's shared snapshot: cheap)."""
    row = db.session.execute(
        select(Submission.state, Submission.progress, Submission.attempts, Submission.queue).where(
            Submission.id == submission_id
        )
    ).first()
    if row is None:
        return None
    state, progress, attempts, queue = row
    place = queue_estimate.place(submission_id, state, queue)
    return {
        "id": submission_id,
        "state": state.value,
        "label": STATE_LABELS[state],
        "final": state.final,
        "progress": progress if isinstance(progress, dict) else None,  # stored NaN-free (curves.json_safe)
        "attempts": attempts,
        "queue": place.as_payload() if place is not None else None,
    }


def end_read() -> None:
    """End the read-only transaction, so a long poll holds no connection or snapshot between reads."""
    db.session.rollback()


@dataclass
class ResultView:
    result: Result
    title: str
    traceback: str | None
    notes: list[str]
    warnings: list[dict[str, Any]]
    figures: ResultFigures  # the curves, the fit and their JSON
    diagnoses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def curves(self) -> dict[str, dict[str, Any]]:
        return self.figures.curves

    @property
    def charts(self) -> list[dict[str, Any]]:  # {key, title, series: [curve names]}
        return self.figures.charts

    @property
    def fit(self) -> dict[str, Any] | None:  # the model over its input domain (grader/engine/grid.py)
        return self.figures.fit

    @property
    def fit_caption(self) -> str:
        return self.figures.fit_caption

    def _run_detail(self, key: str) -> dict[str, Any] | None:
        """A table the run's own details hold (staff-only facts), or None."""
        inner = self.result.details.get("details") if isinstance(self.result.details, dict) else None
        found = inner.get(key) if isinstance(inner, dict) else None
        return found if isinstance(found, dict) else None

    @property
    def records_disagree(self) -> dict[str, Any] | None:
        """The run's own record of its model against the host's measure of its weights (staff only)."""
        return self._run_detail("records_disagree")

    @property
    def exact_metric(self) -> float | None:
        """The hidden-set metric before rounding for students (rules.Grading.disclosure; staff only)."""
        value = (self._run_detail("exact_metric") or {}).get("hidden")
        return value if isinstance(value, (int, float)) else None

    @property
    def learning_doubt(self) -> dict[str, Any] | None:
        """Signs that a passing run did not need to learn (runner/learning.py; staff only)."""
        return self._run_detail("learning_doubt")

    @property
    def no_known_mistake(self) -> str:
        """What to say when the run fell short and no diagnosis explains it ('' otherwise)."""
        severities = [str(d.get("severity")) for d in self.diagnoses]
        return NO_KNOWN_MISTAKE if unexplained(self.result.verdict, self.result.passed, severities) else ""


@dataclass(frozen=True)
class ResultFigures:
    """A result's charts as the page draws them, and their JSON for the page's scripts (shared by every
    view of the result in this process: read, never changed)."""

    curves: dict[str, dict[str, Any]]
    charts: list[dict[str, Any]]
    fit: dict[str, Any] | None
    fit_caption: str
    curves_json: Markup
    charts_json: Markup
    fit_json: Markup


FIGURES_BYTES = 32 * 2**20  # of JSON per web process


def result_figures(result: Result) -> ResultFigures:
    """The result's curves and fit, read and encoded once per process: a result's rows are written with
    it and never change (a regrade writes a new result), and the curves, fit grid and their JSON were a
    third of each result page's time."""
    store = kept("result_figures", lambda: Kept(FIGURES_BYTES, _figures_size))
    key = (result.id, result.created_at)
    found = store.get(key)
    if found is None:
        found = _figures(result)
        store.put(key, found)
    return found


def _figures_size(figures: ResultFigures) -> int:
    return len(figures.curves_json) + len(figures.charts_json) + len(figures.fit_json)


def _figures(result: Result) -> ResultFigures:
    fit = result.fit.payload if result.fit is not None and isinstance(result.fit.payload, dict) else None
    curves = {
        curve.series: {
            "steps": curve.steps,
            "values": curve.values,
            "points_total": curve.points_total,
            "summary": curve_summary(curve.series, curve.steps, curve.values, curve.points_total),
        }
        for curve in sorted(result.curves, key=lambda c: (c.series != "loss", c.series))
    }
    charts = chart_groups([curve.series for curve in result.curves])

    def encoded(value: Any) -> Markup:  # as the templates' ``tojson`` writes it
        return htmlsafe_json_dumps(value, dumps=current_app.json.dumps)

    return ResultFigures(
        curves, charts, fit, fit_caption(fit) if fit else "", encoded(curves), encoded(charts), encoded(fit)
    )


def result_view(result: Result) -> ResultView:
    details = result.details if isinstance(result.details, dict) else {}
    inner = details.get("details")
    traceback = inner.get("traceback") if isinstance(inner, dict) else None
    try:
        title = Verdict(result.verdict).headline
    except ValueError:
        title = result.verdict.replace("_", " ").capitalize()
    return ResultView(
        result=result,
        title=title,
        traceback=traceback if isinstance(traceback, str) and traceback.strip() else None,
        notes=[str(note) for note in details.get("notes") or []],
        warnings=[w for w in details.get("warnings") or [] if isinstance(w, dict)],
        figures=result_figures(result),
        diagnoses=stored_in_order(details.get("diagnoses")),
    )


def compared_curves(submissions: list[Submission]) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """The loss and held-out curves of several submissions, named "#id series", and how to group them."""
    curves: dict[str, dict[str, Any]] = {}
    groups: dict[str, list[str]] = {}
    for submission in submissions:
        for curve in submission.result.curves if submission.result else []:
            kind = (
                "loss"
                if curve.series == "loss"
                else "heldout"
                if curve.series.startswith("heldout/")
                else None
            )
            if kind is None:
                continue
            name = f"#{submission.id} {curve.series}"
            curves[name] = {
                "steps": curve.steps, "values": curve.values, "points_total": curve.points_total,
                "summary": curve_summary(name, curve.steps, curve.values, curve.points_total),
            }  # fmt: skip
            groups.setdefault(kind, []).append(name)
    titles = {"loss": "Training loss", "heldout": "Held-out metric"}
    return curves, [{"key": k, "title": titles[k], "series": groups[k]} for k in titles if k in groups]


def chart_groups(series: list[str]) -> list[dict[str, Any]]:
    """Which curves are drawn together: the loss with the held-out metric, the learning rate, the
    gradient norms of all layers, then anything else on its own."""
    names = set(series)
    groups = []
    loss = [s for s in ("loss",) if s in names] + sorted(s for s in names if s.startswith("heldout/"))
    if loss:
        groups.append(
            {"key": "loss", "title": "Loss and held-out metric" if len(loss) > 1 else "Loss", "series": loss}
        )
    if "lr" in names:
        groups.append({"key": "lr", "title": "Learning rate", "series": ["lr"]})
    norms = sorted(s for s in names if s.startswith("grad_norm/"))
    if norms:
        groups.append({"key": "grad_norm", "title": "Gradient norm per layer", "series": norms})
    taken = set(loss) | {"lr"} | set(norms)
    groups += [{"key": s, "title": s, "series": [s]} for s in sorted(names - taken)]
    return groups


def curve_summary(series: str, steps: list[int], values: list[float | None], total: int) -> str:
    """The curve in words: for screen readers, and for browsers without JavaScript."""
    points = [(s, v) for s, v in zip(steps, values, strict=False) if v is not None and math.isfinite(v)]
    if not points:
        return f"{series}: no finite values were recorded (training diverged)."
    (first_step, first), (last_step, last) = points[0], points[-1]
    low_step, low = min(points, key=lambda p: p[1])
    gaps = len(values) - len(points)
    return (
        f"{series}: {first:.4g} at step {first_step:,}, {last:.4g} at step {last_step:,}; "
        f"lowest {low:.4g} at step {low_step:,}. {total:,} points recorded, {len(steps):,} shown"
        + (f", {gaps:,} not finite (gaps)." if gaps else ".")
    )
