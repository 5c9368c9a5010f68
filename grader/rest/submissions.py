"""REST endpoints for submissions: upload with a token, list them, follow the state, read the result.

Students see their own submissions; a course's staff see everyone's in the course, and may regrade.
"""

from __future__ import annotations

from http import HTTPStatus

from werkzeug.datastructures import FileStorage

from grader.access.kit import require_assignment, require_submission
from grader.accounts.models import User
from grader.api_errors import ApiProblem
from grader.courses.access import is_staff
from grader.extensions import db
from grader.rest.registry import Api, Reply
from grader.rest.schemas import paging
from grader.rest.submission_bodies import (
    CurvesOut,
    ResultOut,
    SubmissionOut,
    SubmissionPage,
    SubmissionQuery,
    SubmissionStatus,
    curves_of,
    result_of,
    status_of,
    submission_of,
)
from grader.submissions import services
from grader.submissions.listing import assignment_submissions
from grader.submissions.models import Submission

api = Api("submissions_api", "Submissions")
SWEEP_FIELD = (
    'A sweep, as JSON: {"grid": {"lr": [0.1, 0.01], "optimizer": ["sgd", "adam"]}, "seeds": 1} or '
    '{"random": {"lr": {"log_uniform": [1e-5, 0.1]}}, "samples": 8}. The file may carry it instead '
    "(SWEEP = {...} in a .py). Each run of the sweep is a submission of its own."
)


@api.operation(
    "POST", "/assignments/<int:assignment_id>/submissions", summary="Submit a file", scope="submit",
    upload="file", form=(("sweep", SWEEP_FIELD),), response=SubmissionStatus, status=202,
    errors=(409, 413, 422, 429, 507), headers=("Location",),
)  # fmt: skip
def create_submission(
    user: User, assignment_id: int, upload: FileStorage, form: dict[str, str | None]
) -> Reply:
    """Upload a .py, .ipynb or .zip as the multipart field `file`. It is committed, then queued for
    grading; follow it at the `Location` given. A refused upload (deadline, daily limit, a file that
    is not a submission, a sweep the assignment does not allow, the grader's storage full: 507)
    leaves nothing behind and says why. With a sweep, each run is a submission of its own: the
    answer is the first, with the sweep's id and address in `sweep`."""
    # The same check as GET /assignments/{id}, before the upload policy: another course's assignment,
    # or a hidden one, is not there for the caller (a 404 that does not tell its title).
    assignment = require_assignment(user, assignment_id)
    filename = upload.filename or "upload"
    try:
        submission = services.create_submission(user, assignment, filename, upload.read(), form["sweep"])
    except services.UploadRefused as refused:
        # 5xx: the grader's own trouble (507, its storage full), not something wrong with the upload.
        title = "Submission refused" if refused.status < 500 else HTTPStatus(refused.status).phrase
        raise ApiProblem(refused.status, title, refused.message, field=refused.field) from None
    body = status_of(submission)
    return Reply(body, headers={"Location": body.url})


@api.operation(
    "GET", "/assignments/<int:assignment_id>/submissions", summary="List an assignment's submissions",
    query=SubmissionQuery, response=SubmissionPage, headers=("Link",),
)  # fmt: skip
def list_submissions(user: User, assignment_id: int, query: SubmissionQuery) -> SubmissionPage:
    """Newest first. A student gets their own; the course's staff get everyone's, or one student's
    with `student=<user id>`."""
    assignment = require_assignment(user, assignment_id)
    student = query.student
    if not is_staff(user, assignment.course_id):
        if student is not None and student != user.id:
            raise ApiProblem(
                403,
                "Forbidden",
                "Students see only their own submissions: leave out the 'student' parameter.",
            )
        student = user.id
    rows, total = assignment_submissions(assignment, student, query.state, query.offset, query.per_page)
    items = [SubmissionOut(**submission_of(s)) for s in rows]
    return SubmissionPage(items=items, **paging(query, total))


def _graded(submission: Submission) -> Submission:
    if submission.result is None:
        raise ApiProblem(
            409,
            "Conflict",
            f"Submission {submission.id} is {submission.state.value} and has no result yet: poll "
            f"GET /api/v1/submissions/{submission.id} until 'final' is true, then ask again.",
        )
    return submission


@api.operation(
    "GET", "/submissions/<int:submission_id>", summary="Get a submission's state, progress and result",
    response=SubmissionStatus,
)  # fmt: skip
def get_submission(user: User, submission_id: int) -> SubmissionStatus:
    """The state (received, queued, running, then scored, failed or error), its place in the queue
    with estimates of when grading starts and ends while it waits (`queue`), the progress snapshot
    while it trains (about once a second), and once final the result with its curves."""
    return status_of(require_submission(user, submission_id))


@api.operation(
    "GET", "/submissions/<int:submission_id>/result", summary="Get a submission's result",
    response=ResultOut, errors=(409,),
)  # fmt: skip
def get_result(user: User, submission_id: int) -> ResultOut:
    """Score, verdict, metric, the diagnoses with their fixes. 409 until the submission is final."""
    submission = _graded(require_submission(user, submission_id))
    assert submission.result is not None
    return result_of(submission.result)


@api.operation(
    "GET", "/submissions/<int:submission_id>/curves", summary="Get a submission's training curves",
    response=CurvesOut, errors=(409,),
)  # fmt: skip
def get_curves(user: User, submission_id: int) -> CurvesOut:
    """Each recorded series, downsampled to at most ~500 points (spikes and gaps kept)."""
    submission = _graded(require_submission(user, submission_id))
    assert submission.result is not None
    return CurvesOut(submission_id=submission.id, curves=curves_of(submission.result))


@api.operation(
    "POST", "/submissions/<int:submission_id>/regrade", summary="Regrade a submission", scope="grade",
    response=SubmissionStatus, status=202, errors=(409,),
)  # fmt: skip
def regrade(user: User, submission_id: int) -> SubmissionStatus:
    """Train and score it again against the assignment's current version (course staff only). The
    old result is replaced; the student's limits are not touched. A run of a sweep regrades every run
    of its sweep, so they stay comparable. 409 while it (or a run of its sweep) is being graded."""
    submission = require_submission(user, submission_id)
    try:
        services.regrade(submission, user)
    except services.UploadRefused as refused:
        raise ApiProblem(refused.status, "Conflict", refused.message) from None
    db.session.refresh(submission)
    return status_of(submission)
