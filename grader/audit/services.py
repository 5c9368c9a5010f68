"""Writing the trail (in the caller's transaction, so an action and its entry commit together or not
at all), and reading it back: a page of entries, and all of them as CSV."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from grader.accounts.models import User
from grader.audit.models import WORDS, Action, AuditEntry
from grader.extensions import db
from grader.spreadsheet import Cell, csv_text

REASON_MAX = 2000
LABEL_MAX = 300


@dataclass(frozen=True)
class Subject:
    """What an action was done to: its kind ("submission", "assignment", "team", ...), id and name."""

    kind: str
    id: int | None
    label: str


def label_of(user: User | None) -> str:
    if user is None:
        return "the system"
    return f"{user.name} <{user.email}>"[:LABEL_MAX]


def record(
    action: Action,
    *,
    by: User | None,
    course_id: int | None,
    subject: Subject,
    student: User | None = None,
    reason: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add the action's entry to the current transaction (the caller commits it with the action)."""
    entry = AuditEntry(
        course_id=course_id,
        actor_id=by.id if by is not None else None,
        actor_label=label_of(by),
        action=action,
        subject_type=subject.kind,
        subject_id=subject.id,
        subject_label=subject.label[:LABEL_MAX],
        student_id=student.id if student is not None else None,
        reason=reason.strip()[:REASON_MAX],
        details=details or {},
    )
    db.session.add(entry)
    return entry


def _of_course(course_id: int, action: Action | None) -> sa.Select[AuditEntry]:
    query = sa.select(AuditEntry).where(AuditEntry.course_id == course_id)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    return query


def entries(
    course_id: int, *, offset: int = 0, limit: int = 50, action: Action | None = None
) -> tuple[list[AuditEntry], int]:
    """The course's entries, newest first, and how many there are in all."""
    query = _of_course(course_id, action)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    rows = db.session.scalars(
        query.order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc()).offset(offset).limit(limit)
    )
    return list(rows), total


CSV_COLUMNS = (
    "when_utc",
    "who",
    "action",
    "what",
    "subject_type",
    "subject_id",
    "student_id",
    "reason",
    "details",
)


def csv_chunks(course_id: int) -> Iterator[str]:
    """The course's whole trail as CSV, oldest first, in chunks of 500 entries (a long course's trail
    is never held in memory at once). Names and reasons are made safe for a spreadsheet."""
    yield csv_text([CSV_COLUMNS])
    query = _of_course(course_id, None).order_by(AuditEntry.created_at, AuditEntry.id)
    batch: list[tuple[Cell, ...]] = []
    for entry in db.session.scalars(query.execution_options(yield_per=500)):
        batch.append((
            entry.created_at.strftime("%Y-%m-%d %H:%M:%S"), entry.actor_label, WORDS[entry.action],
            entry.subject_label, entry.subject_type, entry.subject_id, entry.student_id, entry.reason,
            "; ".join(f"{key}={value}" for key, value in sorted(entry.details.items())),
        ))  # fmt: skip
        if len(batch) == 500:
            yield csv_text(batch)
            batch = []
    if batch:
        yield csv_text(batch)
