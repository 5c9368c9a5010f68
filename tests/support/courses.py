"""Course membership for the service tests."""

from __future__ import annotations

from grader.accounts.models import Role, User
from grader.courses.models import Course, Enrollment
from grader.extensions import db


def enroll(course: Course, user: User, role: Role = Role.STUDENT) -> None:
    """Make ``user`` a member of ``course`` in ``role`` (committed)."""
    db.session.add(Enrollment(course_id=course.id, user_id=user.id, role=role))
    db.session.commit()
