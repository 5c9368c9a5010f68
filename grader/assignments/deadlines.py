"""Per-student deadlines: extensions granted by staff, and the deadline that applies to a student.

Every check of lateness (upload refusals, the late flag, the late penalty at grading) goes
through ``effective_deadline``, so an extension counts the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from grader.accounts.models import User
from grader.assignments.models import Assignment, DeadlineExtension
from grader.audit import services as audit
from grader.audit.models import Action
from grader.extensions import db, utcnow

REASON_MAX = 200  # the column's width


@dataclass
class ExtensionRefused(Exception):
    """Staff asked for an extension that cannot be granted; the message says why and what to do."""

    message: str


@dataclass(frozen=True)
class StudentDeadline:
    """The deadline that applies to one student, and the extension behind it if there is one."""

    deadline: datetime | None
    extension: DeadlineExtension | None  # only when it is in effect (later than the course's)

    @property
    def extended(self) -> bool:
        return self.extension is not None


def extension_of(assignment: Assignment, user: User) -> DeadlineExtension | None:
    """The extension granted to this student for this assignment, in effect or not."""
    return db.session.scalar(
        select(DeadlineExtension).where(
            DeadlineExtension.assignment_id == assignment.id, DeadlineExtension.user_id == user.id
        )
    )


def deadline_for(assignment: Assignment, user: User) -> StudentDeadline:
    """The student's deadline: their extension, unless the course's deadline has since moved later.

    An extension never shortens a deadline: if staff later move the assignment's deadline past
    it (or remove the deadline), the student gets the course's, like everyone else.
    """
    if assignment.deadline is None:
        return StudentDeadline(None, None)
    extension = extension_of(assignment, user)
    if extension is not None and extension.deadline > assignment.deadline:
        return StudentDeadline(extension.deadline, extension)
    return StudentDeadline(assignment.deadline, None)


def effective_deadline(assignment: Assignment, user: User) -> datetime | None:
    """The deadline lateness is judged against for this student (None: the assignment has none)."""
    return deadline_for(assignment, user).deadline


def granted_by(extension: DeadlineExtension) -> User | None:
    """Who granted the extension (None once their account is gone)."""
    return db.session.get(User, extension.granted_by_id) if extension.granted_by_id is not None else None


def grant_extension(
    assignment: Assignment, student: User, deadline: datetime, reason: str, granted_by: User
) -> DeadlineExtension:
    """Give the student their own deadline (replacing any earlier extension) and commit.

    ``deadline`` is naive UTC. Raises ExtensionRefused, writing nothing, when the assignment has
    no deadline, or the new one is in the past or not after the assignment's.
    """
    reason = reason.strip()
    if assignment.deadline is None:
        raise ExtensionRefused(
            f"{assignment.title!r} has no deadline, so there is nothing to extend: "
            "set one on the publish page first if you need one."
        )
    if deadline <= utcnow():
        raise ExtensionRefused(
            f"{deadline:%Y-%m-%d %H:%M} UTC is in the past: choose a date and time still to come."
        )
    if deadline <= assignment.deadline:
        raise ExtensionRefused(
            f"An extension must end after the assignment's deadline ({assignment.deadline:%Y-%m-%d %H:%M} UTC); "
            f"{deadline:%Y-%m-%d %H:%M} UTC does not."
        )
    if len(reason) > REASON_MAX:
        raise ExtensionRefused(f"The reason may be at most {REASON_MAX} characters; it has {len(reason)}.")
    extension = extension_of(assignment, student)
    if extension is None:
        extension = DeadlineExtension(assignment_id=assignment.id, user_id=student.id)
        db.session.add(extension)
    extension.deadline, extension.reason = deadline, reason
    extension.granted_by_id, extension.created_at = granted_by.id, utcnow()
    audit.record(
        Action.EXTENSION_GRANTED, by=granted_by, course_id=assignment.course_id,
        subject=audit.Subject("assignment", assignment.id, f"{assignment.title}: {student.name}'s deadline"),
        student=student, reason=reason, details={"deadline_utc": f"{deadline:%Y-%m-%d %H:%M}"},
    )  # fmt: skip
    try:
        db.session.commit()
    except IntegrityError:
        # Another member of staff granted one for the same student at the same moment.
        db.session.rollback()
        raise ExtensionRefused(
            "Someone else changed this student's extension at the same moment: reload the page and try again."
        ) from None
    return extension


def revoke_extension(assignment: Assignment, student: User, by: User) -> bool:
    """Take the student's extension away (the assignment's deadline applies again); False if none."""
    extension = extension_of(assignment, student)
    if extension is None:
        return False
    audit.record(
        Action.EXTENSION_REVOKED, by=by, course_id=assignment.course_id,
        subject=audit.Subject("assignment", assignment.id, f"{assignment.title}: {student.name}'s deadline"),
        student=student, details={"deadline_utc": f"{extension.deadline:%Y-%m-%d %H:%M}"},
    )  # fmt: skip
    db.session.delete(extension)
    db.session.commit()
    return True
