"""Demo data: a course, an instructor and a student, the built-in assignments, graded paraboloid examples."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from grader.accounts.models import Role, User
from grader.accounts.services import create_user, issue_token
from grader.assignments.services import publish
from grader.assignments.visibility import set_leaderboard
from grader.courses.models import Course, Enrollment
from grader.courses.pseudonyms import set_pseudonym
from grader.engine.spec import BUILTIN, builtin_slugs
from grader.extensions import db
from grader.submissions.models import Submission
from grader.submissions.services import create_submission

EXAMPLES = BUILTIN / "paraboloid"
COURSE = "ME-491"


@dataclass
class DemoLogins:
    instructor: tuple[str, str]
    student: tuple[str, str]
    student_token: str
    assignment_id: int
    first_example_id: int  # the student's first example submission: its page shows it grading


def _user(email: str, name: str, role: Role, course: Course) -> tuple[User, str]:
    """Create or reuse the user; a fresh password each time, so it can be printed."""
    password = secrets.token_urlsafe(9)
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        user = create_user(email, name, role, password)
    else:
        user.password_hash = generate_password_hash(password)
    if (
        db.session.scalar(
            select(Enrollment).where(Enrollment.user_id == user.id, Enrollment.course_id == course.id)
        )
        is None
    ):
        db.session.add(Enrollment(course_id=course.id, user_id=user.id, role=role))
    db.session.commit()
    return user, password


def seed() -> DemoLogins:
    course = db.session.scalar(select(Course).where(Course.code == COURSE))
    if course is None:
        course = Course(code=COURSE, title="Neural networks for engineers")
        db.session.add(course)
        db.session.commit()
    _, instructor_password = _user("instructor@example.edu", "Grace Instructor", Role.INSTRUCTOR, course)
    student, student_password = _user("student@example.edu", "Ada Student", Role.STUDENT, course)
    assignment = publish(course, "paraboloid", daily_limit=20)
    token = issue_token(student, "demo", ["read", "submit"])
    if not assignment.leaderboard:
        set_leaderboard(assignment, True, None)
    mine = select(Enrollment.pseudonym).where(
        Enrollment.user_id == student.id, Enrollment.course_id == course.id
    )
    if db.session.scalar(mine) is None:
        set_pseudonym(student, course.id, "gradient-descender")
    first = db.session.scalar(select(func.min(Submission.id)).where(Submission.user_id == student.id))
    if first is None:
        for path in [EXAMPLES / "reference.py", *sorted((EXAMPLES / "wrong").glob("*.py"))]:
            made = create_submission(student, assignment, path.name, path.read_bytes())
            first = first or made.id
    # The others too, so the instructor has them all to look at; their reference runs (the analytics
    # pages' yardsticks) queue behind the student's examples.
    for slug in builtin_slugs():
        if slug != "paraboloid":
            publish(course, slug)
    return DemoLogins(
        ("instructor@example.edu", instructor_password),
        ("student@example.edu", student_password),
        token,
        assignment.id,
        first,
    )
