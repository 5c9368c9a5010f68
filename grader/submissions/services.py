"""Accepting uploads and getting them graded: the only place that commits submissions.

A submission row and its "received" state commit in one transaction; the Celery
message is published only after that commit, and the reconciler re-publishes
anything the broker never got or lost. A refused upload leaves nothing behind.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select, update

from grader.accounts.models import User
from grader.assignments.models import Assignment
from grader.assignments.spec import SpecError
from grader.extensions import db, utcnow
from grader.outage import DATABASE_DOWN, database_unavailable, rollback_quietly
from grader.runner.submission import SubmissionRejected, UploadLimits, prepare_submission
from grader.storage import disk_full, storage_path, store_file

from . import broker
from .models import Attempt, Result, State, StoredFile, Submission
from .policy import UploadRefused, check_upload_allowed, submissions_today

__all__ = [
    "UploadRefused",
    "create_submission",
    "publish",
    "publish_many",
    "regrade",
    "reset_for_regrade",
    "storage_path",
    "store_file",
    "submissions_today",
]

REQUEUE_AFTER = timedelta(minutes=5)  # a queued message this old may have been lost with the broker
RECEIVED_GRACE = timedelta(seconds=10)  # time for the request that committed it to publish
STORAGE_FULL = (
    "The grader's storage is full, so this upload was not kept (nothing of it was saved). "
    "Try again later; the administrators can see the problem in the logs."
)


def create_submission(user: User, assignment: Assignment, filename: str, content: bytes) -> Submission:
    """Check, store and commit an upload, then publish it. Raises UploadRefused with a 4xx."""
    config = current_app.extensions["grader.config"]
    now = utcnow()
    late = check_upload_allowed(user, assignment, assignment.current.spec().submissions, now)
    try:
        prepared = prepare_submission(
            filename, content, UploadLimits(max_upload_bytes=config.upload_max_bytes)
        )
    except SubmissionRejected as exc:
        status = 413 if len(content) > config.upload_max_bytes else 422
        raise UploadRefused(status, str(exc)) from None
    try:
        digest, new_file = store_file(content)
    except OSError as exc:
        if not disk_full(exc):
            raise
        current_app.logger.error("upload refused: the storage is full (%s)", exc)
        raise UploadRefused(507, STORAGE_FULL) from None
    try:
        if db.session.get(StoredFile, digest) is None:
            db.session.add(StoredFile(sha256=digest, size=len(content)))
        submission = Submission(
            user_id=user.id,
            assignment_version_id=assignment.current.id,
            filename=filename[:255],
            file_sha256=digest,
            kind=prepared.kind,
            state=State.RECEIVED,
            late=late,
            created_at=now,  # the instant the deadline and limits were checked against
        )
        db.session.add(submission)
        db.session.flush()
    except Exception:
        db.session.rollback()
        if new_file:
            storage_path(digest).unlink(missing_ok=True)
        raise
    try:
        db.session.commit()
    except Exception as exc:
        rollback_quietly()
        # A connection lost during the COMMIT leaves its outcome unknown: the row may exist, so its
        # file stays (content-addressed: a retried upload reuses it) rather than leave a row that
        # points at nothing. The reconciler grades such a row like any other.
        if new_file and not database_unavailable(exc):
            storage_path(digest).unlink(missing_ok=True)
        raise
    publish(submission.id)
    return submission


def regrade(submission: Submission) -> None:
    """Grade a finished submission again, against its assignment's current version (an instructor's act).

    The old result and attempts go (curves and diagnoses with them); the submission is queued as if
    just received, in one commit, and published after it. The student's quotas are not touched.
    Raises UploadRefused(409) while it is still being graded.
    """
    if not submission.state.final:
        raise UploadRefused(409, "This submission is still being graded; regrade it once it has finished.")
    reset_for_regrade([submission.id], submission.assignment_version.assignment.current.id)
    db.session.commit()
    publish(submission.id)


def reset_for_regrade(submission_ids: list[int], version_id: int) -> None:
    """Make finished submissions "received" again, graded next against ``version_id``; no commit.

    The caller commits (with whatever else belongs to the same act) and only then publishes:
    a worker must never receive a message for a reset it cannot see yet.
    """
    if not submission_ids:
        return
    # Curves, diagnoses and fitted-model views go with their result (ON DELETE CASCADE).
    db.session.execute(delete(Result).where(Result.submission_id.in_(submission_ids)))
    db.session.execute(delete(Attempt).where(Attempt.submission_id.in_(submission_ids)))
    db.session.execute(
        update(Submission)
        .where(Submission.id.in_(submission_ids))
        .values(
            assignment_version_id=version_id,
            state=State.RECEIVED,
            attempts=0,
            progress=None,
            lease_owner=None,
            lease_expires_at=None,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    # The bulk statements bypassed the identity map: reload what it holds of these rows.
    db.session.expire_all()


def queue_for(submission_id: int) -> str:
    """The gpu queue for assignments whose spec asks for a GPU; the deployment's queue otherwise."""
    default: str = current_app.extensions["grader.config"].grading_queue
    submission = db.session.get(Submission, submission_id)
    if submission is None:
        return default
    try:
        device = submission.assignment_version.spec().budget.device
    except SpecError:
        return default
    return "gpu" if device == "gpu" else default


