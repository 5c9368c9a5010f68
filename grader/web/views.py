"""The pages: assignments, upload, live status, result, scoreboard (thin handlers over queries.py)."""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)

from grader.access.browser import byte_size, current_user, login_required, serve_pages
from grader.access.kit import require_assignment, require_submission
from grader.accounts.models import User
from grader.assignments.models import Assignment
from grader.assignments.queries import spec_of
from grader.courses.access import is_staff
from grader.engine.rules import OUTPUT_TEXT
from grader.engine.scoring import metric_label
from grader.engine.starter import starter_script
from grader.extensions import utcnow
from grader.gradebooks import scoreboard as boards
from grader.gradebooks.gradebook import scoreboard_file
from grader.submissions import services
from grader.submissions.access import submission_for
from grader.submissions.models import State, Submission
from grader.submissions.reference import latest_reference
from grader.teams.queries import member_ids

from . import events, queries
from .code_view import code_css, submission_code
from .markup import description_html

blueprint = serve_pages(
    Blueprint(
        "web", __name__, template_folder="templates", static_folder="static", static_url_path="/static/web"
    )
)
blueprint.add_app_template_filter(byte_size, "size")

# The one browser library, vendored so a wheel carries it (vendor/uplot/README.md): these files only.
VENDOR_DIR = Path(__file__).resolve().parent / "vendor" / "uplot"
VENDOR_FILES = frozenset({"uPlot.iife.min.js", "uPlot.min.css"})


def _user() -> User:
    user = current_user()
    assert user is not None  # login_required ran first
    return user


@blueprint.app_template_filter("when")
def when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value is not None else "—"


@blueprint.app_template_filter("num")
def num(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "—"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.{digits}g}"


@blueprint.app_template_filter("metric_label")
def metric_name(value: str) -> str:
    return metric_label(value)


@blueprint.app_context_processor
def output_conventions() -> dict[str, Any]:
    return {"OUTPUT_TEXT": OUTPUT_TEXT}


@blueprint.get("/")
@login_required
def home() -> str:
    user = _user()
    return render_template(
        "web/home.html",
        rows=queries.visible_assignments(user),
        taught=queries.taught_courses(user),
        now=utcnow(),
    )


def _assignment_or_404(assignment_id: int) -> Assignment:
    return require_assignment(_user(), assignment_id)


def _assignment_page(
    assignment: Assignment, error: str | None = None, status: int = 200, sweep_text: str | None = None
) -> tuple[str, int]:
    user = _user()
    spec = spec_of(assignment)
    page = render_template(
        "web/assignment.html",
        assignment=assignment,
        spec=spec,
        description=description_html(spec.description) if spec else None,
        used=services.submissions_today(user, assignment, utcnow()),
        submissions=queries.user_submissions(user, assignment),
        staff=is_staff(user, assignment.course_id),
        max_bytes=current_app.extensions["grader.config"].upload_max_bytes,
        now=utcnow(),
        error=error,
        sweep_text=sweep_text,  # kept in the form when the upload was refused
    )
    return page, status


@blueprint.get("/assignments/<int:assignment_id>/compare")
@login_required
def compare(assignment_id: int) -> str:
    """Two to four graded submissions of this assignment, their curves overlaid."""
    assignment = _assignment_or_404(assignment_id)
    ids = list(dict.fromkeys(i for i in request.args.getlist("s") if i.isdigit()))
    if not 2 <= len(ids) <= 4:
        abort(400, "Choose two to four graded submissions to compare.")
    chosen = [submission_for(_user(), int(i)) for i in ids]
    versions = set(assignment.version_ids)
    if any(s is None or s.assignment_version_id not in versions or s.result is None for s in chosen):
        abort(404, "One of these submissions is not a graded submission of this assignment that you can see.")
    curves, charts = queries.compared_curves([s for s in chosen if s is not None])
    return render_template(
        "web/compare.html", assignment=assignment, submissions=chosen, curves=curves, charts=charts
    )


@blueprint.get("/assignments/<int:assignment_id>/starter.py")
@login_required
def starter(assignment_id: int) -> Response:
    assignment = _assignment_or_404(assignment_id)
    spec = spec_of(assignment)
    if spec is None:
        abort(404, "This assignment's spec no longer parses; ask your instructor.")
    return Response(
        starter_script(spec),
        mimetype="text/x-python",
        headers={"Content-Disposition": f'attachment; filename="{assignment.slug}_starter.py"'},
    )


@blueprint.get("/assignments/<int:assignment_id>")
@login_required
def assignment(assignment_id: int) -> tuple[str, int]:
    return _assignment_page(_assignment_or_404(assignment_id))


@blueprint.post("/assignments/<int:assignment_id>")
@login_required
def upload(assignment_id: int) -> Any:
    assignment = _assignment_or_404(assignment_id)
    file = request.files.get("file")
    if file is None or not file.filename:
        return _assignment_page(assignment, "Choose a .py, .ipynb or .zip file to upload.", 400)
    sweep = request.form.get("sweep") or None
    try:
        submission = services.create_submission(_user(), assignment, file.filename, file.read(), sweep)
    except services.UploadRefused as refused:
        return _assignment_page(assignment, refused.message, refused.status, sweep)
    if submission.sweep_id is not None:
        return redirect(url_for("sweeps.page", sweep_id=submission.sweep_id), code=303)
    return redirect(url_for("web.status", submission_id=submission.id), code=303)


