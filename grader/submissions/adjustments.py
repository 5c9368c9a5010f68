"""Scores set by hand: an instructor overrides a result's score with a reason, or gives the machine's
score back. The change, its audit entry and the grade's announcement (LMS passback, webhooks) commit
together."""

from __future__ import annotations

import math
from dataclasses import dataclass

from grader.accounts.models import User
from grader.audit import services as audit
from grader.audit.models import Action
from grader.courses.access import is_staff
from grader.denials import StaffOnly
from grader.domain_events import GradeCommitted, Staged, send, stage
from grader.extensions import db, utcnow
from grader.submissions.models import Result, ScoreAdjustment, State, Submission

REASON_MAX = 2000


@dataclass
class AdjustmentRefused(Exception):
    status: int
    message: str


def _subject(submission: Submission) -> audit.Subject:
    title = submission.assignment_version.assignment.title
    return audit.Subject(
        "submission", submission.id, f"{title}: submission {submission.id} of {submission.user.name}"
    )


def _graded_result(submission: Submission, by: User, doing: str) -> Result:
    if not is_staff(by, submission.assignment_version.assignment.course_id):
        raise StaffOnly(doing)
    if submission.state not in (State.SCORED, State.FAILED) or submission.result is None:
        raise AdjustmentRefused(
            409,
            f"Submission {submission.id} is {submission.state.value} and has no grade to change: "
            "set a score once it has been graded.",
        )
    return submission.result


def parse_score(typed: str, max_score: float) -> float:
    """A score typed into a form, checked against the result's maximum (AdjustmentRefused if not one)."""
    try:
        score = float(typed.strip())
    except ValueError:
        raise AdjustmentRefused(
            400, f"{typed.strip()[:40]!r} is not a number: type a score such as 85 or 72.5."
        ) from None
    return checked_score(score, max_score)


def checked_score(score: float, max_score: float) -> float:
    if not math.isfinite(score) or not 0 <= score <= max_score:
        raise AdjustmentRefused(
            400, f"A score is between 0 and {max_score:g} (this result's maximum); {score:g} is not."
        )
    return score


def stage_adjustment(submission: Submission, score: float, reason: str, by: User) -> Staged:
    """Set the result's score by hand, in the caller's transaction; what to ``send`` after its commit.
    Raises StaffOnly, or AdjustmentRefused (writing nothing) for a submission without a grade, a
    score outside the result's range, or a missing or overlong reason."""
    result = _graded_result(submission, by, "set a score by hand")
    checked_score(score, result.max_score)
    reason = reason.strip()
    if not reason:
        raise AdjustmentRefused(
            400, "Say why the score is set by hand: the student and the audit trail see it."
        )
    if len(reason) > REASON_MAX:
        raise AdjustmentRefused(
            400, f"The reason may be at most {REASON_MAX} characters; it has {len(reason)}."
        )
    adjustment = result.adjustment
    if adjustment is None:
        adjustment = ScoreAdjustment(machine_score=result.score)
        result.adjustment = adjustment
    elif not adjustment.active:
        adjustment.machine_score = result.score
    was = result.score
    adjustment.score, adjustment.reason = score, reason
    adjustment.by_id, adjustment.by_label = by.id, audit.label_of(by)
    adjustment.created_at, adjustment.removed_at = utcnow(), None
    result.score = score
    audit.record(
        Action.SCORE_ADJUSTED, by=by, course_id=submission.assignment_version.assignment.course_id,
        subject=_subject(submission), student=submission.user, reason=reason,
        details={"score": score, "was": was, "machine_score": adjustment.machine_score, "max_score": result.max_score},
    )  # fmt: skip
    db.session.flush()
    return stage(GradeCommitted(submission.id))


def adjust_score(submission: Submission, score: float, reason: str, by: User) -> None:
    """``stage_adjustment``, committed and announced."""
    staged = stage_adjustment(submission, score, reason, by)
    db.session.commit()
    send(staged)


def remove_adjustment(submission: Submission, by: User) -> None:
    """Give the result its machine score back (committed and announced). AdjustmentRefused when no
    score was set by hand."""
    result = _graded_result(submission, by, "change a score set by hand")
    adjustment = result.adjustment
    if adjustment is None or not adjustment.active:
        raise AdjustmentRefused(
            409, f"Submission {submission.id}'s score was not set by hand: there is nothing to undo."
        )
    was, result.score = result.score, adjustment.machine_score
    adjustment.removed_at = utcnow()
    audit.record(
        Action.ADJUSTMENT_REMOVED, by=by, course_id=submission.assignment_version.assignment.course_id,
        subject=_subject(submission), student=submission.user,
        details={"score": result.score, "was": was},
    )  # fmt: skip
    db.session.flush()
    staged = stage(GradeCommitted(submission.id))
    db.session.commit()
    send(staged)
