"""REST endpoints for a course's audit trail (its instructors only): a page of entries, or all as CSV."""

from __future__ import annotations

from flask import Response, stream_with_context
from pydantic import Field

from grader.access.kit import require_course
from grader.accounts.models import User
from grader.audit import services as trail
from grader.audit.models import WORDS, Action, AuditEntry
from grader.rest.registry import Api
from grader.rest.schemas import Model, Page, PageQuery, UtcDateTime, paging

api = Api("audit_api", "Audit trail")


class AuditQuery(PageQuery):
    action: Action | None = Field(None, description="Only entries of this action.")


class AuditEntryOut(Model):
    id: int
    at: UtcDateTime
    actor_id: int | None = Field(description="Null once the account is gone; actor keeps the name.")
    actor: str = Field(description="Who did it, as they were called then.")
    action: Action
    action_words: str
    subject_type: str = Field(description="What it was done to: submission, assignment, team, ...")
    subject_id: int | None
    subject: str
    student_id: int | None = Field(description="The student it concerns, when it concerns one.")
    reason: str
    details: dict[str, str | int | float | bool | None]


class AuditPage(Page):
    course_id: int
    items: list[AuditEntryOut]


def describe(entry: AuditEntry) -> AuditEntryOut:
    return AuditEntryOut(
        id=entry.id, at=entry.created_at, actor_id=entry.actor_id, actor=entry.actor_label, action=entry.action,
        action_words=WORDS[entry.action], subject_type=entry.subject_type, subject_id=entry.subject_id,
        subject=entry.subject_label, student_id=entry.student_id, reason=entry.reason, details=entry.details,
    )  # fmt: skip


@api.operation(
    "GET", "/courses/<int:course_id>/audit", summary="List a course's audit trail",
    query=AuditQuery, response=AuditPage, headers=("Link",),
)  # fmt: skip
def list_entries(user: User, course_id: int, query: AuditQuery) -> AuditPage:
    """Staff actions that changed a grade or what students see, newest first (course staff only)."""
    course = require_course(user, course_id, staff_to="read the course's audit trail")
    rows, total = trail.entries(course.id, offset=query.offset, limit=query.per_page, action=query.action)
    return AuditPage(course_id=course.id, items=[describe(e) for e in rows], **paging(query, total))


@api.operation(
    "GET", "/courses/<int:course_id>/audit.csv", summary="Download a course's audit trail as CSV",
    response=None, media_type="text/csv", headers=("Content-Disposition",),
)  # fmt: skip
def trail_csv(user: User, course_id: int) -> Response:
    """The whole trail, oldest first, one row per entry (course staff only)."""
    course = require_course(user, course_id, staff_to="read the course's audit trail")
    return Response(
        stream_with_context(trail.csv_chunks(course.id)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{course.code}-audit-trail.csv"'},
    )
