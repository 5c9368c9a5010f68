"""REST endpoints for regrade requests (a student asks; the course's staff list and answer them) and
for scores set by hand on a result."""

from __future__ import annotations

from flask import url_for
from pydantic import Field

from grader.access.kit import require_course, require_submission
from grader.accounts.models import User
from grader.api_errors import ApiProblem
from grader.extensions import db
from grader.regrade_requests import services as requests_
from grader.regrade_requests.models import RegradeRequest, RequestState
from grader.rest.registry import Api, Reply
from grader.rest.schemas import Model, Number, Page, PageQuery, UtcDateTime, paging
from grader.rest.submission_bodies import StudentRef
from grader.submissions import adjustments
from grader.submissions.models import Submission
from grader.submissions.policy import UploadRefused

api = Api("regrade_requests_api", "Regrade requests")

TITLES = {400: "Bad Request", 403: "Forbidden", 409: "Conflict"}


class RegradeRequestIn(Model):
    reason: str = Field(
        min_length=requests_.REASON_MIN, max_length=requests_.REASON_MAX,
        description="What the student thinks was graded wrongly, and why.",
    )  # fmt: skip


class AnswerIn(Model):
    decision: requests_.Decision = Field(
        description="regrade (against the current version), regrade_same_version, adjust (set `score`) or decline."
    )
    comment: str = Field(
        min_length=1, max_length=requests_.REASON_MAX, description="For the student to read."
    )
    score: float | None = Field(None, description="The score to set by hand (decision adjust only).")


class RegradeRequestOut(Model):
    id: int
    url: str
    submission_id: int
    assignment_id: int
    course_id: int
    student: StudentRef
    reason: str
    state: RequestState
    asked_at: UtcDateTime
    score_when_asked: Number
    answer: str = Field(description="The instructor's comment (empty until answered).")
    answered_at: UtcDateTime | None
    score_set: Number = Field(description="The score set by hand (decision adjust).")


class RegradeRequestPage(Page):
    items: list[RegradeRequestOut]


class RegradeRequestList(Model):
    items: list[RegradeRequestOut]


class CourseRequestsQuery(PageQuery):
    state: RequestState | None = Field(None, description="Only requests in this state.")


class ScoreIn(Model):
    score: float = Field(description="Between 0 and the result's maximum.")
    reason: str = Field(min_length=1, max_length=adjustments.REASON_MAX, description="Shown to the student.")


class ScoreOut(Model):
    submission_id: int
    score: Number
    max_score: float
    set_by_hand: bool
    machine_score: Number = Field(description="The grader's own score.")
    reason: str | None


def describe(found: RegradeRequest) -> RegradeRequestOut:
    student = found.student
    return RegradeRequestOut(
        id=found.id, url=url_for("regrade_requests_api.get_request", request_id=found.id),
        submission_id=found.submission_id, assignment_id=found.assignment_id, course_id=found.course_id,
        student=StudentRef(id=student.id, name=student.name, email=student.email), reason=found.reason,
        state=found.state, asked_at=found.created_at, score_when_asked=found.score_when_asked,
        answer=found.answer, answered_at=found.answered_at, score_set=found.score_set,
    )  # fmt: skip


def _problem(status: int, message: str) -> ApiProblem:
    return ApiProblem(status, TITLES.get(status, "Conflict"), message)


def _request(user: User, request_id: int) -> RegradeRequest:
    found = db.session.get(RegradeRequest, request_id)
    if found is None:
        raise ApiProblem(404, "Not Found", f"There is no regrade request {request_id} you can see.")
    require_submission(user, found.submission_id)
    return found


@api.operation(
    "POST", "/submissions/<int:submission_id>/regrade-requests", summary="Ask for a regrade", scope="submit",
    body=RegradeRequestIn, response=RegradeRequestOut, status=201, errors=(409,), headers=("Location",),
)  # fmt: skip
def ask(user: User, submission_id: int, body: RegradeRequestIn) -> Reply:
    """A student asks, with a reason, for their graded submission to be looked at again (one open
    request per assignment at a time; 409 while another is open or the submission is not graded)."""
    submission = require_submission(user, submission_id)
    try:
        asked = requests_.ask(submission, user, body.reason)
    except requests_.RequestRefused as refused:
        raise _problem(refused.status, refused.message) from None
    out = describe(asked)
    return Reply(out, headers={"Location": out.url})


