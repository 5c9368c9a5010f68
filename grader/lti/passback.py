"""Grade passback (LTI Assignment and Grade Services): what the LMS gradebook is told after a result.

Which score: the student's **best** score for the assignment, computed when the score is sent, the
same number as the scoreboard's "best" column. After a regrade that lowers a score, the best is
recomputed from the current results, so the gradebook goes down too: a regrade corrects the
grading, and the gradebook must not keep a score no current result supports. A student whose
every run failed (their code's fault) gets 0; platform errors are never passed back.

How: a pending row per LMS course the student launched from is written in the grade's own
transaction (``on_grade``, a listener of grader.domain_events' GradeCommitted), and
``grader.lti.passback`` is queued after the commit.
The task claims the row with a conditional update that also sets its next retry time (back-off),
finds or makes the gradebook column, posts the score, and records sent or the error. The sweep
(``grader.lti.sweep`` on the outbound queue, every minute; no Celery countdowns) re-queues rows
whose time came; after ``MAX_ATTEMPTS`` a row is failed, shown to staff with its error, and can be
retried from the course's LMS page.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import NamedTuple

import requests
from flask import current_app
from pylti1p3.exception import LtiException, LtiServiceException
from pylti1p3.grade import Grade
from pylti1p3.lineitem import LineItem
from sqlalchemy import select, update

from grader.assignments.models import Assignment, AssignmentVersion
from grader.domain_events import AfterCommit, GradeCommitted
from grader.extensions import db, utcnow
from grader.submissions.credit import credited_to
from grader.submissions.models import Result, State, Submission, counts_as_grade
from grader.teams.queries import member_ids

from . import lineitems
from .models import LtiContext, LtiGradePassback, LtiLineItem, LtiUser, PassbackState
from .toolconf import PlatformError

MAX_ATTEMPTS = 8  # 1, 2, 4, ... 64 minutes apart: about two hours of trying
FIRST_RETRY = timedelta(minutes=1)
LOST_AFTER = timedelta(minutes=2)  # a row never claimed this long after it was queued lost its message
SWEEP_SECONDS = 60.0


def backoff(attempt: int) -> timedelta:
    return FIRST_RETRY * (1 << min(attempt - 1, 10))


class Best(NamedTuple):
    """A student's grade for an assignment, as the LMS is told it."""

    score: float
    maximum: float
    submission_id: int | None  # the result it comes from (None: every run failed)


def best_score(user_id: int, assignment: Assignment) -> Best | None:
    """The student's best result (their team's too): score, its maximum, its submission; 0 if every
    run failed, None if nothing counts."""
    rows = db.session.execute(
        select(Result.score, Result.max_score, Submission.state, Submission.id)
        .join(Submission, Submission.id == Result.submission_id)
        .join(AssignmentVersion, AssignmentVersion.id == Submission.assignment_version_id)
        .where(
            AssignmentVersion.assignment_id == assignment.id,
            credited_to(user_id),
            Submission.is_reference.is_(False),
            counts_as_grade(),
            Submission.state.in_([State.SCORED, State.FAILED]),
        )
    ).all()
    scored = [Best(s, m, i) for s, m, _, i in rows if s is not None and m]
    if scored:
        return max(scored, key=lambda best: best.score / best.maximum)
    failed = [m for s, m, state, _ in rows if state is State.FAILED and m]
    return Best(0.0, failed[0], None) if failed else None


COMMENT_MAX = 1000


def comment_for(best: Best) -> str:
    """What the LMS gradebook shows beside the score: the score, the metric and where the result is
    (an instructor's reason too, when the score was set by hand)."""
    result = db.session.scalar(select(Result).where(Result.submission_id == best.submission_id))
    if result is None:
        return "Every submitted run failed: see the submissions in the grader for why."
    parts = [f"{best.score:g} / {best.maximum:g} points"]
    if result.metric_value is not None:
        parts.append(f"{result.metric_name} {result.metric_value:.4g} on the hidden set")
    adjustment = result.adjustment
    if adjustment is not None and adjustment.active:
        parts.append(f"score set by hand (grader's own: {adjustment.machine_score}): {adjustment.reason}")
    base = current_app.extensions["grader.config"].public_url or ""
    parts.append(f"submission {best.submission_id}: {base}/submissions/{best.submission_id}/result")
    text = " · ".join(parts)
    return text if len(text) <= COMMENT_MAX else text[: COMMENT_MAX - 1] + "…"


