"""Uploading a new assignment folder: preview it, run its solutions, then publish it (staff only).

The pages are thin: reading the zip, validating the spec, the check and publishing are
``grader.assignments.drafts``. Only the course's staff reach any of these routes (a
target function in an upload is instructor code that runs on the server).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select

from grader.access.browser import current_user, login_required, serve_pages
from grader.accounts.models import User
from grader.assignments import drafts
from grader.assignments.compare import compare_with_published
from grader.assignments.models import Assignment, SpecDraft
from grader.courses.models import Course
from grader.engine.spec import SPEC_FILE, SpecError
from grader.extensions import db

from .markup import description_html
from .publishing import _course_for_staff, schedule_from_form

blueprint = serve_pages(Blueprint("drafts", __name__, template_folder="templates"))

STATE_LABELS = {
    drafts.UPLOADED: "Not checked yet",
    drafts.CHECKING: "Checking: training the declared solutions",
    drafts.CHECKED: "Checked",
    drafts.FAILED: "The check could not run",
}


def _draft_for_staff(course_id: int, draft_id: int) -> tuple[Course, SpecDraft]:
    course = _course_for_staff(course_id)
    draft = db.session.get(SpecDraft, draft_id)
    if draft is None or draft.course_id != course.id:
        abort(404, f"There is no draft {draft_id} in {course.code}.")
    return course, draft


def _recent(course: Course) -> list[SpecDraft]:
    query = select(SpecDraft).where(SpecDraft.course_id == course.id).order_by(SpecDraft.id.desc()).limit(20)
    return list(db.session.scalars(query))


def _upload_page(course: Course, error: str | None = None, status: int = 200) -> tuple[str, int]:
    page = render_template(
        "web/draft_new.html", course=course, drafts=_recent(course), error=error, labels=STATE_LABELS
    )
    return page, status


def _draft_page(
    course: Course, draft: SpecDraft, error: str | None = None, status: int = 200
) -> tuple[str, int]:
    try:
        spec, spec_error = drafts.draft_spec(draft), None
    except SpecError as exc:  # stored valid; shown if a later grader version reads specs differently
        spec, spec_error = None, str(exc)
    uploader = db.session.get(User, draft.user_id)
    page = render_template(
        "web/draft.html",
        course=course,
        draft=draft,
        spec=spec,
        spec_error=spec_error,
        description=description_html(spec.description) if spec else None,
        comparison=compare_with_published(course.id, spec) if spec else None,
        published=db.session.get(Assignment, draft.assignment_id) if draft.assignment_id else None,
        files=sorted(drafts.draft_files(draft).items()),
        report=draft.check_report or {},
        passed=drafts.check_passed(draft),
        can_check=drafts.can_start_check(draft) and draft.assignment_id is None,
        label=STATE_LABELS.get(draft.state, draft.state),
        uploader=uploader,
        spec_file=SPEC_FILE,
        error=error,
    )
    return page, status


@blueprint.get("/courses/<int:course_id>/assignments/new")
@login_required
def new(course_id: int) -> tuple[str, int]:
    return _upload_page(_course_for_staff(course_id))


@blueprint.post("/courses/<int:course_id>/assignments/new")
@login_required
def upload(course_id: int) -> Any:
    course = _course_for_staff(course_id)
    file = request.files.get("file")
    if file is None or not file.filename:
        return _upload_page(course, "Choose the .zip of an assignment folder to upload.", 400)
    user = current_user()
    assert user is not None  # login_required ran first
    try:
        draft = drafts.create_draft(user, course, file.filename, file.read())
    except drafts.DraftRefused as refused:
        return _upload_page(course, refused.message, refused.status)
    return redirect(url_for("drafts.preview", course_id=course.id, draft_id=draft.id), code=303)


@blueprint.get("/courses/<int:course_id>/drafts/<int:draft_id>")
@login_required
def preview(course_id: int, draft_id: int) -> tuple[str, int]:
    return _draft_page(*_draft_for_staff(course_id, draft_id))


@blueprint.get("/courses/<int:course_id>/drafts/<int:draft_id>/state")
@login_required
def state(course_id: int, draft_id: int) -> Response:
    """The check's progress, for the preview page's poll."""
    _, draft = _draft_for_staff(course_id, draft_id)
    report = draft.check_report or {}
    return jsonify(
        state=draft.state,
        label=STATE_LABELS.get(draft.state, draft.state),
        done=len(report.get("solutions") or []),
        total=report.get("total"),
        ok=report.get("ok"),
    )


@blueprint.post("/courses/<int:course_id>/drafts/<int:draft_id>/check")
@login_required
def check(course_id: int, draft_id: int) -> Any:
    course, draft = _draft_for_staff(course_id, draft_id)
    try:
        drafts.start_check(draft)
    except drafts.DraftRefused as refused:
        return _draft_page(course, draft, refused.message, refused.status)
    except SpecError as exc:
        return _draft_page(course, draft, f"The check was not started: {exc}", 422)
    return redirect(url_for("drafts.preview", course_id=course.id, draft_id=draft.id) + "#check", code=303)


@blueprint.post("/courses/<int:course_id>/drafts/<int:draft_id>/publish")
@login_required
def publish(course_id: int, draft_id: int) -> Any:
    course, draft = _draft_for_staff(course_id, draft_id)
    try:
        deadline, daily = schedule_from_form()
    except ValueError as exc:
        return _draft_page(course, draft, str(exc), 400)
    try:
        assignment = drafts.publish_draft(
            draft,
            deadline,
            daily,
            override=request.form.get("override") == "1",
            hidden=request.form.get("hidden") == "1",
            by=current_user(),
        )
    except drafts.DraftRefused as refused:
        return _draft_page(course, draft, refused.message, refused.status)
    shown = "hidden from students" if assignment.hidden else "visible to students"
    flash(f"Published {assignment.title!r} as version {assignment.current.number} ({shown}).")
    return redirect(url_for("drafts.preview", course_id=course.id, draft_id=draft.id), code=303)
