"""What staff see of a course's LMS link: the LMS courses linked, the gradebook columns, the passbacks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from grader.accounts.models import User
from grader.assignments.models import Assignment
from grader.courses.models import Enrollment
from grader.extensions import db

from .models import LtiContext, LtiGradePassback, LtiLineItem, LtiUser, PassbackState


@dataclass
class PassbackRow:
    id: int
    student: str
    assignment: str
    score_given: float | None
    score_maximum: float
    state: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    sent_at: datetime | None
    updated_at: datetime


def line_items(course_id: int) -> list[LtiLineItem]:
    return list(
        db.session.scalars(
            select(LtiLineItem)
            .join(LtiContext, LtiContext.id == LtiLineItem.context_id)
            .where(LtiContext.course_id == course_id)
            .order_by(LtiLineItem.id)
        )
    )


def passbacks(course_id: int, limit: int = 200, assignment_id: int | None = None) -> list[PassbackRow]:
    """The latest passbacks of the course (or of one of its assignments), newest first (failed ones are
    never hidden by the limit)."""
    query = (
        select(LtiGradePassback, User.name, Assignment.title)
        .join(LtiLineItem, LtiLineItem.id == LtiGradePassback.line_item_id)
        .join(LtiContext, LtiContext.id == LtiLineItem.context_id)
        .join(Assignment, Assignment.id == LtiLineItem.assignment_id)
        .join(LtiUser, LtiUser.id == LtiGradePassback.lti_user_id)
        .join(User, User.id == LtiUser.user_id)
        .where(LtiContext.course_id == course_id)
    )
    if assignment_id is not None:
        query = query.where(LtiLineItem.assignment_id == assignment_id)
    failed = db.session.execute(query.where(LtiGradePassback.state == PassbackState.FAILED)).all()
    latest = db.session.execute(query.order_by(LtiGradePassback.id.desc()).limit(limit)).all()
    seen: set[int] = set()
    rows = []
    for passback, name, title in sorted([*failed, *latest], key=lambda r: -r[0].id):
        if passback.id in seen:
            continue
        seen.add(passback.id)
        rows.append(
            PassbackRow(
                passback.id,
                name,
                title,
                passback.score_given,
                passback.score_maximum,
                passback.state.value,
                passback.attempts,
                passback.last_error,
                passback.next_attempt_at,
                passback.sent_at,
                passback.updated_at,
            )
        )
    return rows


def counts(course_id: int) -> dict[str, int]:
    rows = db.session.execute(
        select(LtiGradePassback.state, func.count())
        .join(LtiLineItem, LtiLineItem.id == LtiGradePassback.line_item_id)
        .join(LtiContext, LtiContext.id == LtiLineItem.context_id)
        .where(LtiContext.course_id == course_id)
        .group_by(LtiGradePassback.state)
    ).all()
    return {state.value: 0 for state in PassbackState} | {state.value: int(n) for state, n in rows}


@dataclass
class AssignmentPassbacks:
    assignment_id: int
    title: str
    sent: int
    pending: int
    failed: int


def by_assignment(course_id: int) -> list[AssignmentPassbacks]:
    """Each assignment's passbacks counted by state: where the LMS gradebook stands, per column."""
    rows = db.session.execute(
        select(Assignment.id, Assignment.title, LtiGradePassback.state, func.count())
        .join(LtiLineItem, LtiLineItem.id == LtiGradePassback.line_item_id)
        .join(LtiContext, LtiContext.id == LtiLineItem.context_id)
        .join(Assignment, Assignment.id == LtiLineItem.assignment_id)
        .where(LtiContext.course_id == course_id)
        .group_by(Assignment.id, Assignment.title, LtiGradePassback.state)
        .order_by(Assignment.id)
    ).all()
    found: dict[int, AssignmentPassbacks] = {}
    for assignment_id, title, state, n in rows:
        entry = found.setdefault(assignment_id, AssignmentPassbacks(assignment_id, title, 0, 0, 0))
        setattr(entry, state.value, int(n))
    return list(found.values())


def left_members(course_id: int) -> list[tuple[str, str, datetime]]:
    """The course's members the LMS's roster no longer lists: name, email, when they were marked."""
    rows = db.session.execute(
        select(User.name, User.email, Enrollment.left_at)
        .join(Enrollment, Enrollment.user_id == User.id)
        .where(Enrollment.course_id == course_id, Enrollment.left_at.is_not(None))
        .order_by(Enrollment.left_at.desc())
    ).all()
    return [(name, email, left_at) for name, email, left_at in rows if left_at is not None]
