"""Celery tasks: thin, they take ids and call service functions."""

from __future__ import annotations

import logging
import os
import socket
import time

from celery import shared_task

from . import grading, services

log = logging.getLogger(__name__)


@shared_task(name="grader.grade")
def grade_submission(submission_id: int) -> str:
    worker = f"{socket.gethostname()}:{os.getpid()}"
    context = {"submission_id": submission_id, "worker": worker}
    log.info(
        "submission %s: grading task started on %s", submission_id, worker,
        extra={"event": "task started", **context},
    )  # fmt: skip
    started = time.monotonic()
    try:
        outcome = grading.run(submission_id, worker)
    except Exception:
        log.exception(
            "submission %s: grading task failed", submission_id, extra={"event": "task failed", **context}
        )
        raise
    seconds = round(time.monotonic() - started, 3)
    log.info(
        "submission %s: grading task done (%s) in %.1f s", submission_id, outcome, seconds,
        extra={"event": "task done", "outcome": outcome, "seconds": seconds, **context},
    )  # fmt: skip
    return outcome


@shared_task(name="grader.reconcile")
def reconcile() -> dict[str, int]:
    return services.reconcile()
