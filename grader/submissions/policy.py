"""When a student may submit: enrollment, visibility, deadline and late policy, daily and total limits.

The limits come from the course (deadline, daily limit, set when publishing; a
student's own extension) and from the assignment's spec (total limit, late
policy). Only charged submissions count: a platform failure never uses up a
student's quota. In a team assignment the limits are the team's: its members share them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select

from grader.accounts.models import User
from grader.assignments.deadlines import deadline_for, effective_deadline
from grader.assignments.models import Assignment
from grader.courses.access import is_enrolled, is_staff
from grader.engine.rules import SubmissionPolicy
from grader.engine.verdicts import Verdict
from grader.extensions import db
from grader.submissions.models import UPLOAD, Result, State, Submission
from grader.teams.models import Team
from grader.teams.queries import team_of

__all__ = ["UploadRefused", "check_upload_allowed", "days_late", "effective_deadline", "late_penalty"]


@dataclass
class UploadRefused(Exception):
    status: int
    message: str
    field: str = "file"


def _whose(user: User, assignment: Assignment) -> ColumnElement[bool]:
    """The submissions whose count limits the user: their team's in a team assignment, else their own."""
    team = team_of(user.id, assignment.id) if assignment.in_teams else None
    return Submission.team_id == team.id if team is not None else Submission.user_id == user.id


def _charged(user: User, assignment: Assignment, since: datetime | None = None) -> int:
    query = select(func.count(func.distinct(UPLOAD))).where(
        _whose(user, assignment),
        Submission.assignment_version_id.in_(assignment.version_ids),
        Submission.state != State.ERROR,
    )
    if since is not None:
        query = query.where(Submission.created_at >= since)
    return int(db.session.scalar(query) or 0)


HARNESS_ERRORS_PER_DAY = 3


def harness_errors_today(user: User, assignment: Assignment, now: datetime) -> int:
    """The student's submissions that ended in the harness's own failure in the last 24 hours."""
    query = (
        select(func.count(func.distinct(UPLOAD)))
        .join(Result, Result.submission_id == Submission.id)
        .where(
            _whose(user, assignment),
            Submission.assignment_version_id.in_(assignment.version_ids),
            Submission.created_at >= now - timedelta(days=1),
            Result.verdict == Verdict.HARNESS_ERROR.value,
        )
    )
    return int(db.session.scalar(query) or 0)


def submissions_today(user: User, assignment: Assignment, now: datetime) -> int:
    """Charged submissions in the last 24 hours (platform failures are not counted)."""
    return _charged(user, assignment, now - timedelta(days=1))


def days_late(deadline: datetime | None, when: datetime) -> int:
    """Started days after the deadline: one second late is one day late."""
    if deadline is None or when <= deadline:
        return 0
    return math.ceil((when - deadline) / timedelta(days=1))


def team_for_upload(user: User, assignment: Assignment) -> Team | None:
    """The team an upload of a team assignment belongs to; UploadRefused saying how to form or join
    one when the student has none, or one too small. Staff test a team assignment alone (None)."""
    if not assignment.in_teams or is_staff(user, assignment.course_id):
        return None
    team = team_of(user.id, assignment.id)
    where = f"on the assignment's team page (/assignments/{assignment.id}/team)"
    if team is None:
        raise UploadRefused(
            409,
            f"{assignment.title!r} is done in teams, and you are in none yet: form a team, or join a "
            f"classmate's with its join code, {where}; then submit again.",
            "team",
        )
    size = len(team.members)
    if size < assignment.team_min:
        raise UploadRefused(
            409,
            f"Team {team.name!r} has {size} member(s), and {assignment.title!r} needs at least "
            f"{assignment.team_min} per team: give classmates its join code {team.join_code} ({where}), "
            "then submit again.",
            "team",
        )
    return team


def check_upload_allowed(user: User, assignment: Assignment, policy: SubmissionPolicy, now: datetime) -> bool:
    """Raise UploadRefused when the student may not submit now; True when the upload is late."""
    if not is_enrolled(user, assignment.course_id):
        raise UploadRefused(403, f"You are not enrolled in the course of {assignment.title!r}.", "assignment")
    if assignment.hidden and not is_staff(user, assignment.course_id):
        # 404, like its page: to students a hidden assignment is not there (staff may still test it).
        raise UploadRefused(
            404,
            f"Assignment {assignment.id} is not open: its instructors have hidden it. "
            "It takes submissions again once they show it.",
            "assignment",
        )
    own = deadline_for(assignment, user)
    late = days_late(own.deadline, now)
    if late and (policy.late == "refuse" or (policy.late == "penalty" and late > policy.late_days)):
        assert own.deadline is not None  # days_late is 0 without a deadline
        window = f" Late submissions were accepted for {policy.late_days} day(s)." if policy.late_days else ""
        whose = (
            f"Your extended deadline for {assignment.title!r}"
            if own.extended
            else f"The deadline of {assignment.title!r}"
        )
        raise UploadRefused(403, f"{whose} was {own.deadline:%Y-%m-%d %H:%M} UTC.{window}")
    if policy.total is not None and _charged(user, assignment) >= policy.total:
        raise UploadRefused(
            429,
            f"{_you(user, assignment)} used all {policy.total} submissions allowed for {assignment.title!r}.",
        )
    if harness_errors_today(user, assignment, now) >= HARNESS_ERRORS_PER_DAY:
        raise UploadRefused(
            429,
            f"The grader itself failed on your last {HARNESS_ERRORS_PER_DAY} submissions of the last 24 hours "
            "(not your fault, and not counted against your limits). Please wait a day or ask your "
            "instructor: the failures are logged for the staff.",
        )
    if submissions_today(user, assignment, now) >= assignment.daily_limit:
        raise UploadRefused(
            429,
            f"{_you(user, assignment)} used all {assignment.daily_limit} submissions of the last 24 hours; "
            "try again later.",
        )
    return late > 0


def _you(user: User, assignment: Assignment) -> str:
    team = team_of(user.id, assignment.id) if assignment.in_teams else None
    return f"Your team {team.name!r} has" if team is not None else "You have"


def late_penalty(
    policy: SubmissionPolicy, deadline: datetime | None, submitted: datetime
) -> tuple[int, float]:
    """Days late and the percentage taken off the score for them (0 when not late or no penalty)."""
    late = days_late(deadline, submitted)
    if not late or policy.late != "penalty":
        return late, 0.0
    return late, min(100.0, late * policy.late_penalty_percent_per_day)


def sweep_runs_today(user: User, assignment: Assignment, now: datetime) -> int:
    """Runs of the user's sweeps of this assignment made in the last 24 hours (each scored on the hidden set)."""
    query = select(func.count(Submission.id)).where(
        _whose(user, assignment),
        Submission.assignment_version_id.in_(assignment.version_ids),
        Submission.sweep_id.is_not(None),
        Submission.state != State.ERROR,  # the platform's failures are not the student's runs
        Submission.created_at >= now - timedelta(days=1),
    )
    return int(db.session.scalar(query) or 0)


def check_sweep_runs_allowed(
    user: User, assignment: Assignment, runs: int, per_day: int, now: datetime
) -> None:
    used = sweep_runs_today(user, assignment, now)
    if used + runs > per_day:
        left = max(per_day - used, 0)
        raise UploadRefused(
            429,
            f"This sweep has {runs} runs, and your sweeps of {assignment.title!r} may train {per_day} runs in any "
            f"24 hours ({used} so far, so {left} left): each run is scored on the hidden set. Send a smaller "
            "sweep, or wait.",
            "sweep",
        )
