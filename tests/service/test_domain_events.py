"""Domain events: listeners registered by their parts record rows in the event's transaction and act after
its commit; one listener failing loses neither the event nor the other listeners' records."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from flask import Flask

from grader.courses.models import Course
from grader.domain_events import (
    EXTENSION,
    GradeCommitted,
    ResultCommitted,
    announce,
    listen,
    send,
    stage,
)
from grader.extensions import db


@dataclass(frozen=True)
class Noted:
    """An event of this test's own: the listeners below record a course per call."""

    code: str


@pytest.fixture
def listeners(app: Flask, session: None) -> Iterator[None]:
    """The app's listeners as create_app registered them, put back after the test."""
    kept = {kind: list(found) for kind, found in app.extensions[EXTENSION].items()}
    yield
    app.extensions[EXTENSION] = kept


def _record(code: str) -> None:
    db.session.add(Course(code=code, title="recorded by a listener"))
    db.session.flush()


def _courses(prefix: str) -> list[str]:
    return sorted(db.session.scalars(sa.select(Course.code).where(Course.code.startswith(prefix))))


def test_the_parts_listen_from_their_own_init_app(app: Flask) -> None:
    registered = app.extensions[EXTENSION]
    names = {kind: [f"{f.__module__}.{f.__name__}" for f in found] for kind, found in registered.items()}
    assert names[ResultCommitted] == [
        "grader.submissions.grade_events.on_result",
        "grader.sweeps.settle.on_result",
    ]
    assert names[GradeCommitted] == ["grader.webhooks.services.on_grade", "grader.lti.passback.on_grade"]


def test_a_failing_listener_is_left_out_and_the_others_commit_and_follow_up(
    app: Flask, listeners: None, caplog: pytest.LogCaptureFixture
) -> None:
    followed: list[str] = []

    def first(event: Noted) -> None:
        _record(event.code + "-a")

    def broken(event: Noted) -> None:
        _record(event.code + "-b")  # rolled back with its savepoint
        raise RuntimeError("this listener is broken")

    def last(event: Noted):  # type: ignore[no-untyped-def]
        _record(event.code + "-c")
        return lambda: followed.append("after the commit")

    for listener in (first, broken, last):
        listen(app, Noted, listener)
    with caplog.at_level(logging.ERROR):
        staged = stage(Noted("EVT-1"))
        assert followed == []  # nothing is queued before the commit
        db.session.commit()
        send(staged)
    assert _courses("EVT-1") == ["EVT-1-a", "EVT-1-c"]
    assert followed == ["after the commit"]
    assert "this listener is broken" in caplog.text and "broken" in caplog.text


def test_a_failing_follow_up_is_logged_and_the_rest_still_run(
    app: Flask, listeners: None, caplog: pytest.LogCaptureFixture
) -> None:
    followed: list[str] = []

    def fails(event: Noted):  # type: ignore[no-untyped-def]
        def follow_up() -> None:
            raise ConnectionError("the broker is away")

        return follow_up

    listen(app, Noted, fails)
    listen(app, Noted, lambda event: lambda: followed.append(event.code))
    with caplog.at_level(logging.ERROR):
        announce(Noted("EVT-2"))
    assert followed == ["EVT-2"]
    assert "the broker is away" in caplog.text


def test_the_database_going_away_fails_the_event_whole(app: Flask, listeners: None) -> None:
    def away(event: Noted) -> None:
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    listen(app, Noted, lambda event: _record(event.code))
    listen(app, Noted, away)
    with pytest.raises(sa.exc.OperationalError):
        stage(Noted("EVT-3"))


def test_an_event_nobody_listens_to_stages_nothing(listeners: None) -> None:
    assert stage(Noted("EVT-4")).after_commit == []
