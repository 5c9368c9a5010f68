"""The "regrade_request.answered" event: a course's endpoints told of each answer to a student's
regrade request (what was decided, the instructor's comment, the score when asked and now)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError

from grader.domain_events import AfterCommit, RegradeRequestAnswered
from grader.extensions import db, utcnow
from grader.regrade_requests.models import RegradeRequest

from .services import queue, result_url, stage_event, when

EVENT = "regrade_request.answered"


def payload(request: RegradeRequest, event_id: str) -> dict[str, Any]:
    submission = request.submission
    assignment = submission.assignment_version.assignment
    result = submission.result
    assert request.answered_at is not None  # only answered requests are announced
    return {
        "event_id": event_id, "event": EVENT, "created_at": when(utcnow()),
        "request": {
            "id": request.id, "state": request.state.value, "reason": request.reason, "answer": request.answer,
            "asked_at": when(request.created_at), "answered_at": when(request.answered_at),
            "score_when_asked": request.score_when_asked, "score_set": request.score_set,
        },
        "submission": {"id": submission.id, "state": submission.state.value, "url": result_url(submission.id),
                       "score": result.score if result is not None else None},
        "student": {"id": request.student.id, "email": request.student.email, "name": request.student.name},
        "assignment": {"id": assignment.id, "slug": assignment.slug, "title": assignment.title},
        "course": {"id": assignment.course_id, "code": assignment.course.code},
    }  # fmt: skip


def on_answered(event: RegradeRequestAnswered) -> AfterCommit | None:
    request = db.session.get(RegradeRequest, event.request_id)
    if request is None or request.answered_at is None:
        return None
    event_id = "evt_" + uuid.uuid5(uuid.NAMESPACE_URL, f"grader:request:{request.id}").hex
    try:
        with db.session.begin_nested():
            deliveries = stage_event(
                request.course_id, EVENT, request.submission_id, payload(request, event_id)
            )
    except IntegrityError:  # told twice of the same answer: the first recording stands
        return None
    return (lambda: queue(deliveries)) if deliveries else None