def _submission_or_404(submission_id: int) -> Submission:
    return require_submission(_user(), submission_id)


@blueprint.get("/submissions/<int:submission_id>")
@login_required
def status(submission_id: int) -> Any:
    submission = _submission_or_404(submission_id)
    if submission.state.final:
        return redirect(url_for("web.result", submission_id=submission_id))
    return render_template(
        "web/status.html",
        submission=submission,
        status=events.status_payload(submission_id),
        assignment=submission.assignment_version.assignment,
    )


@blueprint.get("/submissions/<int:submission_id>/status.json")
@login_required
def status_json(submission_id: int) -> Response:
    _submission_or_404(submission_id)
    response = jsonify(events.status_payload(submission_id))
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/submissions/<int:submission_id>/events")
@login_required
def status_events(submission_id: int) -> Response:
    submission = _submission_or_404(submission_id)
    queue = None if submission.state.final or submission.state == State.RUNNING else submission.queue
    return events.held_response(_user().id, lambda: events.stream(submission_id, queue))


@blueprint.get("/submissions/<int:submission_id>/result")
@login_required
def result(submission_id: int) -> Any:
    submission = _submission_or_404(submission_id)
    if not submission.state.final:
        return redirect(url_for("web.status", submission_id=submission_id))
    view = queries.result_view(submission.result) if submission.result is not None else None
    files, files_note = submission_code(submission)
    return render_template(
        "web/result.html",
        submission=submission,
        view=view,
        files=files,
        files_note=files_note,
        attempts=queries.attempts_of(submission.id),
        label=queries.STATE_LABELS[submission.state],
        assignment=submission.assignment_version.assignment,
        # A teammate's upload is theirs too: its result page offers them to submit again.
        own=submission.user_id == _user().id
        or (submission.team_id is not None and _user().id in member_ids(submission.team_id)),
        staff=is_staff(_user(), submission.assignment_version.assignment.course_id),
        State=State,
    )


@blueprint.post("/submissions/<int:submission_id>/regrade")
@login_required
def regrade(submission_id: int) -> Any:
    submission = _submission_or_404(submission_id)
    try:
        services.regrade(submission, _user())
    except services.UploadRefused as refused:
        abort(refused.status, refused.message)
    if submission.sweep_id is not None:  # all its runs are graded again: the sweep's page follows them
        return redirect(url_for("sweeps.page", sweep_id=submission.sweep_id), code=303)
    return redirect(url_for("web.status", submission_id=submission_id), code=303)


@blueprint.get("/assignments/<int:assignment_id>/scoreboard")
@login_required
def scoreboard(assignment_id: int) -> str:
    assignment = _staff_assignment_or_404(assignment_id)
    spec = spec_of(assignment)
    page = request.args.get("page", "1")
    board = boards.scoreboard(assignment, page=int(page) if page.isdigit() else 1, **_board_args())
    return render_template(
        "web/scoreboard.html",
        assignment=assignment,
        board=board,
        metric=metric_label(spec.metric) if spec else "Metric",
        max_score=spec.points if spec else None,
    )


def _reference_id(assignment: Assignment) -> int | None:
    reference = latest_reference(assignment)
    return reference.id if reference is not None else None


@blueprint.get("/assignments/<int:assignment_id>/analytics")
@login_required
def analytics(assignment_id: int) -> str:
    """The class at a glance: the spread of best scores, the median loss curve, the diagnoses."""
    assignment = _staff_assignment_or_404(assignment_id)
    spec = spec_of(assignment)
    max_score = spec.points if spec else 100.0
    return render_template(
        "web/analytics.html",
        assignment=assignment,
        data=(data := boards.class_analytics(assignment, max_score, reference_id=_reference_id(assignment))),
        data_json=dataclasses.asdict(data),
        diagnoses=boards.diagnosis_counts(assignment),
        max_score=max_score,
    )


@blueprint.get("/assignments/<int:assignment_id>/scoreboard.csv")
@login_required
def scoreboard_csv(assignment_id: int) -> Response:
    """The whole class as the page shows it (same sort, filter and pick), for a spreadsheet."""
    assignment = _staff_assignment_or_404(assignment_id)
    return scoreboard_file(assignment, **_board_args())


def _staff_assignment_or_404(assignment_id: int) -> Assignment:
    return require_assignment(_user(), assignment_id, staff_to="see its scoreboard")


def _board_args() -> dict[str, Any]:
    return {
        "sort": request.args.get("sort", "student"),
        "descending": request.args.get("order") == "desc",
        "pick": request.args.get("pick", "best"),
        "search": request.args.get("q", ""),
    }


@blueprint.get("/static/highlight.css")
def code_stylesheet() -> Response:
    """The highlighting colours, generated by Pygments (so they always match its classes)."""
    response = Response(code_css(), mimetype="text/css")
    response.cache_control.max_age = 24 * 3600
    return response


@blueprint.get("/static/vendor/<name>")
def vendor(name: str) -> Response:
    if name not in VENDOR_FILES:
        abort(404)
    if not (VENDOR_DIR / name).is_file():
        current_app.logger.error("%s is missing: the package was built without its data", VENDOR_DIR / name)
        abort(404)
    return send_from_directory(VENDOR_DIR, name, max_age=24 * 3600)
