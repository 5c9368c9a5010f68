"""Domain events: what happened in the service that other parts act on, and the one place they listen.

A part registers its listeners from its own ``init_app`` (``listen``); the code where the thing happens
only says that it happened. Listening has two steps, because what a listener does must be exactly as
durable as the event. In the transaction that commits the event, ``stage`` calls each listener, which
records rows (a webhook delivery, an LMS passback) and returns what to do once that transaction has
committed (queue their tasks, settle a sweep), or None. After the commit, ``send`` does those. A
worker killed between the two loses nothing: the sweeps send recorded rows whose task never came.

Each listener runs in a savepoint of its own: one that fails is logged and left out, and the event
commits without it (the result matters more than its announcements). The database going away is
raised, so that the caller's commit is tried again whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask, current_app

from grader.extensions import db
from grader.outage import DATABASE_DOWN

EXTENSION = "grader.domain_events"


@dataclass(frozen=True)
class ResultCommitted:
    """A submission's grading ended with a result (scored, failed, or the platform's error)."""

    submission_id: int
    sweep_id: int | None  # a sweep's run is no grade by itself: its sweep chooses one once settled


@dataclass(frozen=True)
class GradeCommitted:
    """A result that counts as the student's grade: a plain submission's, or the run a sweep chose."""

    submission_id: int


@dataclass(frozen=True)
class VersionPublished:
    """A new version of an assignment was published (a new assignment, or its spec changed)."""

    assignment_id: int
    version_id: int
    # The first solution its spec expects to pass, read while the spec's folder was at hand: its
    # path in the folder and its bytes (None: it declares none, or it could not be read).
    reference: tuple[str, bytes] | None


@dataclass(frozen=True)
class RegradeRequestAnswered:
    """An instructor answered a student's regrade request (regraded, set a score, or declined)."""

    request_id: int


AfterCommit = Callable[[], None]
E = TypeVar("E")


@dataclass
class Staged:
    """What the listeners of staged events do once their transaction has committed."""

    after_commit: list[AfterCommit] = field(default_factory=list)


def listen(app: Flask, kind: type[E], listener: Callable[[E], AfterCommit | None]) -> None:
    listeners: dict[type, list[Callable[[Any], AfterCommit | None]]] = app.extensions.setdefault(
        EXTENSION, {}
    )
    listeners.setdefault(kind, []).append(listener)


def stage(event: object) -> Staged:
    """Call the event's listeners in the caller's transaction (flushed, not committed)."""
    staged = Staged()
    for listener in current_app.extensions.get(EXTENSION, {}).get(type(event), []):
        try:
            with db.session.begin_nested():
                action = listener(event)
        except DATABASE_DOWN:
            raise
        except Exception:  # logged; the event and the other listeners' records commit without it
            current_app.logger.exception(
                "a listener of %s failed: %s", event, getattr(listener, "__qualname__", listener)
            )
            continue
        if action is not None:
            staged.after_commit.append(action)
    return staged


def send(staged: Staged) -> None:
    """After the commit: each listener's follow-up. One that fails is logged (what it recorded stays,
    for the sweeps), and never fails the caller, whose event is committed."""
    for action in staged.after_commit:
        try:
            action()
        except Exception:
            current_app.logger.exception("a follow-up of a committed event failed")


def announce(event: object) -> None:
    """Stage, commit and send an event whose own change is already committed (or needs none)."""
    staged = stage(event)
    db.session.commit()
    send(staged)
