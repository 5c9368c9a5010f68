"""The course's audit trail for its instructors: a page of entries (filtered by action) and the CSV."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request, stream_with_context

from grader.access.browser import current_user, login_required, serve_pages
from grader.access.kit import require_course
from grader.audit import services as trail
from grader.audit.models import WORDS, Action

blueprint = serve_pages(Blueprint("audit_trail", __name__, template_folder="templates"))

PER_PAGE = 50


@blueprint.get("/courses/<int:course_id>/audit")
@login_required
def trail_page(course_id: int) -> str:
    course = require_course(current_user(), course_id, staff=True)
    typed = request.args.get("action", "")
    if typed and typed not in Action.__members__.values():
        abort(400, f"There is no action {typed[:40]!r} in the trail: choose one from the list, or all.")
    action = Action(typed) if typed else None
    page = request.args.get("page", 1, type=int) or 1
    page = max(1, min(page, 100_000))
    rows, total = trail.entries(course.id, offset=(page - 1) * PER_PAGE, limit=PER_PAGE, action=action)
    return render_template(
        "web/audit.html", course=course, rows=rows, total=total, page=page,
        pages=max(1, -(-total // PER_PAGE)), action=action, words=WORDS,
    )  # fmt: skip


@blueprint.get("/courses/<int:course_id>/audit.csv")
@login_required
def trail_csv(course_id: int) -> Response:
    course = require_course(current_user(), course_id, staff=True)
    return Response(
        stream_with_context(trail.csv_chunks(course.id)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{course.code}-audit-trail.csv"'},
    )
