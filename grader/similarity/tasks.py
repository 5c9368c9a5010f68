"""Celery task of the similarity check: thin, an id in, the service runs it."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="grader.similarity_check")
def similarity_check(check_id: int) -> str:
    return services.run_check(check_id)
