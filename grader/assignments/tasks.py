"""Celery tasks of assignments: thin, they take ids and call service functions."""

from __future__ import annotations

from celery import shared_task

from grader.assignments import drafts


@shared_task(name="grader.check_draft")  # type: ignore[untyped-decorator]
def check_draft(draft_id: int) -> str:
    """Run an uploaded draft's declared solutions (sent to the grading queue: it trains models)."""
    return drafts.run_check(draft_id)
