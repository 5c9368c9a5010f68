"""Accepting uploads and getting them graded: the only place that commits submissions.

A submission row and its "received" state commit in one transaction; the Celery
message is published only after that commit, and the reconciler re-publishes
anything the broker never got or lost. A refused upload leaves nothing behind.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, select, update

from grader.accounts.models import User
from grader.assignments.models import Assignment, AssignmentVersion
from grader.assignments.queueing import grading_queue
from grader.audit import services as audit
from grader.audit.models import Action
from grader.courses.access import is_staff
from grader.denials import StaffOnly
from grader.engine.runner.submission import SubmissionRejected, UploadLimits, prepare_submission
from grader.engine.runner.sweep_upload import sweep_of_upload
from grader.engine.spec import SpecError
from grader.engine.sweep_request import SweepPlan, SweepRefused
from grader.extensions import db, utcnow
from grader.outage import DATABASE_DOWN, database_unavailable, rollback_quietly
from grader.storage import StorageError, StorageFull, current_store
from grader.submissions import broker
from grader.submissions.models import Attempt, Result, State, StoredFile, Submission, Sweep
from grader.submissions.policy import (
    UploadRefused,
    check_sweep_runs_allowed,
    check_upload_allowed,
    submissions_today,
    team_for_upload,
)

__all__ = [
    "UploadRefused",
    "create_submission",
    "publish",
    "publish_many",
    "regrade",
    "reset_for_regrade",
    "submissions_today",
]

REQUEUE_AFTER = timedelta(minutes=5)  # a queued message this old may have been lost with the broker
RECEIVED_GRACE = timedelta(seconds=10)  # time for the request that committed it to publish
STORAGE_FULL = (
    "The grader's storage is full, so this upload was not kept (nothing of it was saved). "
    "Try again later; the administrators can see the problem in the logs."
)


def create_submission(
    user: User, assignment: Assignment, filename: str, content: bytes, sweep: str | None = None
) -> Submission:
    """Check, store and commit an upload, then publish it. Raises UploadRefused with a 4xx.

    An upload that carries a sweep (``sweep``: JSON sent beside it, or ``SWEEP = {...}`` in its
    file) becomes one submission per run of the sweep, all committed together; the first is returned.
    """
    config = current_app.extensions["grader.config"]
    now = utcnow()
    spec = assignment.current.spec()
    team = team_for_upload(user, assignment)
    late = check_upload_allowed(user, assignment, spec.submissions, now)
    try:
        prepared = prepare_submission(
            filename, content, UploadLimits(max_upload_bytes=config.upload_max_bytes)
        )
    except SubmissionRejected as exc:
        status = 413 if len(content) > config.upload_max_bytes else 422
        raise UploadRefused(status, str(exc)) from None
    try:
        plan = sweep_of_upload(spec, prepared, content, sweep)
    except SweepRefused as exc:
        raise UploadRefused(422, str(exc), "sweep") from None
    if plan is not None and spec.sweep is not None:
        check_sweep_runs_allowed(
            user, assignment, len(plan.points) * plan.seeds, spec.sweep.runs_per_day, now
        )
    try:
        digest, new_file = current_store().put(content)
    except StorageFull as exc:
        current_app.logger.error("upload refused: the storage is full (%s)", exc)
        raise UploadRefused(507, STORAGE_FULL) from None
    try:
        if db.session.get(StoredFile, digest) is None:
            db.session.add(StoredFile(sha256=digest, size=len(content)))
        common = {
            "user_id": user.id,
            "assignment_version_id": assignment.current.id,
            "filename": filename[:255],
            "file_sha256": digest,
            "kind": prepared.kind,
            "state": State.RECEIVED,
            "queue": queue_of(assignment.current),
            "late": late,
            "created_at": now,  # the instant the deadline and limits were checked against
            "team_id": team.id if team is not None else None,
        }
        runs = [Submission(**common)] if plan is None else _sweep_runs(plan, common)
        if team is not None and team.submitted_at is None:
            team.submitted_at = now  # from now on only staff change who is in it
        db.session.add_all(runs)
        db.session.flush()
    except Exception:
        db.session.rollback()
        if new_file:
            _discard(digest)
        raise
    try:
        db.session.commit()
    except Exception as exc:
        rollback_quietly()
        # A connection lost during the COMMIT leaves its outcome unknown: the row may exist, so its
        # file stays (content-addressed: a retried upload reuses it) rather than leave a row that
        # points at nothing. The reconciler grades such a row like any other.
        if new_file and not database_unavailable(exc):
            _discard(digest)
        raise
    if len(runs) == 1:
        publish(runs[0].id)
    else:
        publish_many([run.id for run in runs])
    return runs[0]


def _discard(digest: str) -> None:
    """Undo the object this failed request stored (after the rollback); the request's own error wins."""
    try:
        current_store().discard(digest)
    except StorageError as exc:
        current_app.logger.error("could not remove the object %s of a failed upload: %s", digest, exc)


def _sweep_runs(plan: SweepPlan, common: dict[str, Any]) -> list[Submission]:
    """The sweep's row and one submission per point and seed (in the caller's transaction)."""
    sweep = Sweep(
        user_id=common["user_id"],
        assignment_version_id=common["assignment_version_id"],
        filename=common["filename"],
        file_sha256=common["file_sha256"],
        plan=plan.as_json(),
        created_at=common["created_at"],
    )
    db.session.add(sweep)
    db.session.flush()
    return [
        Submission(**common, sweep_id=sweep.id, sweep_point=index, sweep_seed=seed, params=point)
        for index, point in enumerate(plan.points)
        for seed in range(plan.seeds)
    ]