def on_grade(event: GradeCommitted) -> AfterCommit | None:
    """A grade's pending passbacks, recorded in its transaction and queued after its commit."""
    passbacks = stage_for_submission(event.submission_id)

    def queue_all() -> None:
        for passback_id in passbacks:
            queue(passback_id)

    return queue_all if passbacks else None


def stage_for_submission(submission_id: int) -> list[int]:
    """The pending passbacks of a final result, in the caller's transaction (flushed, not committed);
    their ids, to queue after the commit. The worker records them with the result itself."""
    submission = db.session.get(Submission, submission_id)
    if submission is None or submission.is_reference:
        return []
    assignment = submission.assignment_version.assignment
    links = db.session.execute(
        select(LtiUser, LtiContext)
        .join(LtiContext, LtiContext.platform_id == LtiUser.platform_id)
        .where(LtiUser.user_id.in_(_credited(submission)), LtiContext.course_id == assignment.course_id)
    ).all()
    ids = []
    for lti_user, context in links:
        best = best_score(lti_user.user_id, assignment)
        if best is None or not lineitems.can_pass_back(context):
            continue
        item = lineitems.line_item_row(context, assignment)
        # An untouched pending row for the same column and student is enough (it sends the best then).
        reused = db.session.execute(
            update(LtiGradePassback)
            .where(
                LtiGradePassback.line_item_id == item.id,
                LtiGradePassback.lti_user_id == lti_user.id,
                LtiGradePassback.state == PassbackState.PENDING,
                LtiGradePassback.attempts == 0,
            )
            .values(
                submission_id=submission.id, score_given=best[0], score_maximum=best[1], updated_at=utcnow()
            )
            .returning(LtiGradePassback.id)
        ).first()
        if reused is not None:
            ids.append(int(reused[0]))
            continue
        row = LtiGradePassback(
            line_item_id=item.id, lti_user_id=lti_user.id, submission_id=submission.id,
            score_given=best[0], score_maximum=best[1],
        )  # fmt: skip
        db.session.add(row)
        db.session.flush()
        ids.append(row.id)
    return ids


def _credited(submission: Submission) -> list[int]:
    """The students the submission's grade goes to: its team's members, or its uploader (as the
    scoreboard credits it)."""
    members = member_ids(submission.team_id) if submission.team_id is not None else []
    return members or [submission.user_id]


def queue(passback_id: int) -> bool:
    """Send the task (after commit); the sweep sends it later if the broker is down."""
    try:
        # Routed by name to the outbound queue (celery_app): its own worker, never behind gradings.
        current_app.extensions["celery"].send_task("grader.lti.passback", args=[passback_id])
    except Exception:  # noqa: BLE001 - the row is the truth; the sweep re-queues it
        current_app.logger.warning("queueing passback %s failed; the sweep will retry", passback_id)
        return False
    return True


def _claim(passback_id: int) -> int | None:
    now = utcnow()
    row = db.session.execute(
        update(LtiGradePassback)
        .where(
            LtiGradePassback.id == passback_id,
            LtiGradePassback.state == PassbackState.PENDING,
            (LtiGradePassback.next_attempt_at.is_(None)) | (LtiGradePassback.next_attempt_at <= now),
        )
        .values(
            attempts=LtiGradePassback.attempts + 1,
            # Also the lease: if this attempt dies, the sweep retries once this time has come.
            next_attempt_at=now + backoff(1),
            updated_at=now,
        )
        .returning(LtiGradePassback.attempts)
    ).first()
    if row is None:
        db.session.rollback()
        return None
    db.session.execute(
        update(LtiGradePassback)
        .where(LtiGradePassback.id == passback_id)
        .values(next_attempt_at=now + backoff(int(row[0])))
    )
    db.session.commit()
    return int(row[0])


