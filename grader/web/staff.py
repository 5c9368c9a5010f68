"""Instructors' actions on one assignment: hide it or show it, its leaderboard on or off, a student's
own deadline, and regrading every submission with the batch's progress (thin handlers over services).

Every route is for the course's staff only: students get a 404 (the assignment is not theirs to see
when hidden, and there is nothing here for them otherwise) or a 403, and so does staff of other courses.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for

from grader.access.browser import current_user, login_required, serve_pages
from grader.access.kit import require_assignment, require_submission
from grader.accounts.models import User
from grader.assignments import deadlines, visibility
from grader.assignments.models import Assignment
from grader.courses.access import course_student
from grader.extensions import utcnow
from grader.gradebooks.gradebook import gradebook_file
from grader.submissions import regrading
from grader.submissions.models import RegradeBatch

from . import exports, queries
from .forms import DATETIME_EXAMPLE, utc_datetime

blueprint = serve_pages(Blueprint("staff", __name__, template_folder="templates"))


def _user() -> User:
    user = current_user()
    assert user is not None  # login_required ran first
    return user


def _staff_assignment(assignment_id: int) -> Assignment:
    return require_assignment(_user(), assignment_id, staff_to="manage this assignment")


def _student(assignment: Assignment, user_id: int) -> User:
    student = course_student(assignment.course_id, user_id)
    if student is None:
        abort(404, f"There is no student {user_id} in {assignment.course.code}.")
    return student


# What a student sees of their own deadline (the assignment page and the home page).


@blueprint.app_template_global()
def own_deadline(assignment: Assignment) -> deadlines.StudentDeadline:
    """The logged-in user's deadline for the assignment: theirs if staff extended it."""
    user = current_user()
    if user is None:
        return deadlines.StudentDeadline(assignment.deadline, None)
    return deadlines.deadline_for(assignment, user)


@blueprint.app_template_filter("time_left")
def time_left(deadline: datetime | None) -> str:
    """How long until the deadline, to the minute ("2 days 3 hours left"), or that it has passed."""
    if deadline is None:
        return ""
    left = deadline - utcnow()
    if left <= timedelta(0):
        return "passed"
    days, hours, minutes = left.days, left.seconds // 3600, left.seconds % 3600 // 60
    parts = [(days, "day"), (hours, "hour")] if days else [(hours, "hour"), (minutes, "minute")]
    said = " ".join(f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in parts if n)
    return f"{said or 'less than a minute'} left"


# Hide or show an assignment; its leaderboard on or off (buttons on the course page).


@blueprint.post("/assignments/<int:assignment_id>/settings/<any(hidden, leaderboard):setting>")
@login_required
def assignment_setting(assignment_id: int, setting: str) -> Any:
    assignment = _staff_assignment(assignment_id)
    value = request.form.get("value", "")
    if value not in ("on", "off"):
        abort(400, f"Send value=on or value=off to turn the {setting} setting on or off.")
    on = value == "on"
    if setting == "hidden":
        visibility.set_hidden(assignment, on, _user())
        flash(f"{assignment.title!r} is now {'hidden from' if on else 'shown to'} students.")
    else:
        visibility.set_leaderboard(assignment, on, _user())
        flash(f"The leaderboard of {assignment.title!r} is now {value}.")
    return redirect(url_for("publishing.course", course_id=assignment.course_id), code=303)


# One student's deadline (linked from each scoreboard row).


def _student_page(
    assignment: Assignment, student: User, error: str | None = None, status: int = 200, form: Any = None
) -> tuple[str, int]:
    extension = deadlines.extension_of(assignment, student)
    page = render_template(
        "web/student.html",
        assignment=assignment,
        student=student,
        own=deadlines.deadline_for(assignment, student),
        extension=extension,
        granted_by=deadlines.granted_by(extension) if extension else None,
        submissions=queries.user_submissions(student, assignment),
        error=error,
        form=form or {},
        reason_max=deadlines.REASON_MAX,
    )
    return page, status


@blueprint.get("/assignments/<int:assignment_id>/students/<int:user_id>")
@login_required
def student(assignment_id: int, user_id: int) -> tuple[str, int]:
    assignment = _staff_assignment(assignment_id)
    return _student_page(assignment, _student(assignment, user_id))


@blueprint.post("/assignments/<int:assignment_id>/students/<int:user_id>/extension")
@login_required
def grant_extension(assignment_id: int, user_id: int) -> Any:
    assignment = _staff_assignment(assignment_id)
    student = _student(assignment, user_id)
    typed = request.form.get("deadline", "").strip()
    try:
        deadline = utc_datetime(typed)
    except ValueError:
        shown = f"{typed!r} is not" if typed else "The new deadline must be"
        return _student_page(assignment, student, f"{shown} {DATETIME_EXAMPLE}.", 400, request.form)
    try:
        deadlines.grant_extension(assignment, student, deadline, request.form.get("reason", ""), _user())
    except deadlines.ExtensionRefused as refused:
        return _student_page(assignment, student, refused.message, 400, request.form)
    flash(f"{student.name}'s deadline for {assignment.title!r} is now {deadline:%Y-%m-%d %H:%M} UTC.")
    return redirect(url_for("staff.student", assignment_id=assignment.id, user_id=student.id), code=303)


