"""What students see of an assignment: whether it is hidden from them, whether it has a leaderboard."""

from __future__ import annotations

from grader.accounts.models import User
from grader.assignments.models import Assignment
from grader.audit import services as audit
from grader.audit.models import Action
from grader.extensions import db


def _subject(assignment: Assignment) -> audit.Subject:
    return audit.Subject("assignment", assignment.id, assignment.title)


def set_hidden(assignment: Assignment, hidden: bool, by: User | None) -> None:
    """Hide the assignment from students (staff still see and test it), or show it again."""
    if assignment.hidden != hidden:
        action = Action.ASSIGNMENT_HIDDEN if hidden else Action.ASSIGNMENT_SHOWN
        audit.record(action, by=by, course_id=assignment.course_id, subject=_subject(assignment))
    assignment.hidden = hidden
    db.session.commit()


def set_leaderboard(assignment: Assignment, on: bool, by: User | None) -> None:
    """Turn the assignment's leaderboard (by pseudonym) on or off."""
    if assignment.leaderboard != on:
        audit.record(
            Action.LEADERBOARD_CHANGED, by=by, course_id=assignment.course_id,
            subject=_subject(assignment), details={"leaderboard": "on" if on else "off"},
        )  # fmt: skip
    assignment.leaderboard = on
    db.session.commit()
