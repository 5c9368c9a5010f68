"""REST endpoints for submissions: upload with a token, then follow the state and the result."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from grader.accounts.models import User
from grader.accounts.services import user_for_token
from grader.api_errors import problem
from grader.assignments.models import Assignment
from grader.courses.access import is_staff
from grader.extensions import db

from . import services
from .models import Submission

blueprint = Blueprint("submissions_api", __name__, url_prefix="/api/v1")


def _token_user(scope: str) -> tuple[User | None, Response | None]:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None, problem(401, "Unauthorized", "Send an API token as 'Authorization: Bearer <token>'.")
    user, why = user_for_token(header[len("Bearer ") :].strip(), scope)
    if user is None:
        return None, problem(401 if "unknown" in why else 403, "Unauthorized", why)
    return user, None


@blueprint.post("/assignments/<int:assignment_id>/submissions")
def create(assignment_id: int) -> Response | tuple[Response, int]:
    user, error = _token_user("submit")
    if error:
        return error
    assert user is not None
    assignment = db.session.get(Assignment, assignment_id)
    if assignment is None:
        return problem(404, "Not Found", f"There is no assignment {assignment_id}.")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return problem(400, "Bad Request", "Send the submission as a multipart form field named 'file'.")
    content = upload.read()
    try:
        submission = services.create_submission(user, assignment, upload.filename, content)
    except services.UploadRefused as refused:
        return problem(refused.status, "Submission refused", refused.message, field=refused.field)
    body = describe(submission)
    response = jsonify(body)
    response.status_code = 202
    response.headers["Location"] = body["url"]
    return response


@blueprint.get("/submissions/<int:submission_id>")
def show(submission_id: int) -> Response:
    user, error = _token_user("read")
    if error:
        return error
    assert user is not None
    submission = db.session.get(Submission, submission_id)
    if submission is None or not _may_see(user, submission):
        return problem(404, "Not Found", f"There is no submission {submission_id} you can see.")
    return jsonify(describe(submission, with_result=True))


def _may_see(user: User, submission: Submission) -> bool:
    course_id = submission.assignment_version.assignment.course_id
    return user.id == submission.user_id or is_staff(user, course_id)


def describe(submission: Submission, with_result: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": submission.id,
        "url": url_for("submissions_api.show", submission_id=submission.id, _external=False),
        "state": submission.state.value,
        "assignment_version": submission.assignment_version.number,
        "filename": submission.filename,
        "created_at": submission.created_at.isoformat() + "Z",
        "attempts": submission.attempts,
        "progress": submission.progress,
        "charged": submission.charged,
    }
    result = submission.result
    if with_result and result is not None:
        body["result"] = {
            "verdict": result.verdict,
            "message": result.message,
            "metric": result.metric_name,
            "metric_value": result.metric_value,
            "score": result.score,
            "max_score": result.max_score,
            "passed": result.passed,
            "seed": result.seed,
            "wall_seconds": result.wall_seconds,
            "details": result.details,
            "curves": {
                c.series: {"steps": c.steps, "values": c.values, "points_total": c.points_total}
                for c in result.curves
            },
        }
    return body
