"""The reference run: each published version's reference solution, graded like any submission.

It is the class's yardstick on the analytics page (the median student's loss curve
against the reference's) and proof that the published version grades as declared
on the workers themselves. It belongs to a platform account that has no password
and no enrollment, so it never appears on scoreboards, leaderboards or in quotas.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from grader.accounts.models import Role, User
from grader.assignments.models import Assignment
from grader.assignments.spec import Assignment as Spec
from grader.extensions import db, utcnow
from grader.runner.submission import SubmissionRejected, prepare_submission
from grader.storage import current_store

from .models import State, StoredFile, Submission
from .services import publish, queue_of

REFERENCE_EMAIL = "reference@grader.invalid"  # .invalid: a name that can never receive mail or log in


def reference_user() -> User:
    user = db.session.scalar(select(User).where(User.email == REFERENCE_EMAIL))
    if user is None:
        user = User(email=REFERENCE_EMAIL, name="Reference solution", role=Role.STUDENT, password_hash=None)
        db.session.add(user)
        db.session.flush()
    return user


def ensure_reference_run(
    assignment: Assignment, spec: Spec, read: Callable[[str], bytes] | None = None
) -> Submission | None:
    """Queue the first solution the spec expects to pass, once per version of the assignment.

    Called after each publication (a version already run is left alone, so republishing an
    unchanged spec queues nothing). ``read`` gives a solution file's bytes by its path in the
    assignment folder (default: from ``spec.folder``). None when nothing was queued.
    """
    solution = next((s for s in spec.solutions if s.expect == "pass"), None)
    already = db.session.scalar(
        select(Submission.id).where(
            Submission.assignment_version_id == assignment.current.id, Submission.is_reference.is_(True)
        )
    )
    if solution is None or already is not None:
        return None
    try:
        if read is None:
            if spec.folder is None:
                return None
            content = (spec.folder / solution.file).read_bytes()
        else:
            content = read(solution.file)
        name = solution.file.rsplit("/", 1)[-1]
        prepared = prepare_submission(name, content)
    except (OSError, KeyError, SubmissionRejected):
        return None  # the check reports unreadable solutions; the yardstick is only missing
    digest, _ = current_store().put(content)
    if db.session.get(StoredFile, digest) is None:
        db.session.add(StoredFile(sha256=digest, size=len(content)))
    submission = Submission(
        user_id=reference_user().id,
        assignment_version_id=assignment.current.id,
        filename=name,
        file_sha256=digest,
        kind=prepared.kind,
        state=State.RECEIVED,
        queue=queue_of(assignment.current),
        is_reference=True,
        created_at=utcnow(),
    )
    db.session.add(submission)
    db.session.commit()
    publish(submission.id)
    return submission


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
