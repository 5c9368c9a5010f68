"""Asking for a regrade and answering: one open request per student and assignment; an answer is a
comment with a regrade (against the current version or the same one), a score set by hand, or a no.
The answer, what it does, its audit entry and its announcement commit together."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from grader.accounts.models import User
from grader.audit import services as audit
from grader.audit.models import Action
from grader.courses.access import is_staff
from grader.denials import StaffOnly
from grader.domain_events import RegradeRequestAnswered, Staged, send, stage
from grader.extensions import db, utcnow
from grader.regrade_requests.models import RegradeRequest, RequestState
from grader.submissions import adjustments, services
from grader.submissions.credit import owned_by
from grader.submissions.models import State, Submission

REASON_MIN, REASON_MAX = 10, 2000


class Decision(enum.StrEnum):
    REGRADE = "regrade"  # against the assignment's current version
    REGRADE_SAME_VERSION = "regrade_same_version"
    ADJUST = "adjust"
    DECLINE = "decline"


@dataclass
class RequestRefused(Exception):
    status: int
    message: str
    field: str = "reason"


def _checked_text(text: str, what: str, field: str, least: int = 1) -> str:
    text = text.strip()
    if len(text) < least:
        raise RequestRefused(400, f"{what} is needed (at least {least} characters): {_why(field)}", field)
    if len(text) > REASON_MAX:
        raise RequestRefused(
            400, f"{what} may be at most {REASON_MAX} characters; it has {len(text)}.", field
        )
    return text


def _why(field: str) -> str:
    return (
        "say what you think was graded wrongly and why, so that your instructor can check it."
        if field == "reason"
        else "the student reads it with the decision."
    )


def ask(submission: Submission, student: User, reason: str) -> RegradeRequest:
    """The student's request for a regrade of their graded submission; committed. RequestRefused,
    writing nothing, when it is not graded yet, has no grade to regrade, or another request of theirs
    for the assignment is still open."""
    mine = db.session.scalar(
        select(Submission.id).where(Submission.id == submission.id, owned_by(student.id))
    )
    if mine is None:
        raise RequestRefused(
            403, "Only the student who submitted it (or their team) can ask for a regrade of it."
        )
    if submission.is_reference or (submission.sweep_id is not None and not submission.sweep_grade):
        raise RequestRefused(
            409, "This run is not a grade of its own: ask about the sweep's graded run instead."
        )
    if submission.state not in (State.SCORED, State.FAILED) or submission.result is None:
        raise RequestRefused(
            409,
            f"Submission {submission.id} is {submission.state.value}: a regrade can be asked for once it has been graded.",
        )
    reason = _checked_text(reason, "A reason", "reason", REASON_MIN)
    assignment = submission.assignment_version.assignment
    request = RegradeRequest(
        submission_id=submission.id, assignment_id=assignment.id, course_id=assignment.course_id,
        student_id=student.id, reason=reason, score_when_asked=submission.result.score,
    )  # fmt: skip
    db.session.add(request)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise RequestRefused(
            409,
            f"You already have an open regrade request for {assignment.title!r}: wait for its answer "
            "(on the submission's page) before asking again.",
        ) from None
    return request


def answer(
    request: RegradeRequest, by: User, decision: Decision, comment: str, score: float | None = None
) -> RegradeRequest:
    """An instructor's answer; committed, then announced (and a regrade queued). RequestRefused or
    AdjustmentRefused, writing nothing, for an answered request, a missing comment or a bad score."""
    if not is_staff(by, request.course_id):
        raise StaffOnly("answer regrade requests")
    # Locked: two instructors answering at once get one answer and one refusal, not two.
    db.session.refresh(request, with_for_update=True)
    if request.state.answered:
        db.session.rollback()
        raise RequestRefused(
            409, "This request has already been answered: reload the page to see the answer.", "decision"
        )
    comment = _checked_text(comment, "A comment", "comment")
    to_publish: list[int] = []
    staged = Staged()
    submission = request.submission
    try:
        if decision is Decision.ADJUST:
            if score is None:
                raise RequestRefused(400, "Give the score to set by hand.", "score")
            staged = adjustments.stage_adjustment(submission, score, comment, by)
            request.state, request.score_set = RequestState.ADJUSTED, score
        elif decision in (Decision.REGRADE, Decision.REGRADE_SAME_VERSION):
            same = decision is Decision.REGRADE_SAME_VERSION
            to_publish = services.stage_regrade(submission, by, same_version=same)
            request.state = RequestState.REGRADED
        else:
            request.state = RequestState.DECLINED
    except Exception:
        db.session.rollback()
        raise
    request.answer, request.answered_by_id, request.answered_at = comment, by.id, utcnow()
    audit.record(
        Action.REGRADE_REQUEST_ANSWERED, by=by, course_id=request.course_id,
        subject=audit.Subject("regrade_request", request.id, f"regrade request {request.id} on submission {submission.id}"),
        student=request.student, reason=comment, details={"decision": decision.value},
    )  # fmt: skip
    db.session.flush()
    staged.after_commit.extend(stage(RegradeRequestAnswered(request.id)).after_commit)
    db.session.commit()
    send(staged)
    services.publish_many(to_publish)
    return request


def requests_of_submission(submission: Submission) -> list[RegradeRequest]:
    return list(
        db.session.scalars(
            select(RegradeRequest)
            .where(RegradeRequest.submission_id == submission.id)
            .order_by(RegradeRequest.id)
        )
    )


def course_requests(
    course_id: int, *, state: RequestState | None = None, offset: int = 0, limit: int = 50
) -> tuple[list[RegradeRequest], int]:
    """The course's requests, open ones first (oldest first: the queue's order), then the answered,
    newest first; and how many in all."""
    query = select(RegradeRequest).where(RegradeRequest.course_id == course_id)
    if state is not None:
        query = query.where(RegradeRequest.state == state)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    is_open = RegradeRequest.state == RequestState.OPEN
    ordered = query.order_by(
        is_open.desc(),
        func.coalesce(RegradeRequest.answered_at, RegradeRequest.created_at).desc().nulls_last(),
        RegradeRequest.id,
    )
    return list(db.session.scalars(ordered.offset(offset).limit(limit))), total


def open_count(course_id: int) -> int:
    return (
        db.session.scalar(
            select(func.count()).where(
                RegradeRequest.course_id == course_id, RegradeRequest.state == RequestState.OPEN
            )
        )
        or 0
    )
