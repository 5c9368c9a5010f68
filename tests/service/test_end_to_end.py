"""The whole flow with real processes: HTTP upload -> Celery worker process -> sandbox -> database.

Runs against PostgreSQL + Redis and against the embedded default (SQLite and
kombu's SQLAlchemy transport, no server). Data here is really committed (the
worker is another process), so each configuration gets its own database.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
import redis
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import func, select

from grader.accounts.models import Role
from grader.accounts.services import create_user, issue_token
from grader.app import create_app
from grader.assignments.services import publish
from grader.courses.models import Course, Enrollment
from grader.extensions import db
from grader.submissions import services
from grader.submissions.models import Attempt, Curve, Result, State, Submission

from .conftest import FIXED_SCRIPT, temporary_database

ROOT = Path(__file__).resolve().parents[2]


class Stack:
    """A migrated database, an app bound to it, and worker processes started on demand."""

    def __init__(self, settings: dict[str, str], workdir: Path) -> None:
        self.settings = settings
        self.workdir = workdir
        self.app: Flask = create_app(settings)
        self.workers: list[subprocess.Popen[bytes]] = []
        self.logs: list[IO[bytes]] = []
        with self.app.app_context():
            upgrade()
            course = Course(code="E2E-1", title="End to end")
            db.session.add(course)
            db.session.commit()
            student = create_user("e2e@example.edu", "E2E Student", Role.STUDENT, "pw")
            db.session.add(Enrollment(course_id=course.id, user_id=student.id, role=Role.STUDENT))
            db.session.commit()
            self.assignment_id = publish(course, "paraboloid", daily_limit=50).id
            self.token = issue_token(student, "e2e", ["read", "submit"])

    def start_worker(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, **self.settings, "GRADER_WARM_POOL": "0"}
        log = open(self.workdir / f"worker-{len(self.workers)}.log", "wb")
        self.logs.append(log)
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "grader.worker_main:celery", "worker", "-Q", "cpu", "--pool", "solo",
             "--concurrency", "1", "--without-mingle", "--without-gossip", "-n", f"w{uuid.uuid4().hex[:6]}@%h",
             "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.workers.append(worker)
        return worker

    def upload(self, path: Path) -> int:
        client = self.app.test_client()
        response = client.post(
            f"/api/v1/assignments/{self.assignment_id}/submissions",
            data={"file": (io.BytesIO(path.read_bytes()), path.name)},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert response.status_code == 202, response.get_data(as_text=True)
        return int(response.get_json()["id"])

    def status(self, submission_id: int) -> dict:  # type: ignore[type-arg]
        client = self.app.test_client()
        response = client.get(
            f"/api/v1/submissions/{submission_id}", headers={"Authorization": f"Bearer {self.token}"}
        )
        return response.get_json()  # type: ignore[no-any-return]

    def wait(self, submission_id: int, states: set[str], timeout: float) -> dict:  # type: ignore[type-arg]
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            body = self.status(submission_id)
            if body["state"] in states:
                return body
            if self.workers and all(w.poll() is not None for w in self.workers):
                break  # no worker left: fail now, with their logs
            time.sleep(0.5)
        logs = "\n".join(
            (self.workdir / f"worker-{i}.log").read_text()[-3000:] for i in range(len(self.workers))
        )
        raise AssertionError(f"submission {submission_id} still {body['state']} after {timeout} s\n{logs}")

    def stop(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.terminate()
                try:
                    worker.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    worker.kill()
        for log in self.logs:
            log.close()
        with self.app.app_context():
            db.engine.dispose()


@contextlib.contextmanager
def postgres_stack(workdir: Path, redis_db: int, lease_seconds: int) -> Iterator[Stack]:
    """A Stack on its own PostgreSQL database and Redis database number, torn down afterwards."""
    broker = f"redis://127.0.0.1:6379/{redis_db}"
    redis.Redis.from_url(broker).flushdb()
    with temporary_database("grader_e2e") as url:
        stack = Stack(
            {
                "GRADER_ENV": "test",
                "GRADER_DATABASE_URL": url,
                "GRADER_REDIS_URL": broker,
                "GRADER_STORAGE_DIR": str(workdir / "storage"),
                "GRADER_LEASE_SECONDS": str(lease_seconds),
            },
            workdir,
        )
        try:
            yield stack
        finally:
            stack.stop()


@pytest.fixture(scope="module", name="postgres_stack")
def postgres_stack_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with postgres_stack(tmp_path_factory.mktemp("e2e-pg"), redis_db=14, lease_seconds=6) as stack:
        yield stack


@pytest.fixture(scope="module")
def embedded_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("e2e-embedded")
    stack = Stack(
        {
            "GRADER_ENV": "test",
            "GRADER_DATABASE_URL": f"sqlite:///{workdir / 'grader.sqlite3'}",
            "GRADER_REDIS_URL": f"sqla+sqlite:///{workdir / 'broker.sqlite3'}",
            "GRADER_STORAGE_DIR": str(workdir / "storage"),
        },
        workdir,
    )
    yield stack
    stack.stop()


def _check_scored(stack: Stack, submission_id: int) -> None:
    body = stack.status(submission_id)
    result = body["result"]
    assert result["verdict"] == "scored" and result["passed"], result
    assert result["metric_value"] <= 1e-3 and result["score"] == 100
    loss = result["curves"]["loss"]
    assert loss["points_total"] == 2500 and 0 < len(loss["steps"]) <= 500
    with stack.app.app_context():
        assert (
            db.session.scalar(select(func.count(Result.id)).where(Result.submission_id == submission_id)) == 1
        )
        curve = db.session.scalar(
            select(Curve).join(Result).where(Result.submission_id == submission_id, Curve.series == "loss")
        )
        assert curve is not None and curve.full_sha256 is not None


@pytest.mark.slow
def test_upload_is_graded_by_a_real_worker_on_postgres_and_redis(postgres_stack: Stack) -> None:
    postgres_stack.start_worker()
    submission_id = postgres_stack.upload(FIXED_SCRIPT)
    postgres_stack.wait(submission_id, {"scored", "failed", "error"}, timeout=180)
    _check_scored(postgres_stack, submission_id)


@pytest.mark.slow
def test_a_worker_killed_mid_run_still_ends_with_exactly_one_result(postgres_stack: Stack) -> None:
    worker = postgres_stack.workers[0] if postgres_stack.workers else postgres_stack.start_worker()
    submission_id = postgres_stack.upload(FIXED_SCRIPT)
    running = postgres_stack.wait(submission_id, {"running"}, timeout=120)
    assert running["attempts"] == 1
    time.sleep(2.0)  # mid-training
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    postgres_stack.start_worker()
    # The killed attempt's lease (6 s here) expires; the reconciler requeues the submission.
    end = time.monotonic() + 60
    with postgres_stack.app.app_context():
        while time.monotonic() < end:
            services.reconcile()
            submission = db.session.get(Submission, submission_id)
            db.session.refresh(submission)
            if submission.state is not State.RUNNING or submission.attempts > 1:
                break
            time.sleep(1.0)
    postgres_stack.wait(submission_id, {"scored", "failed", "error"}, timeout=180)
    _check_scored(postgres_stack, submission_id)
    with postgres_stack.app.app_context():
        attempts = db.session.scalars(select(Attempt).where(Attempt.submission_id == submission_id)).all()
        assert [a.outcome for a in sorted(attempts, key=lambda a: a.number)] == ["expired", "finished"]


@pytest.mark.slow
def test_the_embedded_default_needs_no_server(embedded_stack: Stack) -> None:
    embedded_stack.start_worker()
    submission_id = embedded_stack.upload(FIXED_SCRIPT)
    embedded_stack.wait(submission_id, {"scored", "failed", "error"}, timeout=180)
    _check_scored(embedded_stack, submission_id)
