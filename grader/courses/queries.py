"""Read-only queries about courses for the API: which courses a user has, and in what role."""

from __future__ import annotations

from sqlalchemy import func, select

from grader.accounts.models import Role, User
from grader.extensions import db

from .models import Course, Enrollment, current_member


def courses_of(user: User, offset: int, limit: int) -> tuple[list[tuple[Course, Role]], int]:
    """One page of the user's courses with their role in each (an admin has every course), and the total."""
    if user.role is Role.ADMIN:
        total = db.session.scalar(select(func.count(Course.id))) or 0
        courses = db.session.scalars(
            select(Course).order_by(Course.code, Course.id).offset(offset).limit(limit)
        )
        return [(course, Role.ADMIN) for course in courses], int(total)
    mine = select(Course, Enrollment.role).join(Enrollment, Enrollment.course_id == Course.id)
    mine = mine.where(Enrollment.user_id == user.id, current_member())
    total = db.session.scalar(select(func.count()).select_from(mine.subquery())) or 0
    rows = db.session.execute(mine.order_by(Course.code, Course.id).offset(offset).limit(limit)).all()
    return [(course, role) for course, role in rows], int(total)


def course_role(user: User, course_id: int) -> tuple[Course, Role] | None:
    """The course and the user's role in it, or None if it does not exist or is not theirs."""
    course = db.session.get(Course, course_id)
    if course is None:
        return None
    if user.role is Role.ADMIN:
        return course, Role.ADMIN
    role = db.session.scalar(
        select(Enrollment.role).where(
            Enrollment.user_id == user.id, Enrollment.course_id == course_id, current_member()
        )
    )
    return (course, role) if role is not None else None
