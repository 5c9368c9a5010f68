"""Service fixtures: a real PostgreSQL database migrated to head once per session, each test in a
rolled-back transaction, Redis as the broker (its own database number, flushed per session)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask import Flask
from flask_migrate import upgrade
from support.browsing import chromium, served
from support.courses import enroll
from support.databases import REDIS_URL, temporary_database
from support.metrics import METRICS_TOKEN

from grader.accounts.models import Role, User
from grader.accounts.services import create_user, issue_token
from grader.app import create_app
from grader.assignments.models import Assignment
from grader.assignments.services import publish
from grader.courses.models import Course
from grader.domain_events import EXTENSION, VersionPublished, listen
from grader.extensions import db
from grader.submissions import reference


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    with temporary_database("grader_test") as url:
        yield url


@pytest.fixture(scope="session")
def service_settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    redis.Redis.from_url(REDIS_URL).flushdb()
    return {
        "GRADER_ENV": "test",
        "GRADER_DATABASE_URL": database_url,
        "GRADER_REDIS_URL": REDIS_URL,
        "GRADER_STORAGE_DIR": str(tmp_path_factory.mktemp("storage")),
        "GRADER_UPLOAD_MAX_BYTES": str(256 * 1024),
        "GRADER_LEASE_SECONDS": "20",
        "GRADER_WEBHOOK_ALLOW_PRIVATE": "1",  # the tests' receivers listen on 127.0.0.1
        # Every test client logs in from 127.0.0.1: its failures are limited in test_web_limits.py only.
        "GRADER_LOGIN_LIMIT_ADDRESS": "100000 per minute",
    }


@pytest.fixture(scope="session")
def app(service_settings: dict[str, str]) -> Iterator[Flask]:
    app = create_app(service_settings)
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def session(app: Flask) -> Iterator[None]:
    """Each test in a transaction that is rolled back; service commits become savepoints."""
    with app.app_context():
        engines = db.engines
        swapped = []
        for key, engine in list(engines.items()):
            connection = engine.connect()
            transaction = connection.begin()
            engines[key] = connection  # type: ignore[assignment]
            swapped.append((key, engine, connection, transaction))
        try:
            yield
        finally:
            db.session.remove()
            for key, engine, connection, transaction in swapped:
                transaction.rollback()
                connection.close()
                engines[key] = engine


@pytest.fixture
def client(app: Flask, session: None):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def course(session: None) -> Course:
    course = Course(code=f"NN-{uuid.uuid4().hex[:6]}", title="Neural networks for engineers")
    db.session.add(course)
    db.session.commit()
    return course


@pytest.fixture
def student(course: Course) -> User:
    user = create_user(f"student-{uuid.uuid4().hex[:6]}@example.edu", "Ada Student", Role.STUDENT, "pw")
    enroll(course, user)
    return user


@pytest.fixture
def student_token(student: User) -> str:
    return issue_token(student, "cli", ["read", "submit"])


@pytest.fixture
def paraboloid(course: Course) -> Assignment:
    return publish(course, "paraboloid", daily_limit=3)


@pytest.fixture
def reference_runs(app: Flask, session: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each new version's reference run queued on publication, as in a deployment (GRADER_ENV=test
    leaves them off, so that the other tests' publications queue nothing)."""
    listeners = {kind: list(found) for kind, found in app.extensions.get(EXTENSION, {}).items()}
    monkeypatch.setitem(app.extensions, EXTENSION, listeners)
    listen(app, VersionPublished, reference.on_version_published)
    yield


@pytest.fixture
def metrics_on(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """/metrics on for the test, with the token support.metrics scrapes with."""
    config = app.extensions["grader.config"]
    monkeypatch.setitem(
        app.extensions, "grader.config", dataclasses.replace(config, metrics_token=METRICS_TOKEN)
    )
    yield


@pytest.fixture(scope="module")
def base_url(stack: Any) -> Iterator[str]:
    """The module's ``stack`` app on a real threaded server (browser tests)."""
    with served(stack.app) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """A headless Chromium for the module's tests (skipped where Debian's is not installed)."""
    with chromium() as launched:
        yield launched
