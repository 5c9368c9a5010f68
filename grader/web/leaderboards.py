"""The leaderboard page of an assignment, and choosing one's pseudonym (the ranking itself is
grader/gradebooks/leaderboard.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from grader.access.browser import current_user, login_required, serve_pages
from grader.access.kit import require_leaderboard
from grader.accounts.models import User
from grader.assignments.models import Assignment
from grader.courses.access import is_staff
from grader.courses.models import Enrollment
from grader.courses.pseudonyms import PseudonymRefused, set_pseudonym
from grader.extensions import db, utcnow
from grader.gradebooks.leaderboard import leaderboard

blueprint = serve_pages(Blueprint("leaderboards", __name__))


def _assignment_or_404(assignment_id: int) -> tuple[Assignment, User, bool]:
    user = current_user()
    assert user is not None  # login_required ran first
    assignment = require_leaderboard(user, assignment_id)
    return assignment, user, is_staff(user, assignment.course_id)


def _page(assignment: Assignment, user: User, staff: bool, error: str | None = None) -> tuple[str, int]:
    mine = db.session.scalar(
        select(Enrollment.pseudonym).where(
            Enrollment.user_id == user.id, Enrollment.course_id == assignment.course_id
        )
    )
    board = leaderboard(assignment, user, utcnow())
    page = render_template(
        "web/leaderboard.html", board=board, staff=staff, pseudonym=mine, viewer=user, error=error
    )
    return page, 422 if error else 200


@blueprint.get("/assignments/<int:assignment_id>/leaderboard")
@login_required
def show(assignment_id: int) -> tuple[str, int]:
    return _page(*_assignment_or_404(assignment_id))


@blueprint.post("/assignments/<int:assignment_id>/leaderboard/pseudonym")
@login_required
def choose_pseudonym(assignment_id: int) -> Any:
    assignment, user, staff = _assignment_or_404(assignment_id)
    try:
        chosen = set_pseudonym(user, assignment.course_id, request.form.get("pseudonym", ""))
    except PseudonymRefused as refused:
        return _page(assignment, user, staff, refused.message)
    flash(
        f"You appear as {chosen.pseudonym!r} on this course's leaderboards."
        if chosen.pseudonym
        else "You no longer appear on this course's leaderboards."
    )
    return redirect(url_for("leaderboards.show", assignment_id=assignment.id))
