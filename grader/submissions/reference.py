"""The reference run: each published version's reference solution, graded like any submission.

It is the class's yardstick on the analytics page (the median student's loss curve
against the reference's) and proof that the published version grades as declared
on the workers themselves. It belongs to a platform account that has no password
and no enrollment, so it never appears on scoreboards, leaderboards or in quotas.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from grader.accounts.models import Role, User
from grader.assignments.models import Assignment, AssignmentVersion
from grader.domain_events import AfterCommit, VersionPublished, listen
from grader.engine.runner.submission import SubmissionRejected, prepare_submission
from grader.extensions import db, utcnow
from grader.storage import current_store
from grader.submissions.models import State, StoredFile, Submission
from grader.submissions.services import publish, queue_of

REFERENCE_EMAIL = "reference@grader.invalid"  # .invalid: a name that can never receive mail or log in


def reference_user() -> User:
    user = db.session.scalar(select(User).where(User.email == REFERENCE_EMAIL))
    if user is None:
        user = User(email=REFERENCE_EMAIL, name="Reference solution", role=Role.STUDENT, password_hash=None)
        db.session.add(user)
        db.session.flush()
    return user


def init_app(app: Flask) -> None:
    """Queue each new version's reference run once it has committed (unless turned off)."""
    if app.extensions["grader.config"].reference_runs:
        listen(app, VersionPublished, on_version_published)


def on_version_published(event: VersionPublished) -> AfterCommit | None:
    """In the publication's transaction: the reference run's row; after its commit: its message.
    Nothing when the spec declares no passing solution or it is not a submission (the check of the
    draft or of ``grader assignments check`` says why; the yardstick is only missing)."""
    version = db.session.get(AssignmentVersion, event.version_id)
    if event.reference is None or version is None or reference_run_of(version.id) is not None:
        return None
    path, content = event.reference
    name = path.rsplit("/", 1)[-1]
    try:
        prepared = prepare_submission(name, content)
    except SubmissionRejected:
        return None
    digest, _ = current_store().put(content)
    if db.session.get(StoredFile, digest) is None:
        db.session.add(StoredFile(sha256=digest, size=len(content)))
    submission = Submission(
        user_id=reference_user().id,
        assignment_version_id=version.id,
        filename=name,
        file_sha256=digest,
        kind=prepared.kind,
        state=State.RECEIVED,
        queue=queue_of(version),
        is_reference=True,
        created_at=utcnow(),
    )
    db.session.add(submission)
    db.session.flush()
    submission_id = submission.id

    def queue() -> None:
        publish(submission_id)

    return queue


def reference_run_of(version_id: int) -> Submission | None:
    """The version's reference run, in whatever state."""
    return db.session.scalar(
        select(Submission).where(
            Submission.assignment_version_id == version_id, Submission.is_reference.is_(True)
        )
    )


def latest_reference(assignment: Assignment) -> Submission | None:
    """The most recent scored reference run of any of the assignment's versions."""
    return db.session.scalar(
        select(Submission)
        .where(
            Submission.assignment_version_id.in_(assignment.version_ids),
            Submission.is_reference.is_(True),
            Submission.state == State.SCORED,
        )
        .order_by(Submission.created_at.desc(), Submission.id.desc())
        .limit(1)
    )
