"""Regrading every finished submission of an assignment at once, and following the batch.

One commit covers the batch row and every reset; the grading messages are sent
only after it, so a worker never gets a submission whose reset it cannot see.
A batch's progress is counted from its submissions' rows, never stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import aliased

from grader.accounts.models import User
from grader.assignments.models import Assignment
from grader.audit import services as audit
from grader.audit.models import Action
from grader.courses.access import is_staff
from grader.denials import StaffOnly
from grader.extensions import db, utcnow
from grader.submissions.models import RegradeBatch, Result, State, Submission
from grader.submissions.services import publish_many, reset_for_regrade

FINAL = (State.SCORED, State.FAILED, State.ERROR)
FAILURES = (State.FAILED, State.ERROR)


@dataclass
class RegradeRefused(Exception):
    status: int
    message: str


@dataclass(frozen=True)
class RegradeCandidates:
    finished: int  # would be regraded
    being_graded: int  # would be skipped


@dataclass(frozen=True)
class BatchSubmission:
    """A submission of a batch, as its progress page lists it."""

    submission_id: int
    student: str
    state: State
    verdict: str | None
    message: str | None


def _of_assignment(assignment: Assignment) -> list[ColumnElement[bool]]:
    # The platform's reference runs belong to the version they were run for: never moved by a regrade.
    return [
        Submission.assignment_version_id.in_(assignment.version_ids),
        Submission.is_reference.is_(False),
    ]


def _regradable() -> ColumnElement[bool]:
    """Finished, and not a run of a sweep with a run still going: a sweep is regraded whole or not
    at all (``services.regrade``), or its runs would be compared across two versions."""
    other = aliased(Submission)
    going = (
        select(other.id)
        .where(other.sweep_id == Submission.sweep_id, other.state.not_in(FINAL))
        .correlate(Submission)
        .exists()
    )
    return Submission.state.in_(FINAL) & (Submission.sweep_id.is_(None) | ~going)


def regrade_candidates(assignment: Assignment) -> RegradeCandidates:
    """How many submissions a regrade of the whole assignment would queue now, and skip."""
    finished, other = db.session.execute(
        select(
            func.count().filter(_regradable()),
            func.count().filter(~_regradable()),
        ).where(*_of_assignment(assignment))
    ).one()
    return RegradeCandidates(int(finished), int(other))


def regrade_all(assignment: Assignment, requested_by: User) -> RegradeBatch:
    """Queue every finished submission of the assignment (all versions) for grading against its
    current version, as ``services.regrade`` does for one; submissions still being graded, and the
    runs of a sweep with a run still going, are skipped (``skipped_by``). Commits once, then
    publishes. Raises RegradeRefused(409), writing nothing, when there is nothing to regrade, and
    StaffOnly unless ``requested_by`` teaches the course."""
    if not is_staff(requested_by, assignment.course_id):
        raise StaffOnly("regrade an assignment's submissions")
    now = utcnow()
    # Locked until the commit: a concurrent single regrade waits rather than resetting them twice.
    finished = list(
        db.session.scalars(
            select(Submission.id)
            .where(*_of_assignment(assignment), _regradable())
            .order_by(Submission.id)
            .with_for_update(of=Submission)
        )
    )
    if not finished:
        db.session.rollback()
        raise RegradeRefused(
            409,
            f"No submission of {assignment.title!r} has finished grading, so there is nothing to regrade: "
            "try again once some have.",
        )
    batch = RegradeBatch(
        assignment_id=assignment.id, requested_by_id=requested_by.id, submission_ids=finished, created_at=now
    )
    db.session.add(batch)
    reset_for_regrade(finished, assignment.current)
    audit.record(
        Action.REGRADE_ALL, by=requested_by, course_id=assignment.course_id,
        subject=audit.Subject("assignment", assignment.id, assignment.title),
        details={"version": assignment.current.number, "submissions": len(finished)},
    )  # fmt: skip
    db.session.commit()
    publish_many(finished)
    return batch


def batch_progress(batch: RegradeBatch) -> dict[str, int]:
    """The batch's submissions by state now, in one query: ``done`` counts those graded (or failed)
    since the batch was asked for; ``failed`` is the part of them that failed."""
    fresh = Submission.updated_at >= batch.created_at
    total, done, failed, waiting, running = db.session.execute(
        select(
            func.count(),
            func.count().filter(Submission.state.in_(FINAL), fresh),
            func.count().filter(Submission.state.in_(FAILURES), fresh),
            func.count().filter(Submission.state.in_([State.RECEIVED, State.QUEUED])),
            func.count().filter(Submission.state == State.RUNNING),
        ).where(Submission.id.in_(batch.submission_ids or [-1]))
    ).one()
    return {
        "total": int(total),
        "done": int(done),
        "failed": int(failed),
        "waiting": int(waiting),
        "running": int(running),
    }


def batch_failures(batch: RegradeBatch) -> list[BatchSubmission]:
    """The batch's submissions whose regrade failed (the student's code, or the platform)."""
    rows = db.session.execute(
        select(Submission.id, User.name, Submission.state, Result.verdict, Result.message)
        .join(User, User.id == Submission.user_id)
        .outerjoin(Result, Result.submission_id == Submission.id)
        .where(
            Submission.id.in_(batch.submission_ids or [-1]),
            Submission.state.in_(FAILURES),
            Submission.updated_at >= batch.created_at,
        )
        .order_by(Submission.id)
    ).all()
    return [BatchSubmission(*row) for row in rows]


def skipped_by(batch: RegradeBatch, assignment: Assignment) -> list[BatchSubmission]:
    """The submissions that were still being graded when the batch was asked for (or were runs of a
    sweep with a run still going), so not regraded.

    Not stored: every submission of the assignment from before the batch is either in it or was
    skipped then.
    """
    rows = db.session.execute(
        select(Submission.id, User.name, Submission.state, Result.verdict, Result.message)
        .join(User, User.id == Submission.user_id)
        .outerjoin(Result, Result.submission_id == Submission.id)
        .where(
            *_of_assignment(assignment),
            Submission.created_at <= batch.created_at,
            Submission.id.not_in(batch.submission_ids or [-1]),
        )
        .order_by(Submission.id)
    ).all()
    return [BatchSubmission(*row) for row in rows]


def batch_of(assignment: Assignment, batch_id: int) -> RegradeBatch | None:
    batch = db.session.get(RegradeBatch, batch_id)
    return batch if batch is not None and batch.assignment_id == assignment.id else None


def recent_batches(assignment: Assignment, limit: int = 5) -> list[RegradeBatch]:
    return list(
        db.session.scalars(
            select(RegradeBatch)
            .where(RegradeBatch.assignment_id == assignment.id)
            .order_by(RegradeBatch.created_at.desc(), RegradeBatch.id.desc())
            .limit(limit)
        )
    )


def requested_by(batch: RegradeBatch) -> User | None:
    return db.session.get(User, batch.requested_by_id) if batch.requested_by_id is not None else None
