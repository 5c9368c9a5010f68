"""Celery tasks for LTI: thin, they take ids and call service functions (all on the outbound queue)."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task

from . import keys, launch, passback, roster
from .toolconf import PlatformError


@shared_task(name="grader.lti.passback")
def send_passback(passback_id: int) -> str:
    return passback.send(passback_id)


@shared_task(name="grader.lti.roster")
def sync_roster(context_id: int) -> dict[str, int]:
    try:
        return asdict(roster.sync(context_id))
    except PlatformError:
        return {}  # recorded on the context, shown on the course's LMS page


@shared_task(name="grader.lti.sweep")
def sweep() -> dict[str, int]:
    """Every minute: passbacks whose retry time came, expired login states and nonces, and tool keys
    past their retirement date."""
    return passback.sweep() | launch.purge_expired() | {"retired_keys": keys.prune()}


@shared_task(name="grader.lti.roster_all")
def roster_all() -> int:
    """Beat's: a roster sync of every linked course (each on its own task)."""
    return roster.sync_all()
