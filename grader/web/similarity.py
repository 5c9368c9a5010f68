"""The class similarity page of an assignment: start a check, follow it, the most similar pairs, and
one pair side by side with the matching fragments marked. Staff only: to anyone else it is not there.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from markupsafe import Markup, escape

from grader.access.browser import current_user, login_required, serve_pages
from grader.access.kit import require_assignment, require_course
from grader.assignments.models import Assignment
from grader.engine.runner.submission import UploadLimits
from grader.extensions import db
from grader.similarity import services, sources
from grader.similarity.models import CheckState, SimilarityCheck, SimilarityPair, SimilaritySource
from grader.submissions.models import Submission

blueprint = serve_pages(Blueprint("similarity", __name__))
SHOWN = 50  # pairs listed on the page (the API returns all that were kept)
MAX_UPLOAD = UploadLimits().max_upload_bytes


def _staff_assignment(assignment_id: int) -> Assignment:
    user = current_user()
    assignment = require_assignment(user, assignment_id)
    require_course(user, assignment.course_id, staff=True)
    return assignment


def progress(check: SimilarityCheck | None) -> dict[str, Any]:
    if check is None:
        return {"state": None, "done": 0, "total": 0, "finished": True}
    finished = check.state in (CheckState.DONE, CheckState.FAILED)
    return {"state": check.state.value, "done": check.done, "total": check.total, "finished": finished,
            "message": check.message}  # fmt: skip


@blueprint.get("/assignments/<int:assignment_id>/similarity")
@login_required
def page(assignment_id: int) -> str:
    assignment = _staff_assignment(assignment_id)
    check = services.latest_check(assignment)
    pairs = check.pairs[:SHOWN] if check is not None and check.state is CheckState.DONE else []
    return render_template(
        "web/similarity.html", assignment=assignment, check=check, pairs=[(p, *sides(p)) for p in pairs],
        progress=progress(check), sources=sources.source_count(assignment), max_sources=sources.MAX_SOURCES,
    )  # fmt: skip


@blueprint.post("/assignments/<int:assignment_id>/similarity")
@login_required
def start(assignment_id: int) -> Any:
    assignment = _staff_assignment(assignment_id)
    user = current_user()
    assert user is not None
    services.start_check(assignment, user)
    return redirect(url_for("similarity.page", assignment_id=assignment.id), code=303)


@blueprint.post("/assignments/<int:assignment_id>/similarity/sources")
@login_required
def add_sources(assignment_id: int) -> Any:
    """Past years' submissions or known solutions: a .py, an .ipynb or a .zip of many."""
    assignment = _staff_assignment(assignment_id)
    user = current_user()
    assert user is not None
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("Choose a .py, .ipynb or .zip file to add.")
    else:
        try:
            added = sources.add_sources(assignment, user, upload.filename, upload.read(MAX_UPLOAD + 1))
            flash(f"Added {added} past submission(s): the next check compares the class with them.")
        except sources.SourcesRefused as refused:
            flash(str(refused))
    return redirect(url_for("similarity.page", assignment_id=assignment.id), code=303)


@blueprint.post("/assignments/<int:assignment_id>/similarity/sources/clear")
@login_required
def clear_sources(assignment_id: int) -> Any:
    assignment = _staff_assignment(assignment_id)
    sources.clear_sources(assignment)
    return redirect(url_for("similarity.page", assignment_id=assignment.id), code=303)


@blueprint.get("/assignments/<int:assignment_id>/similarity/progress.json")
@login_required
def check_progress(assignment_id: int) -> Response:
    response = jsonify(progress(services.latest_check(_staff_assignment(assignment_id))))
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/assignments/<int:assignment_id>/similarity/pairs/<int:pair_id>")
@login_required
def pair(assignment_id: int, pair_id: int) -> str:
    assignment = _staff_assignment(assignment_id)
    found = db.session.get(SimilarityPair, pair_id)
    check = db.session.get(SimilarityCheck, found.check_id) if found is not None else None
    if found is None or check is None or check.assignment_id != assignment.id:
        abort(404, f"There is no similar pair {pair_id} for {assignment.title!r}.")
    left = db.session.get(Submission, found.left_submission_id)
    assert left is not None
    right = db.session.get(Submission, found.right_submission_id) if found.right_submission_id else None
    past = db.session.get(SimilaritySource, found.right_source_id) if found.right_source_id else None
    right_text = services.code_text(right) if right is not None else past.text if past is not None else ""
    left_name, right_name = sides(found)
    return render_template(
        "web/similarity_pair.html", assignment=assignment, pair=found, left=left, right=right,
        left_name=left_name, right_name=right_name,
        left_code=marked(services.code_text(left), found.details.get("left", [])),
        right_code=marked(right_text, found.details.get("right", [])),
    )  # fmt: skip


def sides(pair: SimilarityPair) -> tuple[str, str]:
    """Who is on each side: students by name, a past submission by its file's name."""
    left = db.session.get(Submission, pair.left_submission_id)
    if pair.right_submission_id is not None:
        right = db.session.get(Submission, pair.right_submission_id)
        right_name = right.user.name if right is not None else "?"
    else:
        source = db.session.get(SimilaritySource, pair.right_source_id)
        right_name = f"Past: {source.name}" if source is not None else "Past submission"
    return (left.user.name if left is not None else "?"), right_name


def marked(text: str, spans: list[list[int]]) -> Markup:
    """The code, escaped, with each matching fragment in a <mark> (overlapping spans merged)."""
    merged: list[list[int]] = []
    for start, end in sorted((max(0, int(s)), min(len(text), int(e))) for s, e in spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        elif start < end:
            merged.append([start, end])
    out, at = [], 0
    for start, end in merged:
        out.append(escape(text[at:start]))
        out.append(Markup("<mark>") + escape(text[start:end]) + Markup("</mark>"))
        at = end
    out.append(escape(text[at:]))
    return Markup("").join(out)
