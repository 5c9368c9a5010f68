"""When a student may submit: enrollment, deadline and late policy, daily and total limits.

The limits come from the course (deadline, daily limit, set when publishing)
and from the assignment's spec (total limit, late policy). Only charged
submissions count: a platform failure never uses up a student's quota.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from grader.accounts.models import User
from grader.assignments.models import Assignment
from grader.assignments.rules import SubmissionPolicy
from grader.courses.access import is_enrolled
from grader.extensions import db

from .models import State, Submission


@dataclass
class UploadRefused(Exception):
    status: int
    message: str
    field: str = "file"


def _charged(user: User, assignment: Assignment, since: datetime | None = None) -> int:
    query = select(func.count(Submission.id)).where(
        Submission.user_id == user.id,
        Submission.assignment_version_id.in_(assignment.version_ids),
        Submission.state != State.ERROR,
    )
    if since is not None:
        query = query.where(Submission.created_at >= since)
    return int(db.session.scalar(query) or 0)


def submissions_today(user: User, assignment: Assignment, now: datetime) -> int:
    """Charged submissions in the last 24 hours (platform failures are not counted)."""
    return _charged(user, assignment, now - timedelta(days=1))


def days_late(deadline: datetime | None, when: datetime) -> int:
    """Started days after the deadline: one second late is one day late."""
    if deadline is None or when <= deadline:
        return 0
    return math.ceil((when - deadline) / timedelta(days=1))


def check_upload_allowed(user: User, assignment: Assignment, policy: SubmissionPolicy, now: datetime) -> bool:
    """Raise UploadRefused when the student may not submit now; True when the upload is late."""
    if not is_enrolled(user, assignment.course_id):
        raise UploadRefused(403, f"You are not enrolled in the course of {assignment.title!r}.", "assignment")
    late = days_late(assignment.deadline, now)
    if late and (policy.late == "refuse" or (policy.late == "penalty" and late > policy.late_days)):
        window = f" Late submissions were accepted for {policy.late_days} day(s)." if policy.late_days else ""
        raise UploadRefused(
            403, f"The deadline of {assignment.title!r} was {assignment.deadline:%Y-%m-%d %H:%M} UTC.{window}"
        )
    if policy.total is not None and _charged(user, assignment) >= policy.total:
        raise UploadRefused(
            429, f"You have used all {policy.total} submissions allowed for {assignment.title!r}."
        )
    if submissions_today(user, assignment, now) >= assignment.daily_limit:
        raise UploadRefused(
            429,
            f"You have used all {assignment.daily_limit} submissions of the last 24 hours; try again later.",
        )
    return late > 0


def late_penalty(
    policy: SubmissionPolicy, deadline: datetime | None, submitted: datetime
) -> tuple[int, float]:
    """Days late and the percentage taken off the score for them (0 when not late or no penalty)."""
    late = days_late(deadline, submitted)
    if not late or policy.late != "penalty":
        return late, 0.0
    return late, min(100.0, late * policy.late_penalty_percent_per_day)
