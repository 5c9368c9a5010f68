"""Service fixtures: a real PostgreSQL database migrated to head once per session, each test in a
rolled-back transaction, Redis as the broker (its own database number, flushed per session)."""

from __future__ import annotations

import contextlib
import io
import os
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade

from grader.accounts.models import Role, User
from grader.accounts.services import create_user, issue_token
from grader.app import create_app
from grader.assignments.models import Assignment
from grader.assignments.services import publish
from grader.courses.models import Course, Enrollment
from grader.extensions import db

from .browsing import chromium, served

PG_ADMIN = os.environ.get("GRADER_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("GRADER_TEST_REDIS", "redis://127.0.0.1:6379/13")


@contextlib.contextmanager
def temporary_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for the block, dropped afterwards; yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL is needed on 127.0.0.1:5432 for the service tests: {exc}")
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


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


def enroll(course: Course, user: User, role: Role = Role.STUDENT) -> None:
    db.session.add(Enrollment(course_id=course.id, user_id=user.id, role=role))
    db.session.commit()


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


PARABOLOID = Path(__file__).resolve().parents[2] / "assignments" / "paraboloid"
FIXED_SCRIPT = PARABOLOID / "reference.py"  # the textbook fix, as a student wrote it


def make_zip(members: dict[str, bytes]) -> bytes:
    """A zip built in memory (hostile ones included: the tests name the members)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


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