def send(passback_id: int) -> str:
    """Post the student's best score to the LMS (the task calls this). Returns what happened."""
    attempt = _claim(passback_id)
    if attempt is None:
        return "not due"
    passback = db.session.get(LtiGradePassback, passback_id)
    assert passback is not None
    item, lti_user = passback.line_item, passback.lti_user
    if item.context.platform.disabled_at is not None:
        return _finish(
            passback, PassbackState.FAILED,
            "Not sent: the LMS's registration is disabled on this tool. Send it again once it is enabled.",
        )  # fmt: skip
    if best_score(lti_user.user_id, item.assignment) is None:
        return _finish(passback, PassbackState.FAILED, "Nothing to pass back: the student has no result now.")
    try:
        url = lineitems.ensure_on_platform(item.id)
        # The stamp first, then the score read after it: of two passbacks racing, the one with the
        # later stamp (the one the LMS keeps) has read the newer best score.
        stamp = utcnow()
        db.session.commit()  # a fresh snapshot: results committed while the column was found count
        best = best_score(lti_user.user_id, item.assignment)
        if best is None:
            return _finish(
                passback, PassbackState.FAILED, "Nothing to pass back: the student has no result now."
            )
        grade = (
            Grade()
            .set_score_given(best[0])
            .set_score_maximum(best[1])
            .set_activity_progress("Completed")
            .set_grading_progress("FullyGraded")  # Canvas ignores scores without it
            .set_user_id(lti_user.sub)
            .set_timestamp(stamp.replace(tzinfo=UTC).isoformat(timespec="milliseconds"))
            .set_comment(comment_for(best))
        )
        lineitems.ags_service(item.context).put_grade(grade, LineItem({"id": url}))
    except LtiServiceException as exc:
        status, body = exc.response.status_code, exc.response.text[:300]
        if status == 404:
            lineitems.forget_url(item.id)  # the column was deleted in the LMS: find or make it again
        return _failed_attempt(passback, attempt, f"The LMS refused the score: HTTP {status} {body}".strip())
    except (PlatformError, LtiException, requests.RequestException, OSError) as exc:
        return _failed_attempt(passback, attempt, str(exc))
    passback.score_given, passback.score_maximum, passback.timestamp = best[0], best[1], stamp
    passback.sent_at = utcnow()
    return _finish(passback, PassbackState.SENT, None)


def _failed_attempt(passback: LtiGradePassback, attempt: int, error: str) -> str:
    db.session.rollback()
    passback = db.session.get(LtiGradePassback, passback.id)  # type: ignore[assignment]
    if attempt >= MAX_ATTEMPTS:
        return _finish(passback, PassbackState.FAILED, f"Gave up after {attempt} attempts. {error}")
    passback.last_error = error[:2000]
    passback.updated_at = utcnow()
    db.session.commit()
    return "will retry"


def _finish(passback: LtiGradePassback, state: PassbackState, error: str | None) -> str:
    passback.state, passback.updated_at = state, utcnow()
    passback.last_error = error[:2000] if error else None
    if state is not PassbackState.PENDING:
        passback.next_attempt_at = None
    db.session.commit()
    return state.value


def sweep() -> dict[str, int]:
    """Re-queue passbacks whose retry time came or whose message was lost (the beat runs this)."""
    now = utcnow()
    due = db.session.scalars(
        select(LtiGradePassback.id)
        .where(
            LtiGradePassback.state == PassbackState.PENDING,
            (LtiGradePassback.next_attempt_at <= now)
            | (LtiGradePassback.next_attempt_at.is_(None) & (LtiGradePassback.updated_at < now - LOST_AFTER)),
        )
        .order_by(LtiGradePassback.id)
        .limit(500)
    ).all()
    db.session.commit()
    return {"queued": sum(queue(passback_id) for passback_id in due)}


def retry_failed(course_id: int) -> int:
    """Staff's "retry" on the course's LMS page: failed passbacks become pending again; queued after commit."""
    ids = list(
        db.session.scalars(
            select(LtiGradePassback.id)
            .join(LtiGradePassback.line_item)
            .join(LtiContext, LtiContext.id == LtiLineItem.context_id)
            .where(LtiContext.course_id == course_id, LtiGradePassback.state == PassbackState.FAILED)
        )
    )
    if ids:
        db.session.execute(
            update(LtiGradePassback)
            .where(LtiGradePassback.id.in_(ids))
            .values(state=PassbackState.PENDING, attempts=0, next_attempt_at=None, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    db.session.commit()
    for passback_id in ids:
        queue(passback_id)
    return len(ids)


def send_again(passback_id: int, course_id: int) -> bool:
    """Staff's "send again" on one passback of their course, whatever its state (a score the LMS lost
    or an instructor changed there): pending, tried anew, queued after the commit. False if it is
    not the course's."""
    found = db.session.scalar(
        select(LtiGradePassback.id)
        .join(LtiGradePassback.line_item)
        .join(LtiContext, LtiContext.id == LtiLineItem.context_id)
        .where(LtiGradePassback.id == passback_id, LtiContext.course_id == course_id)
    )
    if found is None:
        return False
    db.session.execute(
        update(LtiGradePassback)
        .where(LtiGradePassback.id == passback_id)
        .values(
            state=PassbackState.PENDING,
            attempts=0,
            next_attempt_at=None,
            last_error=None,
            updated_at=utcnow(),
        )
    )
    db.session.commit()
    queue(passback_id)
    return True
