"""What students see of an assignment: whether it is hidden from them, whether it has a leaderboard."""

from __future__ import annotations

from grader.assignments.models import Assignment
from grader.extensions import db


def set_hidden(assignment: Assignment, hidden: bool) -> None:
    """Hide the assignment from students (staff still see and test it), or show it again."""
    assignment.hidden = hidden
    db.session.commit()


def set_leaderboard(assignment: Assignment, on: bool) -> None:
    """Turn the assignment's leaderboard (by pseudonym) on or off."""
    assignment.leaderboard = on
    db.session.commit()
