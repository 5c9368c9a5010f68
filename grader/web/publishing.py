"""Instructors' course pages: the overview and publishing (the page behind `grader assignments publish`).

Publishing here validates the spec; running the reference and known-wrong
solutions is `grader assignments check`, which the test suite runs on every
built-in assignment.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from grader.access.browser import current_user, login_required, serve_pages
from grader.access.kit import require_course
from grader.assignments import services
from grader.assignments.models import Assignment
from grader.courses.models import Course
from grader.engine.spec import SpecError, builtin_slugs, find
from grader.extensions import db, utcnow
from grader.gradebooks.scoreboard import course_overview
from grader.workers.queue_estimate import course_queues

from .forms import DATETIME_EXAMPLE, utc_datetime

blueprint = serve_pages(Blueprint("publishing", __name__, template_folder="templates"))


def _course_for_staff(course_id: int) -> Course:
    return require_course(current_user(), course_id, staff=True)


def schedule_from_form() -> tuple[datetime | None, int | None]:
    """The form's deadline (naive UTC) and submissions per day, None when left empty. Raises ValueError."""
    deadline = None
    if request.form.get("deadline", "").strip():
        try:
            deadline = utc_datetime(request.form["deadline"])
        except ValueError:
            raise ValueError(f"The deadline must be {DATETIME_EXAMPLE}.") from None
    daily = request.form.get("daily_limit", "").strip()
    if daily and (not daily.isdigit() or int(daily) < 1):
        raise ValueError("Submissions per day must be a whole number of at least 1.")
    return deadline, int(daily) if daily else None


def _rows(course: Course) -> list[dict[str, Any]]:
    placed = {
        a.slug: a for a in db.session.scalars(select(Assignment).where(Assignment.course_id == course.id))
    }
    rows = []
    for slug in builtin_slugs():
        row: dict[str, Any] = {"slug": slug, "assignment": placed.get(slug), "spec": None, "error": None}
        try:
            row["spec"] = find(slug, validate=False)
        except SpecError as exc:
            row["error"] = str(exc)
        if row["spec"] is not None and row["assignment"] is not None:
            row["changed"] = row["assignment"].current.spec_sha256 != row["spec"].digest
        rows.append(row)
    return rows


def _page(course: Course, error: str | None = None, status: int = 200) -> tuple[str, int]:
    return render_template("web/publish.html", course=course, rows=_rows(course), error=error), status


@blueprint.get("/courses/<int:course_id>")
@login_required
def course(course_id: int) -> str:
    """The instructor's view of a course: its assignments at a glance and the grading queue now."""
    course = _course_for_staff(course_id)
    now = utcnow()
    summaries, queue = course_overview(course.id, now)
    queues = course_queues(course.id, now)
    return render_template("web/course.html", course=course, summaries=summaries, queue=queue, queues=queues)


@blueprint.get("/courses/<int:course_id>/publish")
@login_required
def publish_page(course_id: int) -> tuple[str, int]:
    return _page(_course_for_staff(course_id))


@blueprint.post("/courses/<int:course_id>/publish")
@login_required
def publish(course_id: int) -> Any:
    course = _course_for_staff(course_id)
    slug = request.form.get("slug", "")
    if slug not in builtin_slugs():
        return _page(course, f"There is no built-in assignment {slug!r}.", 400)
    try:
        deadline, daily = schedule_from_form()
    except ValueError as exc:
        return _page(course, str(exc), 400)
    try:
        assignment = services.publish(course, slug, deadline=deadline, daily_limit=daily, by=current_user())
    except SpecError as exc:
        db.session.rollback()
        return _page(course, f"Nothing was published: {exc}", 422)
    flash(f"Published {assignment.title!r} as version {assignment.current.number}.")
    return redirect(url_for("publishing.publish_page", course_id=course.id), code=303)
