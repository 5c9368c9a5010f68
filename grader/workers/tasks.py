"""Celery tasks: thin, they take ids and call service functions."""

from __future__ import annotations

import logging
import os
import socket
import time

from celery import Task, shared_task

from grader.assignments.queueing import is_grading_queue
from grader.submissions import services
from grader.workers import fairness, grading

log = logging.getLogger(__name__)


@shared_task(name="grader.grade", bind=True)
def grade_submission(self: Task, submission_id: int) -> str:
    """One slot's turn: grades the submission whose turn it is, which need not be ``submission_id``
    (the message's own; it is graded on a later message if another goes first, see fairness.py)."""
    worker = f"{socket.gethostname()}:{os.getpid()}"
    context = {"submission_id": submission_id, "worker": worker}
    log.info(
        "submission %s: grading task started on %s", submission_id, worker,
        extra={"event": "task started", **context},
    )  # fmt: skip
    started = time.monotonic()
    try:
        # The queue the message came through is the one to pick from (the hint's row may be gone).
        queue = (self.request.delivery_info or {}).get("routing_key") or ""
        claimed = fairness.claim_next(submission_id, worker, queue if is_grading_queue(queue) else None)
        if claimed is None:
            outcome = "not claimable"
        else:
            graded, attempt = claimed
            context = {"submission_id": graded, "worker": worker, "message_for": submission_id}
            outcome = grading.grade_claimed(graded, attempt, worker)
    except Exception:
        log.exception(
            "submission %s: grading task failed", context["submission_id"],
            extra={"event": "task failed", **context},
        )  # fmt: skip
        raise
    seconds = round(time.monotonic() - started, 3)
    log.info(
        "submission %s: grading task done (%s) in %.1f s", context["submission_id"], outcome, seconds,
        extra={"event": "task done", "outcome": outcome, "seconds": seconds, **context},
    )  # fmt: skip
    return outcome


@shared_task(name="grader.reconcile")
def reconcile() -> dict[str, int]:
    return services.reconcile()
