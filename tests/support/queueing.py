"""A grading queue built on the real database for the queue-place tests: students, uploads, and
worker slots claiming and finishing at chosen moments (the clock is injected, never slept)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import select, update

from grader.accounts.models import Role, User
from grader.accounts.services import create_user
from grader.assignments.models import Assignment
from grader.courses.models import Course, Enrollment
from grader.engine.runner.grade import GradeReport
from grader.engine.verdicts import Verdict
from grader.extensions import db
from grader.submissions import services
from grader.submissions.models import Attempt, State, Submission
from grader.workers import fairness, grading

from .uploads import SCRIPT

SCORED = GradeReport("paraboloid", Verdict.SCORED, "ok", "mse", 5e-4, 100.0, 100.0, True)


def new_student(course: Course, name: str) -> User:
    user = create_user(f"{name}-{uuid.uuid4().hex[:6]}@example.edu", name.title(), Role.STUDENT, "pw")
    db.session.add(Enrollment(course_id=course.id, user_id=user.id, role=Role.STUDENT))
    db.session.commit()
    return user


def upload(user: User, assignment: Assignment, count: int = 1) -> list[int]:
    """``count`` submissions, each committed and published (queued) as the upload page does."""
    return [services.create_submission(user, assignment, "s.py", SCRIPT).id for _ in range(count)]


def unpublished(submission_id: int) -> None:
    """Back to received, as if the broker had been down when it was uploaded."""
    db.session.execute(update(Submission).where(Submission.id == submission_id).values(state=State.RECEIVED))
    db.session.commit()


def _attempt(submission_id: int) -> sa.ColumnElement[bool]:
    number = select(Submission.attempts).where(Submission.id == submission_id).scalar_subquery()
    return (Attempt.submission_id == submission_id) & (Attempt.number == number)


def start(submission_id: int, worker: str, at: datetime) -> None:
    """``worker`` claims this very submission, its attempt starting ``at``."""
    assert grading.claim(submission_id, worker) is not None
    _started(submission_id, at)


def take_turn(hint: int, worker: str, at: datetime) -> int:
    """A free slot receives a message (``hint``'s) ``at`` and claims whoever's turn it is: that id."""
    claimed = fairness.claim_next(hint, worker)
    assert claimed is not None, f"the message of {hint} found nothing to grade"
    _started(claimed[0], at)
    return claimed[0]


def _started(submission_id: int, at: datetime) -> None:
    db.session.execute(update(Attempt).where(_attempt(submission_id)).values(started_at=at))
    db.session.commit()


def finish(submission_id: int, at: datetime) -> None:
    """Its attempt ends scored ``at``."""
    attempt = db.session.scalar(select(Submission.attempts).where(Submission.id == submission_id))
    assert grading.finish(submission_id, attempt, SCORED)
    db.session.execute(update(Attempt).where(_attempt(submission_id)).values(finished_at=at))
    db.session.commit()


def ran(submission_id: int, worker: str, started: datetime, finished: datetime) -> None:
    """A run already over: claimed by ``worker`` and scored, at the times given."""
    start(submission_id, worker, started)
    finish(submission_id, finished)
