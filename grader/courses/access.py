"""Who belongs to a course: the one place the enrollment checks are written."""

from __future__ import annotations

from sqlalchemy import select

from grader.accounts.models import Role, User
from grader.extensions import db

from .models import Enrollment, current_member

STAFF_ROLES = (Role.INSTRUCTOR, Role.ADMIN)


def _role_in(user: User, course_id: int) -> Role | None:
    return db.session.scalar(
        select(Enrollment.role).where(
            Enrollment.user_id == user.id, Enrollment.course_id == course_id, current_member()
        )
    )


def is_enrolled(user: User, course_id: int) -> bool:
    """Enrolled in the course in any role (admins count as enrolled everywhere)."""
    return user.role is Role.ADMIN or _role_in(user, course_id) is not None


def is_staff(user: User, course_id: int) -> bool:
    """Admins, and instructors enrolled in the course as such."""
    return user.role is Role.ADMIN or _role_in(user, course_id) in STAFF_ROLES


def course_student(course_id: int, user_id: int) -> User | None:
    """The user if they are enrolled in the course as a student (staff get no extensions)."""
    return db.session.scalar(
        select(User)
        .join(Enrollment, Enrollment.user_id == User.id)
        .where(
            Enrollment.course_id == course_id, Enrollment.user_id == user_id, Enrollment.role == Role.STUDENT
        )
    )