def regrade(submission: Submission, by: User, *, same_version: bool = False) -> None:
    """Grade a finished submission again (an instructor's act), against its assignment's current
    version, or the version it was graded against with ``same_version``.

    Raises StaffOnly unless ``by`` teaches its course. The old result and attempts go (curves and
    diagnoses with them); the submission is queued as if just received, in one commit, and published
    after it. The student's quotas are not touched. Raises UploadRefused(409) while it is still being
    graded.
    """
    ids = stage_regrade(submission, by, same_version=same_version)
    db.session.commit()
    publish_many(ids)


def stage_regrade(submission: Submission, by: User, *, same_version: bool = False) -> list[int]:
    """``regrade`` without its commit (for a caller that commits more with it); the submissions to
    publish once committed (a sweep's runs are regraded together)."""
    assignment = submission.assignment_version.assignment
    if not is_staff(by, assignment.course_id):
        raise StaffOnly("regrade a submission")
    version = submission.assignment_version if same_version else assignment.current
    # A sweep's runs are compared with each other and graded together: all are trained again against
    # the same version, or the comparison would mix two budgets or hidden sets.
    together = (
        Submission.sweep_id == submission.sweep_id
        if submission.sweep_id is not None
        else Submission.id == submission.id
    )
    # Locked and read again: a second click (or a regrade-all) waits for this one's commit, then sees
    # the runs queued and is refused, instead of resetting a run a worker may already hold.
    runs = db.session.execute(
        select(Submission.id, Submission.state).where(together).order_by(Submission.id).with_for_update()
    ).all()
    if not all(state.final for _, state in runs):
        db.session.rollback()
        what = "A run of this sweep is" if submission.sweep_id is not None else "This submission is"
        raise UploadRefused(409, f"{what} still being graded; regrade it once it has finished.")
    ids = [run_id for run_id, _ in runs]
    reset_for_regrade(ids, version)
    audit.record(
        Action.REGRADE, by=by, course_id=assignment.course_id,
        subject=audit.Subject("submission", submission.id, f"{assignment.title}: submission {submission.id} of {submission.user.name}"),
        student=submission.user, details={"version": version.number, "runs": len(ids)},
    )  # fmt: skip
    return ids


def reset_for_regrade(submission_ids: list[int], version: AssignmentVersion) -> None:
    """Make finished submissions "received" again, graded next against ``version``; no commit.

    They wait in their assignment's regrade lane, which takes its turn among the students' (fairness.py).
    The caller commits (with whatever else belongs to the same act) and only then publishes:
    a worker must never receive a message for a reset it cannot see yet.
    """
    if not submission_ids:
        return
    # A regraded sweep run reopens its sweep, now of ``version``: settled again once its runs are final.
    sweep_ids = select(Submission.sweep_id).where(
        Submission.id.in_(submission_ids), Submission.sweep_id.is_not(None)
    )
    db.session.execute(
        update(Sweep)
        .where(Sweep.id.in_(sweep_ids))
        .values(settled_at=None, graded_submission_id=None, assignment_version_id=version.id)
    )
    db.session.execute(
        update(Submission)
        .where(Submission.sweep_id.in_(sweep_ids), Submission.sweep_grade.is_(True))
        .values(sweep_grade=False)
        .execution_options(synchronize_session=False)
    )
    # Curves, diagnoses and fitted-model views go with their result (ON DELETE CASCADE).
    db.session.execute(delete(Result).where(Result.submission_id.in_(submission_ids)))
    db.session.execute(delete(Attempt).where(Attempt.submission_id.in_(submission_ids)))
    db.session.execute(
        update(Submission)
        .where(Submission.id.in_(submission_ids))
        .values(
            assignment_version_id=version.id,
            state=State.RECEIVED,
            queue=queue_of(version),
            lane=regrade_lane(version.assignment_id),
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


def regrade_lane(assignment_id: int) -> str:
    """Where an assignment's regrades wait: one lane, taking turns with the students' (fairness.py)."""
    return f"regrade:{assignment_id}"


def queue_of(version: AssignmentVersion) -> str:
    """The queue that grades the version's submissions (a GPU's when its spec asks for one)."""
    default: str = current_app.extensions["grader.config"].grading_queue
    try:
        return grading_queue(version.spec().budget, default)
    except SpecError:
        return default


def queue_for(submission_id: int) -> str:
    """The queue a submission's grading messages go to (fixed when it was received or reset)."""
    queue = db.session.scalar(select(Submission.queue).where(Submission.id == submission_id))
    return queue or current_app.extensions["grader.config"].grading_queue


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
        # The message is out but the row still says "received": the fair pick passes it over (it
        # looks unpublished), so it is graded when its message finds nothing queued ahead of it, or
        # after the reconciler publishes it again (a duplicate the conditional claim ignores). Late
        # at worst, never lost; failing here would turn an accepted upload into an error.
        rollback_quietly()
        current_app.logger.warning(
            "submission %s published but not marked queued (database away)", submission_id
        )
    return True


def publish_many(submission_ids: list[int]) -> int:
    """``publish`` for many committed submissions: one SELECT, one message each,
    one UPDATE for all that were sent. Returns how many were sent; the reconciler sends the rest."""
    celery = current_app.extensions["celery"]
    rows = db.session.execute(
        select(Submission.id, Submission.queue)
        .where(Submission.id.in_(submission_ids))
        .order_by(Submission.id)
    ).all()
    sent: list[int] = []
    for submission_id, queue in rows:
        try:
            celery.send_task("grader.grade", args=[submission_id], queue=queue)
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
