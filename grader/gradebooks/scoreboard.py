"""What instructors see of a whole class: the scoreboard (sorted, filtered, paged in SQL), the
diagnoses, the course overview and the class analytics; read by the pages and the API alike.

Every query here runs a fixed number of times per page, whatever the class size
(tests/service/test_scoreboard_scale.py pins it; benchmarks/scoreboard.py times it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, case, func, select

from grader.accounts.models import Role, User
from grader.assignments.models import Assignment
from grader.courses.models import Enrollment
from grader.engine.diagnosis.base import SEVERITIES
from grader.extensions import db
from grader.submissions.credit import CREDITED_USER, with_credit
from grader.submissions.models import (
    UPLOAD,
    Curve,
    Result,
    ResultDiagnosis,
    ScoreAdjustment,
    State,
    Submission,
    counts_as_grade,
)

SCORE_COLUMNS = ("student", "score", "metric", "attempts", "last", "late")
PICKS = ("best", "last")  # each student's best-scored submission, or their latest graded one


@dataclass
class ScoreRow:
    student_id: int
    name: str
    email: str
    attempts: int  # charged submissions
    last_at: datetime | None
    submission_id: int | None  # the submission shown: best-scored (ties: earliest) or latest graded
    score: float | None
    metric_value: float | None
    verdict: str | None
    late: bool | None
    set_by_hand: bool = False  # the shown score was set by an instructor (a regrade request, a correction)
    left: bool = False  # the LMS's roster no longer lists them (their work stays)


@dataclass
class ScoreboardPage:
    rows: list[ScoreRow]
    students: int  # in the class, after the filter
    submitted: int  # of them, with at least one charged submission
    page: int
    pages: int
    sort: str
    descending: bool
    pick: str
    search: str


def _class_query(
    assignment: Assignment, pick: str, search: str
) -> tuple[Select[*tuple[Any, ...]], dict[str, Any], Select[*tuple[Any, ...]]]:
    """The class's rows (not yet ordered or paged), the columns they sort by, and the class's counts.

    The counts need only the students and their totals, not each one's shown submission.
    """
    versions = assignment.version_ids
    order: tuple[Any, ...]
    if pick == "last":
        order = (Submission.created_at.desc(), Submission.id.desc())
        graded = Result.verdict.is_not(None)
    else:
        order = (Result.score.desc(), Submission.created_at, Submission.id)
        graded = Result.score.is_not(None)
    # A team's submission is a row for each of its members: each gets the team's grade.
    ranked = (
        with_credit(
            select(
                CREDITED_USER.label("user_id"),
                Submission.id.label("submission_id"),
                Submission.late,
                Result.score,
                Result.metric_value,
                Result.verdict,
                ScoreAdjustment.result_id.is_not(None).label("set_by_hand"),
                func.row_number().over(partition_by=CREDITED_USER, order_by=order).label("rank"),
            )
            .join(Result, Result.submission_id == Submission.id)
            .outerjoin(
                ScoreAdjustment,
                (ScoreAdjustment.result_id == Result.id) & ScoreAdjustment.removed_at.is_(None),
            )
        )
        .where(Submission.assignment_version_id.in_(versions), graded, counts_as_grade())
        .subquery()
    )
    # Materialised: computed once per request, whatever the planner believes of the row counts.
    shown = (
        select(ranked)
        .where(ranked.c.rank == 1)
        .cte("shown")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    totals = (
        with_credit(
            select(
                CREDITED_USER.label("user_id"),
                func.count(func.distinct(UPLOAD)).filter(Submission.state != State.ERROR).label("attempts"),
                func.max(Submission.created_at).label("last_at"),
            )
        )
        .where(Submission.assignment_version_id.in_(versions))
        .group_by(CREDITED_USER)
        .cte("totals")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    attempts = func.coalesce(totals.c.attempts, 0)
    query = (
        select(
            User.id,
            User.name,
            User.email,
            attempts.label("attempts"),
            totals.c.last_at,
            shown.c.submission_id,
            shown.c.score,
            shown.c.metric_value,
            shown.c.verdict,
            shown.c.late,
            func.coalesce(shown.c.set_by_hand, False),
            Enrollment.left_at.is_not(None),
        )
        .join(Enrollment, Enrollment.user_id == User.id)
        .outerjoin(shown, shown.c.user_id == User.id)
        .outerjoin(totals, totals.c.user_id == User.id)
        .where(Enrollment.course_id == assignment.course_id, Enrollment.role == Role.STUDENT)
    )
    counts = (
        select(func.count(User.id), func.count(totals.c.user_id).filter(totals.c.attempts > 0))
        .join(Enrollment, Enrollment.user_id == User.id)
        .outerjoin(totals, totals.c.user_id == User.id)
        .where(Enrollment.course_id == assignment.course_id, Enrollment.role == Role.STUDENT)
    )
    if search:
        literal = search.lower().replace("!", "!!").replace("%", "!%").replace("_", "!_")
        pattern = f"%{literal}%"
        matches = func.lower(User.name).like(pattern, escape="!") | func.lower(User.email).like(
            pattern, escape="!"
        )
        query, counts = query.where(matches), counts.where(matches)
    columns = {
        "student": func.lower(User.name), "score": shown.c.score, "metric": shown.c.metric_value,
        "attempts": attempts, "last": totals.c.last_at, "late": shown.c.late,
    }  # fmt: skip
    return query, columns, counts


def scoreboard(
    assignment: Assignment,
    sort: str = "student",
    descending: bool = False,
    page: int = 1,
    per_page: int | None = 100,
    pick: str = "best",
    search: str = "",
) -> ScoreboardPage:
    """One page of the class (every row with ``per_page=None``), sorted and filtered in the database."""
    pick = pick if pick in PICKS else "best"
    search = search.strip()[:100]
    query, columns, counts = _class_query(assignment, pick, search)
    sort = sort if sort in columns else "student"
    column = columns[sort]
    ordered = query.order_by(
        (column.desc() if descending else column.asc()).nulls_last(), func.lower(User.name), User.id
    )
    students, submitted = db.session.execute(counts).one()
    pages = 1 if per_page is None else max(1, -(-int(students) // per_page))
    page = min(max(1, page), pages)
    if per_page is not None:
        ordered = ordered.limit(per_page).offset((page - 1) * per_page)
    rows = [ScoreRow(*row) for row in db.session.execute(ordered).all()]
    return ScoreboardPage(rows, int(students), int(submitted), page, pages, sort, descending, pick, search)


@dataclass
class DiagnosisCount:
    code: str
    title: str
    severity: str  # the most severe level any student got it at
    students: int


def diagnosis_counts(assignment: Assignment) -> list[DiagnosisCount]:
    """How many students got each diagnosis on at least one of their results, most common first."""
    level = case(
        {name: index for index, name in enumerate(SEVERITIES)}, value=ResultDiagnosis.severity, else_=99
    )
    found = db.session.execute(
        select(
            ResultDiagnosis.code,
            func.min(level),
            func.max(ResultDiagnosis.title),
            func.count(func.distinct(Submission.user_id)),
        )
        .join(Result, Result.id == ResultDiagnosis.result_id)
        .join(Submission, Submission.id == Result.submission_id)
        .where(
            Submission.assignment_version_id.in_(assignment.version_ids), Submission.is_reference.is_(False)
        )
        .group_by(ResultDiagnosis.code)
    ).all()
    counts = [
        DiagnosisCount(code, title, SEVERITIES[most], int(students))
        for code, most, title, students in found
        if 0 <= most < len(SEVERITIES)
    ]
    return sorted(counts, key=lambda c: (-c.students, SEVERITIES.index(c.severity), c.code))


@dataclass
class AssignmentSummary:
    assignment: Assignment
    submissions: int  # charged
    students: int  # who submitted at least once
    passed: int  # students with a passing result
    median_best: float | None  # of the students' best scores


@dataclass
class QueueStatus:
    waiting: int  # received or queued
    running: int
    failed_last_hour: int  # the student's code failed, or the platform did
    scored_last_hour: int


def course_overview(course_id: int, now: datetime) -> tuple[list[AssignmentSummary], QueueStatus]:
    """Per assignment: submissions, students, passes, median best score; and the course's queue now."""
    assignments = list(
        db.session.scalars(
            select(Assignment)
            .where(Assignment.course_id == course_id)
            .order_by(Assignment.deadline, Assignment.id)
        )
    )
    version_of = {v.id: a.id for a in assignments for v in a.versions}
    of_course = (Submission.assignment_version_id.in_(list(version_of)), Submission.is_reference.is_(False))
    # Students as the scoreboard counts them: a team's submission is each member's.
    per_student = db.session.execute(
        with_credit(
            select(
                Submission.assignment_version_id,
                CREDITED_USER,
                func.max(Result.score).filter(counts_as_grade()),
                func.max(case((Result.passed & counts_as_grade(), 1), else_=0)),
            ).outerjoin(Result, Result.submission_id == Submission.id)
        )
        .where(*of_course)
        .group_by(Submission.assignment_version_id, CREDITED_USER)
    ).all()
    uploads = db.session.execute(
        select(Submission.assignment_version_id, func.count(func.distinct(UPLOAD)))
        .where(*of_course, Submission.state != State.ERROR)
        .group_by(Submission.assignment_version_id)
    ).all()
    charged: dict[int, int] = {}
    for version_id, count in uploads:
        charged[version_of[version_id]] = charged.get(version_of[version_id], 0) + int(count)
    best: dict[int, dict[int, float]] = {}
    passed: dict[int, set[int]] = {}
    for version_id, user_id, top, did_pass in per_student:
        aid = version_of[version_id]
        scores = best.setdefault(aid, {})
        if top is not None:
            scores[user_id] = max(scores.get(user_id, top), top)
        else:
            scores.setdefault(user_id, float("nan"))
        if did_pass:
            passed.setdefault(aid, set()).add(user_id)
    summaries = []
    for a in assignments:
        finite = [s for s in best.get(a.id, {}).values() if s == s]
        median = sorted(finite)[len(finite) // 2] if finite else None
        summaries.append(
            AssignmentSummary(
                a, charged.get(a.id, 0), len(best.get(a.id, {})), len(passed.get(a.id, set())), median
            )
        )
    hour = now - timedelta(hours=1)
    in_course = Submission.assignment_version_id.in_(list(version_of) or [-1])
    waiting, running, failed, scored = db.session.execute(
        select(
            func.count().filter(Submission.state.in_([State.RECEIVED, State.QUEUED])),
            func.count().filter(Submission.state == State.RUNNING),
            func.count().filter(
                Submission.state.in_([State.FAILED, State.ERROR]), Submission.updated_at >= hour
            ),
            func.count().filter(Submission.state == State.SCORED, Submission.updated_at >= hour),
        ).where(in_course)
    ).one()
    return summaries, QueueStatus(int(waiting), int(running), int(failed), int(scored))


@dataclass
class ClassAnalytics:
    histogram: dict[str, list[float]]  # {"edges": [...], "counts": [...]}: students' best scores
    median_curve: dict[str, Any]  # {"steps", "median", "low", "high", "reference"}: loss by % of training
    students: int  # with a scored submission
    reference_id: int | None = None  # the reference run drawn against the class, if one was graded


def _at_fractions(steps: list[int], values: list[float | None], grid: list[float]) -> list[float] | None:
    """The curve's value at each fraction of its run's length (the last value reached by then)."""
    pairs = [(s, v) for s, v in zip(steps, values, strict=False) if isinstance(v, (int, float))]
    if len(pairs) < 2:
        return None
    last = pairs[-1][0] or 1
    row, j = [], 0
    for fraction in grid:
        while j + 1 < len(pairs) and pairs[j + 1][0] <= fraction * last:
            j += 1
        row.append(float(pairs[j][1]))
    return row


def class_analytics(
    assignment: Assignment, max_score: float, points: int = 100, reference_id: int | None = None
) -> ClassAnalytics:
    """The spread of the class's best scores, and the median training loss of their best runs.

    Curves are taken at fixed fractions of each run's length, so runs of different lengths line up
    by how far through training they were; the band is the middle half of the class. The reference
    run's loss (``reference_id``, a submission) is sampled the same way, to draw against it.
    """
    board = scoreboard(assignment, sort="student", per_page=None)
    best = [row for row in board.rows if row.score is not None and row.submission_id is not None]
    bins = 10
    counts = [0.0] * bins
    for row in best:
        index = min(bins - 1, int((row.score or 0.0) / max_score * bins)) if max_score > 0 else 0
        counts[max(index, 0)] += 1
    edges = [round(max_score * i / bins, 6) for i in range(bins + 1)]
    wanted = [row.submission_id for row in best] + ([reference_id] if reference_id else [])
    curves = db.session.execute(
        select(Result.submission_id, Curve.steps, Curve.values)
        .join(Result, Result.id == Curve.result_id)
        .where(Result.submission_id.in_(wanted), Curve.series == "loss")
    ).all()
    grid = [i / (points - 1) for i in range(points)]
    sampled: list[list[float]] = []
    reference: list[float] | None = None
    for submission_id, steps, values in curves:
        at = _at_fractions(steps, values, grid)
        if at is None:
            continue
        if submission_id == reference_id:
            reference = at
        else:
            sampled.append(at)
    median_curve: dict[str, Any] = {"steps": [], "median": [], "low": [], "high": [], "reference": reference}
    if sampled:
        for i, fraction in enumerate(grid):
            column = sorted(r[i] for r in sampled)
            n = len(column)
            median_curve["steps"].append(round(100 * fraction, 2))
            median_curve["median"].append(column[n // 2])
            median_curve["low"].append(column[n // 4])
            median_curve["high"].append(column[(3 * n) // 4])
    elif reference is not None:
        median_curve["steps"] = [round(100 * fraction, 2) for fraction in grid]
    return ClassAnalytics(
        {"edges": edges, "counts": counts}, median_curve, len(best), reference_id if reference else None
    )
