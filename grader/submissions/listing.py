"""Read-only queries behind the submissions API: an assignment's submissions, paged."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from grader.assignments.models import Assignment
from grader.extensions import db
from grader.submissions.credit import owned_by
from grader.submissions.models import State, Submission


def assignment_submissions(
    assignment: Assignment, user_id: int | None, state: State | None, offset: int, limit: int
) -> tuple[list[Submission], int]:
    """One page of the assignment's submissions, newest first (one student's, with their team's, if given), and the total.

    The platform's reference runs are not anybody's submissions and are never listed.
    """
    query = select(Submission).where(
        Submission.assignment_version_id.in_(assignment.version_ids), Submission.is_reference.is_(False)
    )
    if user_id is not None:
        query = query.where(owned_by(user_id))
    if state is not None:
        query = query.where(Submission.state == state)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = db.session.scalars(
        query.options(
            joinedload(Submission.user),
            joinedload(Submission.assignment_version),
            selectinload(Submission.result),
        )
        .order_by(Submission.created_at.desc(), Submission.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(page), int(total)