@blueprint.post("/assignments/<int:assignment_id>/students/<int:user_id>/extension/revoke")
@login_required
def revoke_extension(assignment_id: int, user_id: int) -> Any:
    assignment = _staff_assignment(assignment_id)
    student = _student(assignment, user_id)
    if deadlines.revoke_extension(assignment, student, _user()):
        flash(f"{student.name}'s extension is revoked: the assignment's deadline applies again.")
    else:
        flash(f"{student.name} had no extension to revoke.")
    return redirect(url_for("staff.student", assignment_id=assignment.id, user_id=student.id), code=303)


# Regrade every submission of an assignment, then follow the batch.


def _confirm_page(assignment: Assignment, error: str | None = None, status: int = 200) -> tuple[str, int]:
    page = render_template(
        "web/regrade_confirm.html",
        assignment=assignment,
        candidates=regrading.regrade_candidates(assignment),
        batches=regrading.recent_batches(assignment),
        error=error,
    )
    return page, status


@blueprint.get("/assignments/<int:assignment_id>/regrades")
@login_required
def regrades(assignment_id: int) -> tuple[str, int]:
    """What regrading everything would do, the button that does it, and the recent batches."""
    return _confirm_page(_staff_assignment(assignment_id))


@blueprint.post("/assignments/<int:assignment_id>/regrades")
@login_required
def regrade_all(assignment_id: int) -> Any:
    assignment = _staff_assignment(assignment_id)
    try:
        batch = regrading.regrade_all(assignment, _user())
    except regrading.RegradeRefused as refused:
        return _confirm_page(assignment, refused.message, refused.status)
    return redirect(url_for("staff.regrade_batch", assignment_id=assignment.id, batch_id=batch.id), code=303)


def _batch_or_404(assignment: Assignment, batch_id: int) -> RegradeBatch:
    batch = regrading.batch_of(assignment, batch_id)
    if batch is None:
        abort(404, f"There is no regrade {batch_id} of {assignment.title!r}.")
    return batch


def _progress(batch: RegradeBatch) -> dict[str, Any]:
    progress: dict[str, Any] = regrading.batch_progress(batch)
    progress["finished"] = progress["waiting"] + progress["running"] == 0
    progress["failures"] = [
        {
            "id": f.submission_id,
            "student": f.student,
            "label": queries.STATE_LABELS[f.state],
            "verdict": (f.verdict or "").replace("_", " "),
            "url": url_for("web.result", submission_id=f.submission_id),
        }
        for f in regrading.batch_failures(batch)
    ]
    return progress


@blueprint.get("/assignments/<int:assignment_id>/regrades/<int:batch_id>")
@login_required
def regrade_batch(assignment_id: int, batch_id: int) -> str:
    """ "k of n regraded", the failures so far; it follows the batch itself (regrade.js)."""
    assignment = _staff_assignment(assignment_id)
    batch = _batch_or_404(assignment, batch_id)
    return render_template(
        "web/regrade.html",
        assignment=assignment,
        batch=batch,
        progress=_progress(batch),
        skipped=regrading.skipped_by(batch, assignment),
        requested_by=regrading.requested_by(batch),
        labels=queries.STATE_LABELS,
    )


@blueprint.get("/assignments/<int:assignment_id>/regrades/<int:batch_id>/progress.json")
@login_required
def regrade_progress(assignment_id: int, batch_id: int) -> Response:
    assignment = _staff_assignment(assignment_id)
    response = jsonify(_progress(_batch_or_404(assignment, batch_id)))
    response.headers["Cache-Control"] = "no-store"
    return response


# Exports for other systems: the gradebook for Canvas or Moodle, a result for Gradescope.


@blueprint.get("/assignments/<int:assignment_id>/gradebook.csv")
@login_required
def gradebook(assignment_id: int) -> Response:
    """The students' best scores as the CSV that Canvas or Moodle imports (?format=canvas|moodle)."""
    assignment = _staff_assignment(assignment_id)
    fmt = request.args.get("format", "")
    if fmt not in ("canvas", "moodle"):
        abort(400, "Choose the gradebook's format: add ?format=canvas or ?format=moodle to the address.")
    return gradebook_file(assignment, fmt)


@blueprint.get("/submissions/<int:submission_id>/results.json")
@login_required
def gradescope_results(submission_id: int) -> Response:
    """A graded submission as Gradescope's results.json (staff only)."""
    submission = require_submission(_user(), submission_id, staff_to="export results for Gradescope")
    if submission.result is None:
        abort(404, f"Submission {submission_id} has no result yet: export it once it is graded.")
    return exports.gradescope_file(submission)
