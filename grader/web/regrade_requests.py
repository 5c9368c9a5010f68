"""Regrade requests in the browser: a student asks about a graded submission; the course's instructors
see the requests in a queue and answer each; staff set a score by hand on a result (thin handlers)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from grader.access.browser import current_user, login_required, serve_pages
from grader.access.kit import require_course, require_submission
from grader.accounts.models import User
from grader.courses.access import is_staff
from grader.extensions import db
from grader.regrade_requests import services as requests_
from grader.regrade_requests.models import RegradeRequest, RequestState
from grader.submissions import adjustments
from grader.submissions.models import Submission
from grader.submissions.policy import UploadRefused

blueprint = serve_pages(Blueprint("regrade_requests", __name__, template_folder="templates"))

PER_PAGE = 50


def _user() -> User:
    user = current_user()
    assert user is not None  # login_required ran first
    return user


@blueprint.app_template_global()
def regrade_requests_of(submission: Submission) -> list[RegradeRequest]:
    """The submission's requests, for its result page (the student's own and staff only see it)."""
    return requests_.requests_of_submission(submission)


@blueprint.app_template_global()
def open_regrade_requests(course_id: int) -> int:
    return requests_.open_count(course_id)


def _ask_page(submission: Submission, error: str | None = None, status: int = 200) -> tuple[str, int]:
    page = render_template(
        "web/regrade_request_new.html", submission=submission, assignment=submission.assignment_version.assignment,
        error=error, reason=request.form.get("reason", ""), least=requests_.REASON_MIN, most=requests_.REASON_MAX,
    )  # fmt: skip
    return page, status


@blueprint.get("/submissions/<int:submission_id>/regrade-requests/new")
@login_required
def ask_page(submission_id: int) -> tuple[str, int]:
    return _ask_page(require_submission(_user(), submission_id))


@blueprint.post("/submissions/<int:submission_id>/regrade-requests")
@login_required
def ask(submission_id: int) -> Any:
    submission = require_submission(_user(), submission_id)
    try:
        asked = requests_.ask(submission, _user(), request.form.get("reason", ""))
    except requests_.RequestRefused as refused:
        return _ask_page(submission, refused.message, refused.status)
    flash("Your regrade request is sent: your instructor's answer will show here.")
    return redirect(url_for("regrade_requests.request_page", request_id=asked.id), code=303)


def _request_for(user: User, request_id: int) -> RegradeRequest:
    found = db.session.get(RegradeRequest, request_id)
    if found is None:
        abort(404, f"There is no regrade request {request_id} you can see.")
    require_submission(user, found.submission_id)  # the asker's own, or their course's staff
    return found


def _request_page(found: RegradeRequest, error: str | None = None, status: int = 200) -> tuple[str, int]:
    page = render_template(
        "web/regrade_request.html", found=found, submission=found.submission,
        assignment=found.submission.assignment_version.assignment, staff=is_staff(_user(), found.course_id),
        error=error, form=request.form, decisions=requests_.Decision, State=RequestState,
    )  # fmt: skip
    return page, status


@blueprint.get("/regrade-requests/<int:request_id>")
@login_required
def request_page(request_id: int) -> tuple[str, int]:
    return _request_page(_request_for(_user(), request_id))


@blueprint.post("/regrade-requests/<int:request_id>/answer")
@login_required
def answer(request_id: int) -> Any:
    found = _request_for(_user(), request_id)
    typed = request.form.get("decision", "")
    if typed not in requests_.Decision.__members__.values():
        return _request_page(found, "Choose what to do: regrade, set the score by hand, or decline.", 400)
    decision = requests_.Decision(typed)
    try:
        score = None
        if decision is requests_.Decision.ADJUST and found.submission.result is not None:
            score = adjustments.parse_score(request.form.get("score", ""), found.submission.result.max_score)
        requests_.answer(found, _user(), decision, request.form.get("comment", ""), score)
    except (requests_.RequestRefused, adjustments.AdjustmentRefused, UploadRefused) as refused:
        return _request_page(found, refused.message, refused.status)
    flash(f"Answered: {found.student.name} sees your decision and comment on the request's page.")
    return redirect(url_for("regrade_requests.queue", course_id=found.course_id), code=303)


@blueprint.get("/courses/<int:course_id>/regrade-requests")
@login_required
def queue(course_id: int) -> str:
    course = require_course(_user(), course_id, staff=True)
    typed = request.args.get("state", "")
    state = RequestState(typed) if typed in RequestState.__members__.values() else None
    page = max(1, min(request.args.get("page", 1, type=int) or 1, 100_000))
    rows, total = requests_.course_requests(
        course.id, state=state, offset=(page - 1) * PER_PAGE, limit=PER_PAGE
    )
    return render_template(
        "web/regrade_requests.html", course=course, rows=rows, total=total, state=state, page=page,
        pages=max(1, -(-total // PER_PAGE)), states=RequestState,
    )  # fmt: skip


@blueprint.post("/submissions/<int:submission_id>/score")
@login_required
def set_score(submission_id: int) -> Any:
    submission = require_submission(_user(), submission_id, staff_to="set a score by hand")
    try:
        if submission.result is None:
            raise adjustments.AdjustmentRefused(409, f"Submission {submission_id} has no result to change.")
        score = adjustments.parse_score(request.form.get("score", ""), submission.result.max_score)
        adjustments.adjust_score(submission, score, request.form.get("reason", ""), _user())
    except adjustments.AdjustmentRefused as refused:
        abort(refused.status, refused.message)
    flash(f"The score is now {score:g}, set by hand; the gradebooks and the LMS get it.")
    return redirect(url_for("web.result", submission_id=submission_id), code=303)


@blueprint.post("/submissions/<int:submission_id>/score/restore")
@login_required
def restore_score(submission_id: int) -> Any:
    submission = require_submission(_user(), submission_id, staff_to="change a score set by hand")
    try:
        adjustments.remove_adjustment(submission, _user())
    except adjustments.AdjustmentRefused as refused:
        abort(refused.status, refused.message)
    flash("The machine's score is the grade again.")
    return redirect(url_for("web.result", submission_id=submission_id), code=303)