@api.operation(
    "GET", "/submissions/<int:submission_id>/regrade-requests", summary="List a submission's regrade requests",
    response=RegradeRequestList,
)  # fmt: skip
def list_for_submission(user: User, submission_id: int) -> RegradeRequestList:
    """The requests made about one submission, oldest first (its student's own, or course staff)."""
    submission = require_submission(user, submission_id)
    return RegradeRequestList(items=[describe(r) for r in requests_.requests_of_submission(submission)])


@api.operation(
    "GET", "/regrade-requests/<int:request_id>", summary="Get a regrade request", response=RegradeRequestOut
)
def get_request(user: User, request_id: int) -> RegradeRequestOut:
    """One request with its answer, if answered (its student's own, or course staff)."""
    return describe(_request(user, request_id))


@api.operation(
    "GET", "/courses/<int:course_id>/regrade-requests", summary="List a course's regrade requests",
    query=CourseRequestsQuery, response=RegradeRequestPage, headers=("Link",),
)  # fmt: skip
def list_for_course(user: User, course_id: int, query: CourseRequestsQuery) -> RegradeRequestPage:
    """The course's requests, open ones first (oldest first), then the answered (course staff only)."""
    course = require_course(user, course_id, staff_to="see the course's regrade requests")
    rows, total = requests_.course_requests(
        course.id, state=query.state, offset=query.offset, limit=query.per_page
    )
    return RegradeRequestPage(items=[describe(r) for r in rows], **paging(query, total))


@api.operation(
    "POST", "/regrade-requests/<int:request_id>/answer", summary="Answer a regrade request", scope="grade",
    body=AnswerIn, response=RegradeRequestOut, errors=(409,),
)  # fmt: skip
def answer(user: User, request_id: int, body: AnswerIn) -> RegradeRequestOut:
    """Regrade the submission (against the current or the same version), set its score by hand, or
    decline, with a comment the student reads (course staff only; 409 once answered)."""
    found = _request(user, request_id)
    try:
        requests_.answer(found, user, body.decision, body.comment, body.score)
    except (requests_.RequestRefused, adjustments.AdjustmentRefused, UploadRefused) as refused:
        raise _problem(refused.status, refused.message) from None
    return describe(found)


def _score_of(submission: Submission) -> ScoreOut:
    result = submission.result
    assert result is not None
    adjustment = result.adjustment if result.adjustment is not None and result.adjustment.active else None
    return ScoreOut(
        submission_id=submission.id, score=result.score, max_score=result.max_score,
        set_by_hand=adjustment is not None,
        machine_score=adjustment.machine_score if adjustment is not None else result.score,
        reason=adjustment.reason if adjustment is not None else None,
    )  # fmt: skip


@api.operation(
    "PUT", "/submissions/<int:submission_id>/score", summary="Set a submission's score by hand", scope="grade",
    body=ScoreIn, response=ScoreOut, errors=(409,),
)  # fmt: skip
def set_score(user: User, submission_id: int, body: ScoreIn) -> ScoreOut:
    """The score the gradebooks, exports and LMS passback use from now on, with why (course staff
    only; 409 for a submission not graded). The grader's own score is kept."""
    submission = require_submission(user, submission_id, staff_to="set a score by hand")
    try:
        adjustments.adjust_score(submission, body.score, body.reason, user)
    except adjustments.AdjustmentRefused as refused:
        raise _problem(refused.status, refused.message) from None
    return _score_of(submission)


@api.operation(
    "DELETE", "/submissions/<int:submission_id>/score", summary="Give back the grader's own score",
    scope="grade", response=ScoreOut, errors=(409,),
)  # fmt: skip
def restore_score(user: User, submission_id: int) -> ScoreOut:
    """The score set by hand is undone (course staff only; 409 when none was set)."""
    submission = require_submission(user, submission_id, staff_to="change a score set by hand")
    try:
        adjustments.remove_adjustment(submission, user)
    except adjustments.AdjustmentRefused as refused:
        raise _problem(refused.status, refused.message) from None
    return _score_of(submission)
