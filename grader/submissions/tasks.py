"""Celery tasks: thin, they take ids and call service functions."""

from __future__ import annotations

import os
import socket

from celery import shared_task

from . import grading, services


@shared_task(name="grader.grade")
def grade_submission(submission_id: int) -> str:
    return grading.run(submission_id, f"{socket.gethostname()}:{os.getpid()}")


@shared_task(name="grader.reconcile")
def reconcile() -> dict[str, int]:
    return services.reconcile()
