"""A sweep's grade, once its last run is final: the best point's median run, when that is a fair grade.

A sweep is one upload but many runs; if each run counted as a grade, one upload of ten seeds of
the same settings would be a lottery ticket with ten draws. So no run of a sweep is a grade by
itself. When every run is final, the point with the best median metric is found, and its median
run becomes the sweep's grade (``Submission.sweep_grade``: the scoreboards, the gradebook and the
LMS count it like a plain submission), but only when the points were trained on at least as many
seeds as the assignment grades on: then it is the same statistic as a plain submission's. A sweep
with fewer seeds is an experiment and is not graded (its page says so). Webhooks and LMS
passbacks go out for the graded run alone, once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update

from grader.assignments.models import AssignmentVersion
from grader.domain_events import AfterCommit, GradeCommitted, ResultCommitted, Staged, send, stage
from grader.extensions import db, utcnow
from grader.outage import rollback_quietly
from grader.submissions.models import Result, State, Submission, Sweep

FINAL = (State.SCORED, State.FAILED, State.ERROR)
log = logging.getLogger(__name__)


def settle(sweep_id: int) -> int | None:
    """Settle the sweep's grade if all its runs are final and it is not settled yet; commits.

    Returns the graded run's submission id, or None (not finished, already settled, or not graded).
    Safe to call from any worker at any time: the sweep's row is locked while it is decided.
    """
    sweep = db.session.scalar(select(Sweep).where(Sweep.id == sweep_id).with_for_update())
    if sweep is None or sweep.settled_at is not None:
        db.session.rollback()
        return None
    rows = db.session.execute(
        select(Submission.id, Submission.sweep_point, Submission.state, Result.metric_value, Result.score)
        .outerjoin(Result, Result.submission_id == Submission.id)
        .where(Submission.sweep_id == sweep_id)
    ).all()
    if any(state not in FINAL for _, _, state, _, _ in rows):
        db.session.rollback()
        return None
    version = db.session.get(AssignmentVersion, sweep.assignment_version_id)
    assert version is not None
    grading = version.spec().grading  # the seeds per point it takes to be graded, and the metric's way
    chosen = (
        _median_run_of_best_point(rows, grading.lower_is_better)
        if sweep.plan["seeds"] >= grading.seeds
        else None
    )
    sweep.settled_at = utcnow()
    sweep.graded_submission_id = chosen
    staged = Staged()
    if chosen is not None:
        db.session.execute(update(Submission).where(Submission.id == chosen).values(sweep_grade=True))
        staged = stage(GradeCommitted(chosen))
    db.session.commit()
    send(staged)
    return chosen


def on_result(event: ResultCommitted) -> AfterCommit | None:
    """A run of a sweep ended: once its result is committed, the sweep is settled if that was its
    last (the reconciler settles one whose last run's follow-up was lost)."""
    sweep_id = event.sweep_id
    if sweep_id is None:
        return None

    def settle_now() -> None:
        settle_quietly(sweep_id)

    return settle_now


def settle_quietly(sweep_id: int) -> int | None:
    """``settle``, with a failure logged rather than raised: the run's result is committed and stands,
    and one sweep that cannot be settled must not stop the reconciler's others (it tries again)."""
    try:
        return settle(sweep_id)
    except Exception:  # the grading is done; only its sweep's grade waits
        rollback_quietly()
        log.exception("sweep %s: could not settle its grade; the reconciler will try again", sweep_id)
        return None


def _median_run_of_best_point(rows: Sequence[Any], lower: bool) -> int | None:
    """The run at the median of the point whose median metric is best (a point whose runs did
    not all score cannot be chosen: a failed seed is part of what the settings did)."""
    by_point: dict[int, list[tuple[float, int]]] = {}
    broken: set[int] = set()
    for submission_id, point, state, metric, _ in rows:
        if state is not State.SCORED or metric is None:
            broken.add(point)
            continue
        by_point.setdefault(point, []).append((metric if lower else -metric, submission_id))
    medians = {}
    for point, runs in by_point.items():
        if point in broken:
            continue
        runs.sort()
        medians[point] = runs[(len(runs) - 1) // 2]  # the lower middle for an even count
    if not medians:
        return None
    best = min(medians, key=lambda point: (medians[point][0], point))
    return medians[best][1]


def settle_unsettled() -> int:
    """Settle every sweep whose last run's worker died between its commit and the settling (beat's
    task, beside the reconciler); how many were settled."""
    return sum(1 for sweep_id in unsettled() if settle_quietly(sweep_id) is not None)


def unsettled() -> list[int]:
    """Sweeps not settled whose runs are all final (the reconciler settles them)."""
    waiting = select(Submission.sweep_id).where(
        Submission.sweep_id.is_not(None), Submission.state.not_in(FINAL)
    )
    return list(
        db.session.scalars(
            select(Sweep.id).where(Sweep.settled_at.is_(None), Sweep.id.not_in(waiting)).order_by(Sweep.id)
        )
    )
