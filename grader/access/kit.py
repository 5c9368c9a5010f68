"""``require_*``: the thing the caller asked for, or the refusal that says why not. Pages and the
API call these with the request's user (the session's or the token's); each rule lives once, in
its domain (enrollment in courses/access.py, submissions in submissions/access.py, ...)."""

from __future__ import annotations

from grader.accounts.models import Role, User
from grader.assignments.models import Assignment
from grader.assignments.queries import assignment_for
from grader.courses.access import is_staff
from grader.courses.models import Course
from grader.courses.queries import course_role
from grader.denials import NotYours, StaffOnly
from grader.extensions import db
from grader.submissions.access import submission_for
from grader.submissions.models import Submission, Sweep
from grader.sweeps.services import sweep_for


def require_enrollment(user: User | None, course_id: int) -> tuple[Course, Role]:
    """A course the caller is enrolled in, with the caller's role there (an admin's is admin)."""
    found = course_role(user, course_id) if user is not None else None
    if found is None:
        raise NotYours(f"There is no course {course_id} you are enrolled in.")
    return found


def require_course(
    user: User | None, course_id: int, *, staff: bool = False, staff_to: str | None = None
) -> Course:
    """A course the caller is enrolled in, or teaches with ``staff`` (to a student, a course they do
    not teach is not there: nothing on its staff pages is theirs to see); with ``staff_to``, one the
    caller is enrolled in and teaches (a student gets a 403 saying what only staff may do)."""
    if staff:
        taught = db.session.get(Course, course_id)
        if taught is None or user is None or not is_staff(user, taught.id):
            raise NotYours(f"There is no course {course_id} that you teach.")
        return taught
    course = require_enrollment(user, course_id)[0]
    if staff_to is not None:
        require_staff(user, course_id, staff_to)
    return course


def require_staff(user: User | None, course_id: int, doing: str) -> None:
    """Refuse with a 403 unless the caller teaches the course: for things the caller can see but
    only staff may do (``doing``: "regrade a submission", finishing "Only ... can <doing>.")."""
    if user is None or not is_staff(user, course_id):
        raise StaffOnly(doing)


def require_assignment(user: User | None, assignment_id: int, *, staff_to: str | None = None) -> Assignment:
    """An assignment the caller may see (enrolled; a hidden one for staff only); with ``staff_to``,
    also one the caller teaches (else a 403 saying what only staff may do)."""
    assignment = assignment_for(user, assignment_id) if user is not None else None
    if assignment is None:
        raise NotYours(f"There is no assignment {assignment_id} you can see.")
    if staff_to is not None:
        require_staff(user, assignment.course_id, staff_to)
    return assignment


def require_submission(user: User | None, submission_id: int, *, staff_to: str | None = None) -> Submission:
    """A submission that is the caller's own or of a course the caller teaches; with ``staff_to``,
    only the latter (a student's own submission, but a staff action: a 403)."""
    submission = submission_for(user, submission_id) if user is not None else None
    if submission is None:
        raise NotYours(f"There is no submission {submission_id} you can see.")
    if staff_to is not None:
        require_staff(user, submission.assignment_version.assignment.course_id, staff_to)
    return submission


def require_sweep(user: User | None, sweep_id: int) -> Sweep:
    """A sweep that is the caller's own or of a course the caller teaches."""
    sweep = sweep_for(user, sweep_id) if user is not None else None
    if sweep is None:
        raise NotYours(f"There is no sweep {sweep_id} you can see.")
    return sweep


def require_leaderboard(user: User | None, assignment_id: int) -> Assignment:
    """An assignment whose leaderboard the caller may see: staff always, its students once the
    instructor has turned it on (otherwise the same answer as no assignment)."""
    assignment = require_assignment(user, assignment_id)
    if not assignment.leaderboard and not (user is not None and is_staff(user, assignment.course_id)):
        raise NotYours(f"There is no leaderboard of assignment {assignment_id} you can see.")
    return assignment
