"""Read-only queries about assignments, shared by the pages and the API. Nothing here writes or commits."""

from __future__ import annotations

from sqlalchemy import func, select

from grader.accounts.models import User
from grader.assignments.models import Assignment
from grader.courses.access import is_enrolled, is_staff
from grader.engine import spec as specs
from grader.extensions import db


def assignment_for(user: User, assignment_id: int) -> Assignment | None:
    """The assignment if the user is enrolled in its course (or is an admin); if it is hidden,
    only for the course's staff."""
    assignment = db.session.get(Assignment, assignment_id)
    if assignment is None or not is_enrolled(user, assignment.course_id):
        return None
    if assignment.hidden and not is_staff(user, assignment.course_id):
        return None
    return assignment


def spec_of(assignment: Assignment) -> specs.Assignment | None:
    """The current version's spec (description, metric, budget), or None if it no longer parses."""
    try:
        return assignment.current.spec()
    except specs.SpecError:
        return None


def course_assignments(
    course_id: int, include_hidden: bool, offset: int, limit: int
) -> tuple[list[Assignment], int]:
    """One page of the course's assignments by deadline (none last), hidden ones only if asked; the total."""
    query = select(Assignment).where(Assignment.course_id == course_id)
    if not include_hidden:
        query = query.where(Assignment.hidden.is_(False))
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = db.session.scalars(
        query.order_by(Assignment.deadline.is_(None), Assignment.deadline, Assignment.id)
        .offset(offset)
        .limit(limit)
    )
    return list(page), int(total)
