"""Celery tasks of the sweeps: thin, they call service functions."""

from __future__ import annotations

from celery import shared_task

from . import settle


@shared_task(name="grader.settle_sweeps")
def settle_sweeps() -> int:
    """Beat's: the sweeps whose settling was lost with a worker (their runs all final)."""
    return settle.settle_unsettled()
