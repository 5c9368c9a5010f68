"""Which waiting submission a free worker slot grades next: fair shares, not the broker's FIFO.

A grading message means "a slot of this queue may take one submission", not "grade this one": the
worker that receives it grades the waiting submission whose turn it is. Each student is a lane (an
instructor's regrades share one lane per assignment). A lane's n-th waiting submission has turn
n + the lane's runs in progress + its runs finished within ``SHARE_WINDOW``; the lowest turn goes
first, then the oldest. So a student with twenty submissions queued gets a slot only when nobody
who has had fewer runs lately is waiting: another student's first submission goes to the next
free slot (it waits at most one run), and a class-wide regrade takes turns as one more student
(the deadline's uploads first, the regrades whenever a slot would otherwise be idle or their
turn comes).

Every message still yields at most one claim, and there are never fewer messages than queued
submissions (each publish sends one; the reconciler sends again what waited too long), so taking
another submission's message loses nothing: the one passed over is graded on a later message.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, Select, String, case, cast, func, literal_column, select
from sqlalchemy.orm import InstrumentedAttribute

from grader.extensions import db, utcnow
from grader.submissions.models import State, Submission
from grader.workers import grading

# Only rows marked queued are picked: each was published, so a message is on its way for it. A row
# still "received" (committed while the broker was down) has none yet; taking it on another row's
# message would leave that row without one until the reconciler's REQUEUE_AFTER (minutes). It is
# published by the reconciler, or claimed through a message naming it once nothing queued is waiting
# (a row whose publish went out but whose "queued" mark failed waits that long too: late, not lost).
PICKABLE = State.QUEUED
FINAL = (State.SCORED, State.FAILED, State.ERROR)
SHARE_WINDOW = timedelta(hours=1)  # how long a finished run counts against its lane's next turns
# Picks lost to other slots before this message is given up. Each loss is another slot's claim, so
# the loop ends; giving up early would leave a waiting submission without a message to carry it.
RACES = 100


def lane_key() -> ColumnElement[Any]:
    """The lane as an expression: the one recorded (regrades), else the student's own."""
    # An inline 'u' (not a bound parameter): PostgreSQL must see one expression in GROUP BY and SELECT.
    return func.coalesce(Submission.lane, literal_column("'u'") + cast(Submission.user_id, String))


def turn_order(
    queue: str,
    max_attempts: int,
    *carried: InstrumentedAttribute[Any],
    received_too: bool = False,
    now: datetime | None = None,
) -> Select[Any]:
    """The waiting submissions of ``queue`` in the order free slots take them: the id, then ``carried``.

    The one query both the pick (``next_in_turn``) and the students' place in the queue
    (``queue_estimate``) read, so what a student is told is the order the slots follow.
    ``received_too`` adds the rows not yet published after all the queued ones: none is picked before
    the reconciler publishes it, so its place is behind everything pickable now.
    """
    lane = lane_key().label("lane")
    unpublished = case((Submission.state == State.RECEIVED, 1), else_=0)
    # Within a lane the received rows come last, so the queued ones keep the turns the pick gives them.
    within_lane = [unpublished, Submission.id] if received_too else [Submission.id]
    waiting = (
        select(
            Submission.id.label("id"),
            lane,
            func.row_number().over(partition_by=lane_key(), order_by=within_lane).label("turn"),
            unpublished.label("unpublished"),
            *carried,
        )
        .where(
            Submission.queue == queue,
            Submission.state.in_([PICKABLE, State.RECEIVED] if received_too else [PICKABLE]),
            Submission.attempts < max_attempts,
        )
        .subquery("waiting")
    )
    recent = (now or utcnow()) - SHARE_WINDOW
    served = (
        select(lane_key().label("lane"), func.count().label("runs"))
        .where(
            Submission.queue == queue,
            (Submission.state == State.RUNNING)
            | (Submission.state.in_(FINAL) & (Submission.updated_at >= recent)),
        )
        .group_by(lane_key())
        .subquery("served")
    )
    turn = waiting.c.turn + func.coalesce(served.c.runs, 0)
    return (
        select(waiting.c.id, *(waiting.c[column.key] for column in carried))
        .select_from(waiting.outerjoin(served, served.c.lane == waiting.c.lane))
        .order_by(*([waiting.c.unpublished] if received_too else []), turn, waiting.c.id)
    )


def next_in_turn(queue: str, max_attempts: int) -> int | None:
    """The id of the waiting submission of ``queue`` whose turn it is, or None if none waits."""
    found: int | None = db.session.scalar(turn_order(queue, max_attempts).limit(1))
    return found


def claim_next(hint: int, worker: str, queue: str | None = None) -> tuple[int, int] | None:
    """Claim the submission whose turn it is in ``queue``, the one ``hint``'s message came through.

    Returns (submission id, attempt), or None when nothing is left to grade (a duplicate message).
    Two slots picking at once may pick the same one: the conditional claim lets one have it and
    the other picks again. Every database step waits out a blip (``patiently``): a task that failed
    here would have its message acknowledged and lost, leaving a waiting submission without one.
    """
    config = current_app.extensions["grader.config"]
    if queue is None:  # not known from the delivery: the hint's own row says
        queue = grading.patiently(lambda: _queue_of(hint), "pick", hint)
    if queue is None:
        return None  # deleted with its student or course, and no queue to pick from
    for _ in range(RACES):
        picked = grading.patiently(lambda: _pick(queue, config.max_attempts), "pick", hint)
        if picked is None:
            break
        attempt = grading.claim(picked, worker)
        if attempt is not None:
            return picked, attempt
    # Nothing waits: the message may be a dead worker's, redelivered while its lease is expiring.
    attempt = grading.claim(hint, worker)  # (a deleted hint is simply not claimable)
    return (hint, attempt) if attempt is not None else None


def _queue_of(submission_id: int) -> str | None:
    try:
        return db.session.scalar(select(Submission.queue).where(Submission.id == submission_id))
    finally:
        db.session.rollback()


def _pick(queue: str, max_attempts: int) -> int | None:
    try:
        return next_in_turn(queue, max_attempts)
    finally:
        db.session.rollback()  # no transaction stays open between the pick and the claim