def publish(submission_id: int) -> bool:
    """Send the grading message (after commit), then mark the row queued. False if the broker is down."""
    celery = current_app.extensions["celery"]
    try:
        queue = queue_for(submission_id)
        celery.send_task("grader.grade", args=[submission_id], queue=queue)
    except Exception:  # noqa: BLE001 - the reconciler publishes it later; the row is the truth
        current_app.logger.warning(
            "publish failed for submission %s; the reconciler will retry", submission_id
        )
        return False
    try:
        db.session.execute(
            update(Submission)
            .where(Submission.id == submission_id, Submission.state.in_([State.RECEIVED, State.QUEUED]))
            .values(state=State.QUEUED, updated_at=utcnow())
        )
        db.session.commit()
    except DATABASE_DOWN:
        # The message is out: a worker claims a "received" row as well, and the reconciler's extra
        # copy is ignored by the claim. Failing here would turn an accepted upload into an error.
        rollback_quietly()
        current_app.logger.warning(
            "submission %s published but not marked queued (database away)", submission_id
        )
    return True


def publish_many(submission_ids: list[int]) -> int:
    """``publish`` for many committed submissions: the queue worked out once per assignment version,
    one UPDATE for all that were sent. Returns how many were sent; the reconciler sends the rest."""
    celery = current_app.extensions["celery"]
    rows = db.session.execute(
        select(Submission.id, Submission.assignment_version_id)
        .where(Submission.id.in_(submission_ids))
        .order_by(Submission.id)
    ).all()
    queues: dict[int, str] = {}
    sent: list[int] = []
    for submission_id, version_id in rows:
        if version_id not in queues:
            queues[version_id] = queue_for(submission_id)
        try:
            celery.send_task("grader.grade", args=[submission_id], queue=queues[version_id])
        except Exception:  # noqa: BLE001 - the reconciler publishes the rest later; the rows are the truth
            current_app.logger.warning(
                "publish failed at submission %s; the reconciler will send %d submission(s)",
                submission_id,
                len(rows) - len(sent),
            )
            break
        sent.append(submission_id)
    if sent:
        db.session.execute(
            update(Submission)
            .where(Submission.id.in_(sent), Submission.state.in_([State.RECEIVED, State.QUEUED]))
            .values(state=State.QUEUED, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
    return len(sent)


def reconcile() -> dict[str, int]:
    """Re-publish what was committed but never queued, queued but lost, or running with an expired lease."""
    config = current_app.extensions["grader.config"]
    now = utcnow()
    expired = db.session.execute(
        select(Submission.id, Submission.attempts, Submission.lease_owner).where(
            Submission.state == State.RUNNING, Submission.lease_expires_at < now
        )
    ).all()
    requeued: list[int] = []
    taken_over = 0
    for submission_id, attempts, owner in expired:
        retry = attempts < config.max_attempts
        # Conditional, like the worker's own writes: a worker that was only slow (its heartbeats
        # failed while the database was away) may finish between the select and this update, and
        # then its result stands instead of being overwritten by a requeue.
        taken = db.session.execute(
            update(Submission)
            .where(
                Submission.id == submission_id,
                Submission.state == State.RUNNING,
                Submission.attempts == attempts,
                Submission.lease_expires_at < now,
            )
            .values(
                state=State.QUEUED if retry else State.ERROR,
                lease_owner=None,
                lease_expires_at=None,
                updated_at=now,
            )
            .returning(Submission.id)
        ).first()
        if taken is None:
            continue
        taken_over += 1
        expire_attempt(submission_id, attempts, f"lease held by {owner} expired", now)
        if retry:
            requeued.append(submission_id)
    db.session.commit()
    # A broker that lost its data (Redis restarted without persistence) lost every queued message:
    # all are sent again now (one that was published after the restart gets a harmless second copy).
    lost = broker.lost_messages()
    queued_before = now if lost else now - REQUEUE_AFTER
    stale = db.session.scalars(
        select(Submission.id)
        .where(
            ((Submission.state == State.RECEIVED) & (Submission.updated_at < now - RECEIVED_GRACE))
            | ((Submission.state == State.QUEUED) & (Submission.updated_at < queued_before))
            | Submission.id.in_(requeued)
        )
        .order_by(Submission.id)
    ).all()
    published = sum(publish(submission_id) for submission_id in stale)
    if lost and published == len(stale):
        broker.mark_seen()
    return {"expired": taken_over, "published": published}


def expire_attempt(submission_id: int, number: int, why: str, now: datetime) -> None:
    """Mark an attempt that lost its lease (its worker died or stalled) as expired; no commit."""
    db.session.execute(
        update(Attempt)
        .where(Attempt.submission_id == submission_id, Attempt.number == number, Attempt.outcome == "running")
        .values(outcome="expired", finished_at=now, detail=why[:2000])
        .execution_options(synchronize_session=False)
    )
