"""What the world is told once a result is committed: webhooks, and the LMS gradebook (LTI passback).

The worker records both in the transaction that writes the result (``stage``) and queues their tasks
only after that commit (``send``): a receiver or a platform never hears of a result that could still
roll back, and a worker killed between the commit and the queueing loses nothing (the webhook and
LTI sweeps send recorded rows whose task never came). Each listener only records what to send and
queues its own task, so a slow endpoint cannot hold up the worker that graded the submission.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app

from grader.extensions import db
from grader.lti import passback as lti_passback
from grader.outage import DATABASE_DOWN
from grader.webhooks import services as webhooks


@dataclass
class Announcements:
    """The rows recorded with a result, whose tasks are queued once it is committed."""

    deliveries: list[int] = field(default_factory=list)
    passbacks: list[int] = field(default_factory=list)


def stage(submission_id: int) -> Announcements:
    """Record the result's webhook deliveries and LTI passbacks in the caller's transaction.

    The result (added to the session) must be final. Inside a savepoint: a failure here is logged
    and the result commits without them; it never fails the grading. The database going away does
    fail it, so that the caller's commit is tried again whole.
    """
    try:
        with db.session.begin_nested():
            deliveries = webhooks.stage_scored(submission_id)
            passbacks = lti_passback.stage_for_submission(submission_id)
    except DATABASE_DOWN:
        raise
    except Exception:  # the result matters more than its announcements (logged)
        current_app.logger.exception("could not record the announcements of submission %s", submission_id)
        return Announcements()
    return Announcements(deliveries, passbacks)


def send(announced: Announcements) -> None:
    """Queue the recorded deliveries and passbacks (after the commit; the sweeps send what fails)."""
    webhooks.queue(announced.deliveries)
    for passback_id in announced.passbacks:
        lti_passback.queue(passback_id)


def result_committed(submission_id: int) -> None:
    """Record and queue the announcements of a result committed without them (outside a worker)."""
    webhooks.scored(submission_id)
    lti_passback.record_for_submission(submission_id)
